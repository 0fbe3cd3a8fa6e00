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


COMPOSITE_INDEXES = "2026-11-24T11:41:00:000000"  # survey_2026_11_24t11_41_00_000000.py


async def test_backwards_then_forwards(db: None) -> None:
    expected = {t._meta.tablename for t in all_tables()}
    assert expected <= await _table_names()
    assert "uq_wave_programme_month" in await _index_names()

    # Down to and including the composite-index migration (later ones are undone with it).
    await migrate_backwards(COMPOSITE_INDEXES, app_name="survey")
    assert "uq_wave_programme_month" not in await _index_names()
    assert "uq_policy_version_programme_number" not in await _index_names()
    assert "policy_version" not in await _table_names()
    assert expected - {"policy_version"} <= await _table_names()

    await migrate_backwards("all")
    assert not (expected & await _table_names())

    await migrate_forwards()
    assert expected <= await _table_names()
    assert "uq_population_unit_sex_age" in await _index_names()


async def test_forwards_is_idempotent(db: None) -> None:
    before = await _table_names()
    await migrate_forwards()
    assert await _table_names() == before


async def test_invitation_token_hash_has_one_index_the_unique_one(
    db: None, db_engine_name: str
) -> None:
    """Links are looked up by ``token_hash``; its unique constraint is the one index kept (a second,
    plain index was dropped: it cost a write on every update of an invitation)."""
    from piccolo.engine import engine_finder

    engine = engine_finder()
    assert engine is not None
    if db_engine_name == "postgres":
        rows = await engine.run_ddl(
            "SELECT indexdef AS d FROM pg_indexes WHERE tablename = 'invitation'"
        )
        defs = [str(r["d"]) for r in rows if "(token_hash)" in str(r["d"])]
        assert len(defs) == 1 and "UNIQUE" in defs[0], defs
    else:
        rows = await engine.run_ddl("PRAGMA index_list('invitation')")
        covering = []
        for row in rows:
            cols = await engine.run_ddl(f"PRAGMA index_info('{row['name']}')")
            if [c["name"] for c in cols] == ["token_hash"]:
                covering.append(row)
        assert len(covering) == 1 and covering[0]["unique"] == 1, covering
