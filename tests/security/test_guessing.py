"""Finding 8: unknown-token guesses from one address are slowed and counted once past the miss
limit, but a valid link from that address (carrier NAT: thousands of residents) always opens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import ModuleType

import httpx
import pytest
from litestar import Litestar

import survey.collection.demo
from survey.collection.invitations import new_token
from survey.web.app import create_app
from tests.collection._support import invite

pytestmark = pytest.mark.anyio
MISSES = 5
DELAY_MS = 400


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    return (survey.collection.demo,)


@pytest.fixture()
async def app(demo_city: None, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Litestar]:
    monkeypatch.setenv("PINGAN_RATE_SURVEY_MISS_IP", str(MISSES))
    monkeypatch.setenv("PINGAN_RATE_SURVEY_MISS_DELAY_MS", str(DELAY_MS))
    application = create_app()
    async with application.lifespan():
        yield application


async def _timed_get(client: httpx.AsyncClient, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response.status_code, time.perf_counter() - started


async def test_guesses_are_slowed_and_valid_links_from_the_same_address_still_open(
    app: Litestar,
) -> None:
    tokens = await invite("liangshuaiyidu_web", 3)
    transport = httpx.ASGITransport(app=app, client=("100.64.0.1", 1234))  # a carrier NAT address
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as nat:
        for _ in range(MISSES):
            status, seconds = await _timed_get(nat, f"/s/{new_token()}")
            assert status == 404 and seconds < DELAY_MS / 1000
        for _ in range(3):  # past the limit (the address used to be shut out: 429)
            status, seconds = await _timed_get(nat, f"/s/{new_token()}")
            assert status == 404, status  # answered…
            assert seconds >= DELAY_MS / 1000 * 0.95  # …after the delay
        for token in tokens:  # residents behind the same address, after the guesser
            status, seconds = await _timed_get(nat, f"/s/{token}")
            assert status == 200, status
            assert seconds < DELAY_MS / 1000  # not slowed either
        status, _seconds = await _timed_get(nat, f"/s/{new_token()}")
        assert status == 404  # the guesser is still slowed, never told 429
