"""Migrations run forward and backward on the engine under test."""

from __future__ import annotations

import pytest
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

from survey.db.migrate import migrate_backwards, migrate_forwards
from survey.db.testing import all_tables

pytestmark = pytest.mark.anyio


async def _table_names() -> set[str]:
    engine = engine_finder()
    assert engine is not None
    if isinstance(engine, PostgresEngine):
        rows = await engine.run_ddl(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    else:
        rows = await engine.run_ddl("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r["name"] for r in rows}


async def _index_names() -> set[str]:
    engine = engine_finder()
    assert engine is not None
    if isinstance(engine, PostgresEngine):
        rows = await engine.run_ddl(
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'"
        )
    else:
        rows = await engine.run_ddl("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {r["name"] for r in rows}


async def test_backwards_then_forwards(db: None) -> None:
    expected = {t._meta.tablename for t in all_tables()}
    assert expected <= await _table_names()
    assert "uq_wave_programme_month" in await _index_names()

    await migrate_backwards(
        "1", app_name="survey"
    )  # the newest survey migration: composite indexes
    assert "uq_wave_programme_month" not in await _index_names()
    assert expected <= await _table_names()

    await migrate_backwards("all")
    assert not (expected & await _table_names())

    await migrate_forwards()
    assert expected <= await _table_names()
    assert "uq_population_unit_sex_age" in await _index_names()


async def test_forwards_is_idempotent(db: None) -> None:
    before = await _table_names()
    await migrate_forwards()
    assert await _table_names() == before
