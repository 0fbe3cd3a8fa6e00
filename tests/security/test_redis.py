"""Finding 11 with ``PINGAN_REDIS_URL``: the counters live in Redis, shared by every worker
and host (skipped when no Redis answers on 127.0.0.1:6379)."""

from __future__ import annotations

import secrets
import socket

import httpx
import pytest

from survey.limits import RedisCounters, counter_store
from survey.web.app import create_app

pytestmark = pytest.mark.anyio
URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")


@needs_redis
async def test_two_stores_share_one_count() -> None:
    key = f"test:{secrets.token_hex(8)}"
    one, two = RedisCounters(URL), RedisCounters(URL)  # as two workers (or hosts) would
    assert [await one.add(key, 60), await two.add(key, 60), await one.add(key, 60)] == [1, 2, 3]
    assert await two.get(key, 60) == 3
    assert await one.get(f"{key}:other", 60) == 0


@needs_redis
async def test_forget_drops_a_key_and_those_below_it_and_tells_the_highest_count() -> None:
    name = f"test-{secrets.token_hex(6)}"
    store = RedisCounters(URL)
    for key in (f"fail:{name}", f"fail:{name}:10.0.0.1", f"fail:{name}:10.0.0.1"):
        await store.add(key, 900)
    await store.add(f"fail:{name}x:10.0.0.1", 900)
    assert await store.forget(f"fail:{name}") == 2
    assert await store.get(f"fail:{name}:10.0.0.1", 900) == 0
    assert await store.get(f"fail:{name}x:10.0.0.1", 900) == 1
    assert await store.forget(f"fail:{name}") == 0
    await store.forget(f"fail:{name}x")


@needs_redis
async def test_the_login_limit_is_counted_in_redis(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGAN_REDIS_URL", URL)
    monkeypatch.setenv("PINGAN_RATE_LOGIN_IP", "3")
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    statuses = []
    for _ in range(5):  # a fresh app each time: a new worker, sharing nothing in memory
        app = create_app()
        async with app.lifespan():
            assert isinstance(counter_store(), RedisCounters)
            transport = httpx.ASGITransport(app=app, client=(ip, 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                statuses.append((await client.post("/login", data={"username": "x"})).status_code)
    assert statuses == [403, 403, 403, 429, 429], statuses
