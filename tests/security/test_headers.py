"""Finding 5: no signed-in page or download may be cached (``Cache-Control: no-store``), and
``Strict-Transport-Security`` is sent when the platform runs behind TLS."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

import httpx
import pytest

import survey.results.demo
from survey.db.tables import Programme, Wave
from survey.settings import get_settings
from survey.web.app import create_app
from tests.helpers import login

pytestmark = pytest.mark.anyio


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    return (survey.results.demo,)


async def _wave_id() -> int:
    programme = await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd")
    wave = (
        await Wave.select(Wave.id)
        .where((Wave.programme == programme[0]["id"]) & (Wave.month == "2026-10"))
        .first()
    )
    assert wave is not None
    return int(wave["id"])


async def test_every_signed_in_page_and_download_is_no_store(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    wave = await _wave_id()
    assert (await login(client, "analyst")).status_code == 303
    for path in (
        "/",
        f"/results/{wave}",
        f"/results/{wave}/export/csv",
        f"/results/{wave}/export/xlsx",
        f"/results/{wave}/microdata/csv",
        f"/results/{wave}/microdata/xlsx",
        f"/results/{wave}/report/html",
        "/cati",
        "/no-such-page",
    ):
        response = await client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert response.headers.get("cache-control") == "no-store", path
    assert (await login(client, "pollster1")).status_code == 303
    console = await client.get("/cati")
    assert console.status_code == 200 and console.headers["cache-control"] == "no-store"


async def test_public_pages_are_no_store_and_static_files_may_be_cached(
    db: None, client: httpx.AsyncClient
) -> None:
    for path in ("/login", "/s/not-a-real-token-0000000000", "/health"):
        assert (await client.get(path)).headers.get("cache-control") == "no-store", path
    static = await client.get("/static/app.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"


@pytest.mark.parametrize("secure", [False, True])
async def test_hsts_only_behind_tls(db: None, secure: bool) -> None:
    app = create_app(replace(get_settings(), secure_cookies=secure))
    base = "https://testserver" if secure else "http://testserver"
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            for path in ("/login", "/static/app.css", "/no-such-page"):
                hsts = (await client.get(path)).headers.get("strict-transport-security")
                if secure:
                    assert hsts is not None and "max-age=31536000" in hsts, path
                else:
                    assert hsts is None, path
