"""Finding 8: unknown-token guesses from one address are slowed and counted once past the miss
limit, but a valid link from that address (carrier NAT: thousands of residents) always opens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import ModuleType, SimpleNamespace

import httpx
import pytest
from litestar import Litestar

import survey.collection.demo
from survey.collection.invitations import new_token
from survey.web import ratelimit
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


@pytest.fixture()
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the rate limiter imposes (seconds), as it imposes them: the real sleep still
    runs, so a slowed answer still takes its delay. Counting the waits, not timing the fast
    answers, keeps the test true on a loaded machine (an unslowed request once took > 0.4 s)."""
    seen: list[float] = []
    sleep = asyncio.sleep

    async def recorded(seconds: float) -> None:
        seen.append(seconds)
        await sleep(seconds)

    monkeypatch.setattr(ratelimit, "asyncio", SimpleNamespace(sleep=recorded))
    return seen


async def _timed_get(
    client: httpx.AsyncClient, path: str, waits: list[float]
) -> tuple[int, float, list[float]]:
    """Status, seconds taken and the rate limiter's waits of one request."""
    waits.clear()
    started = time.perf_counter()
    response = await client.get(path)
    return response.status_code, time.perf_counter() - started, list(waits)


async def test_guesses_are_slowed_and_valid_links_from_the_same_address_still_open(
    app: Litestar, waits: list[float]
) -> None:
    tokens = await invite("liangshuaiyidu_web", 3)
    transport = httpx.ASGITransport(app=app, client=("100.64.0.1", 1234))  # a carrier NAT address
    delay = DELAY_MS / 1000
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as nat:
        for _ in range(MISSES):
            status, _seconds, waited = await _timed_get(nat, f"/s/{new_token()}", waits)
            assert status == 404 and waited == []  # not slowed
        for _ in range(3):  # past the limit (the address used to be shut out: 429)
            status, seconds, waited = await _timed_get(nat, f"/s/{new_token()}", waits)
            assert status == 404, status  # answered…
            assert waited == [delay] and seconds >= delay * 0.95  # …after the delay
        for token in tokens:  # residents behind the same address, after the guesser
            status, _seconds, waited = await _timed_get(nat, f"/s/{token}", waits)
            assert status == 200, status
            assert waited == []  # not slowed either
        status, _seconds, waited = await _timed_get(nat, f"/s/{new_token()}", waits)
        assert status == 404 and waited == [delay]  # the guesser is still slowed, never told 429
