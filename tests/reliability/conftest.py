"""Reliability tests: the demo city built over a connection pool on PostgreSQL (one connection per
query otherwise makes each build several times slower)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine


@pytest.fixture()
async def demo_city(db: None) -> AsyncIterator[None]:
    """The whole demo city (every area's demo data) in the test database."""
    from survey.demo import build_demo

    engine = engine_finder()
    pooled = isinstance(engine, PostgresEngine)
    if pooled:
        await engine.start_connection_pool(min_size=1, max_size=4)
    try:
        await build_demo()
        yield
    finally:
        if pooled and engine.pool is not None:
            await engine.close_connection_pool()
