"""Access control beyond the role walk of tests/foundation/test_web.py:

* district isolation: users of a second district (北城区, with its own programme and wave) fetch
  every GET route of the app with the ids of the demo district's (南城区) waves, samples, CATI
  campaigns, cases and back-checks, in every export format; no response may carry 南城区's names
  or residents' phone numbers, and no POST on 南城区's objects may change anything;
* phone numbers: analysts and committee members never see one; exports and reports never hold
  one, whoever downloads them; a pollster sees only the number of the case they hold;
* audit: logins, registry and response imports, frame imports, sample draws, result
  computations, publications and exports each write exactly one audit row naming who and what.
"""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from survey.accounts import create_user
from survey.audit import entries
from survey.cati.tables import BackCheck, CallAttempt, Campaign, Case
from survey.collection.tables import Contact
from survey.db.tables import AuditLog, Programme, Unit, Wave
from survey.demo import STREETS
from survey.design.frames import import_frame_file
from survey.design.service import DesignSpec, draw_sample
from survey.design.tables import Sample, SampledElement
from survey.registry.service import import_registry_file
from survey.results.importing import import_responses
from survey.results.tables import IndexResult, ResultRun
from survey.web.app import create_app
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio

NORTH_REGISTRY = """kind,code,name,parent_code,station_code
区,990103,北城区,990100,
派出所,990103P01,北关派出所,990103,
街道,990103001,北关街道,990103,
社区,990103001001,北关社区,990103001,990103P01
"""
NORTH_PASSWORD = "north-pass-2026"
NORTH_ROLES = ("analyst", "committee", "supervisor", "pollster")
A_MARKERS = ("南城区", *STREETS)
PHONE = re.compile(rb"(?<!\d)1[3-9]\d{9}(?!\d)")
SKIP_PREFIXES = ("/s/", "/static", "/schema", "/login", "/logout")
FORMATS = ("html", "pdf", "csv", "xlsx", "json")


async def _second_district() -> int:
    """北城区 with its own programme and a published wave; returns that wave's id."""
    await import_registry_file("north.csv", NORTH_REGISTRY.encode(), username="admin")
    district = await Unit.select(Unit.id).where(Unit.code == "990103").first()
    assert district is not None
    programme = await Programme.insert(
        Programme(code="beicheng-lsyd", name="北城区两率一度月度测评", region=district["id"],
                  instruments='["liangshuaiyidu"]', policy="default")
    ).returning(Programme.id)  # fmt: skip
    wave = await Wave.insert(
        Wave(programme=programme[0]["id"], month="2026-10", status="published")
    ).returning(Wave.id)
    for role in NORTH_ROLES:
        await create_user(
            f"north_{role}", NORTH_PASSWORD, frozenset({role}), f"北城{role}", "990103"
        )
    return int(wave[0]["id"])


async def _ids() -> dict[str, list[str]]:
    """Path parameter → ids of 南城区's objects to try."""
    a_waves = (
        await Wave.select(Wave.id)
        .where(Wave.programme.code == "nancheng-lsyd")
        .output(as_list=True)
    )
    samples = await Sample.select(Sample.id).output(as_list=True)
    campaigns = await Campaign.select(Campaign.id).output(as_list=True)
    cases = await Case.select(Case.id).order_by(Case.id).limit(3).output(as_list=True)
    checks = await BackCheck.select(BackCheck.id).limit(2).output(as_list=True)
    assert a_waves and samples and campaigns and cases and checks
    with_results = await ResultRun.select(ResultRun.wave).output(as_list=True)
    return {
        "{wave_id:int}": [str(a_waves[0]), str(min(with_results))],
        "{sample_id:int}": [str(s) for s in samples[:2]],
        "{campaign_id:int}": [str(c) for c in campaigns],
        "{case_id:int}": [str(c) for c in cases],
        "{check_id:int}": [str(c) for c in checks],
        "{code:str}": ["990102001"],
        "{fmt:str}": list(FORMATS),
    }


def _concrete(template: str, ids: dict[str, list[str]]) -> list[str]:
    paths = [template]
    for key, values in ids.items():
        if key in template:
            paths = [p.replace(key, v) for p in paths for v in values]
    return paths


def _routes(method: str) -> list[str]:
    out: set[str] = set()
    for route in create_app().routes:
        usable = isinstance(route, HTTPRoute) and method in route.methods
        if usable and not route.path.startswith(SKIP_PREFIXES):
            out.add(route.path)
    return sorted(out)


def _text(response: httpx.Response) -> bytes:
    """The response body as searchable bytes (XLSX unzipped, PDF text extracted)."""
    body = response.content
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            return b"".join(z.read(n) for n in z.namelist() if n.endswith(".xml"))
    if body.startswith(b"%PDF"):
        out = subprocess.run(
            ["pdftotext", "-", "-"], input=body, capture_output=True, timeout=60, check=True
        )
        return out.stdout
    return body


def _leaks(body: bytes, phones: set[bytes], markers: Iterable[str] = ()) -> list[str]:
    found = [m for m in markers if m.encode() in body]
    found += [p.decode() for p in set(PHONE.findall(body)) if p in phones]
    return found


async def _phones() -> set[bytes]:
    numbers: set[str] = set()
    numbers.update(await Contact.select(Contact.phone).output(as_list=True))
    numbers.update(await SampledElement.select(SampledElement.phone).output(as_list=True))
    numbers.update(await Case.select(Case.phone).output(as_list=True))
    return {n.encode() for n in numbers if n}


async def _snapshot() -> tuple[Any, ...]:
    """What a POST on 南城区's objects could change."""
    return (
        await AuditLog.count(),
        await CallAttempt.count(),
        await Case.count().where(Case.held_by.is_not_null()),
        await SampledElement.count().where(SampledElement.released == True),  # noqa: E712
        sorted(str(r) for r in await ResultRun.select(ResultRun.computed_at).output(as_list=True)),
        await BackCheck.count(),
        sorted(
            (r["id"], r["max_attempts"], r["hold_minutes"], r["status"])
            for r in await Campaign.select(
                Campaign.id, Campaign.max_attempts, Campaign.hold_minutes, Campaign.status
            )
        ),
    )


async def _logout(client: httpx.AsyncClient) -> None:
    await client.post("/logout", data={"_csrf_token": await csrf_token(client)})


async def test_second_district_users_never_see_the_first_districts_data(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    north_wave = await _second_district()
    ids = await _ids()
    phones = await _phones()
    assert len(phones) > 50
    gets = _routes("GET")
    posts = _routes("POST")
    checked = 0
    for role in NORTH_ROLES:
        assert (await login(client, f"north_{role}", NORTH_PASSWORD)).status_code == 303
        for template in gets:
            for path in _concrete(template, ids):
                response = await client.get(path)
                where = f"north_{role} GET {path} → {response.status_code}"
                assert response.status_code < 500, where
                assert not _leaks(_text(response), phones, A_MARKERS), where
                if template.startswith(("/results", "/design", "/cati")) and "{" in template:
                    assert response.status_code in (403, 404), where
                checked += 1
        token = await csrf_token(client)
        before = await _snapshot()
        for template in posts:
            for path in _concrete(template, ids)[:2]:
                response = await client.post(path, data={"_csrf_token": token})
                where = f"north_{role} POST {path} → {response.status_code}"
                # Refused, or a harmless redirect (e.g. "release" of a case one does not hold);
                # the snapshot below proves nothing of 南城区 changed either way.
                assert response.status_code in (303, 400, 403, 404, 409, 410, 422), where
                assert not _leaks(response.content, phones, A_MARKERS), where
        assert await _snapshot() == before, f"north_{role} changed 南城区's data"
        await _logout(client)
    assert checked > 100

    # The other direction: 南城区's committee member does not see 北城区's wave.
    assert (await login(client, "committee")).status_code == 303
    listing = await client.get("/results")
    assert listing.status_code == 200 and "北城区" not in listing.text
    assert (await client.get(f"/results/{north_wave}")).status_code in (403, 404)
    # Positive control: the same URLs do serve 南城区's own users.
    wave_with_results = ids["{wave_id:int}"][1]
    page = await client.get(f"/results/{wave_with_results}")
    assert page.status_code == 200 and "南城区" in page.text


async def test_phone_numbers_only_for_roles_that_call(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    ids = await _ids()
    # One wave with results, and the text formats (PDF, a rendering of the HTML report, is
    # checked once below): enough to reach every page and export.
    ids["{wave_id:int}"] = ids["{wave_id:int}"][1:]
    ids["{fmt:str}"] = ["html", "csv", "xlsx", "json"]
    phones = await _phones()
    gets = _routes("GET")
    pdf = await client.get(f"/results/{ids['{wave_id:int}'][0]}/report/pdf")
    assert pdf.status_code in (303, 401)  # signed out: no report
    for username in ("analyst", "committee", "admin", "supervisor"):
        assert (await login(client, username)).status_code == 303
        for template in gets:
            for path in _concrete(template, ids):
                response = await client.get(path)
                where = f"{username} GET {path}"
                assert response.status_code < 500, where
                leaked = _leaks(_text(response), phones)
                if username in ("analyst", "committee") or template.startswith("/results"):
                    # No number for roles that never call, none in any answer/result export.
                    assert not leaked, where
                elif leaked:
                    # Supervisors (and admins) see numbers only on the back-check list of the
                    # supervisor page, where they re-contact residents.
                    assert template == "/cati/campaigns/{campaign_id:int}", where
        await _logout(client)

    assert (await login(client, "committee")).status_code == 303
    pdf = await client.get(f"/results/{ids['{wave_id:int}'][0]}/report/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "南城区" in _text(pdf).decode() and not _leaks(_text(pdf), phones)
    await _logout(client)

    # A pollster sees the number of the case they took, not another case's.
    assert (await login(client, "pollster1")).status_code == 303
    token = await csrf_token(client)
    campaign = ids["{campaign_id:int}"][0]
    taken = await client.post(f"/cati/{campaign}/next", data={"_csrf_token": token})
    assert taken.status_code in (200, 303), taken.text[:300]
    held = await Case.select(Case.id, Case.phone).where(Case.held_by.username == "pollster1")
    assert held, "pollster1 holds no case after taking one"
    console = await client.get(f"/cati/case/{held[0]['id']}")
    assert held[0]["phone"] in console.text
    other = (
        await Case.select(Case.id, Case.phone)
        .where(Case.held_by.is_null() & (Case.id != held[0]["id"]))
        .first()
    )
    assert other is not None
    response = await client.get(f"/cati/case/{other['id']}")
    assert other["phone"] not in response.text, response.status_code


async def test_analyst_sees_no_phone_on_the_cati_supervisor_page(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    phones = await _phones()
    assert (await login(client, "analyst")).status_code == 303
    for campaign in await Campaign.select(Campaign.id).output(as_list=True):
        response = await client.get(f"/cati/campaigns/{campaign}")
        assert response.status_code == 200
        assert not _leaks(response.content, phones)


async def _one_new(action: str, since: int, username: str) -> None:
    rows = await AuditLog.select().where((AuditLog.id > since) & (AuditLog.action == action))
    assert len(rows) == 1, (action, rows)
    assert rows[0]["username"] == username, (action, rows[0])
    assert abs(rows[0]["at"] - datetime.now(UTC)) < timedelta(minutes=5)


async def _last_id() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def test_each_audited_action_writes_one_row(
    demo_city: None, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    since = await _last_id()
    assert (await login(client, "analyst")).status_code == 303
    await _one_new("login", since, "analyst")

    since = await _last_id()
    assert (await login(client, "analyst", "wrong-password")).status_code == 401
    await _one_new("login-failed", since, "analyst")

    assert (await login(client, "analyst")).status_code == 303
    token = await csrf_token(client)
    wave = (await ResultRun.select(ResultRun.wave).output(as_list=True))[0]
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave)  # published: not computed
    since = await _last_id()
    computed = await client.post(f"/results/{wave}/compute", data={"_csrf_token": token})
    assert computed.status_code == 303, computed.text[:300]
    await _one_new("results.compute", since, "analyst")
    assert await IndexResult.count().where(IndexResult.wave == wave) > 0

    since = await _last_id()
    assert (await client.get(f"/results/{wave}/export/csv")).status_code == 200
    await _one_new("results.export", since, "analyst")
    since = await _last_id()
    assert (await client.get(f"/results/{wave}/microdata/csv")).status_code == 200
    await _one_new("results.microdata", since, "analyst")

    # Publication (survey/waves.py): a computed wave moved from 结束 to 发布 through the page.
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave)
    since = await _last_id()
    published = await client.post(
        f"/waves/{wave}/status", data={"_csrf_token": token, "status": "published"}
    )
    assert published.status_code == 303, published.text[:300]
    await _one_new("wave.publish", since, "analyst")
    assert (await Wave.select(Wave.status).where(Wave.id == wave).first()) == {
        "status": "published"
    }

    since = await _last_id()
    await import_registry_file("north.csv", NORTH_REGISTRY.encode(), username="admin")
    await _one_new("import-units", since, "admin")

    open_wave = await Wave.select(Wave.id).where(Wave.status == "collecting").first()
    assert open_wave is not None
    frame = "unit,phone\n" + "".join(
        f"{code},1390000{k:04d}\n"
        for k, code in enumerate(
            await Unit.select(Unit.code)
            .where((Unit.level == "community") & Unit.code.like("990102%"))
            .output(as_list=True)
        )
    )
    since = await _last_id()
    summary = await import_frame_file(
        open_wave["id"], "frame.csv", frame.encode(), username="analyst"
    )
    await _one_new("import-frame", since, "analyst")
    since = await _last_id()
    await draw_sample(open_wave["id"], DesignSpec(summary.frame_id, total=12), seed=7,
                      username="analyst")  # fmt: skip
    await _one_new("draw-sample", since, "analyst")

    from tests.results.test_importing import _csv, _row, _setup

    import_wave, community = await _setup()
    path = _csv(tmp_path / "delivered.csv", [_row(f"A{i:03d}", community) for i in range(3)])
    since = await _last_id()
    await import_responses(import_wave, path, "liangshuaiyidu", username="analyst")
    await _one_new("responses.import", since, "analyst")

    log = await entries()
    assert log[0].action == "responses.import" and log[0].username == "analyst"
