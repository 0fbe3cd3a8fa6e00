"""Migrations run forward and backward on the engine under test."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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

    # Down to and including the composite-index migration (later ones are undone with it:
    # the policy versions of issue 14, the shared rate counters of issue 15).
    await migrate_backwards(COMPOSITE_INDEXES, app_name="survey")
    assert "uq_wave_programme_month" not in await _index_names()
    assert "uq_policy_version_programme_number" not in await _index_names()
    assert "policy_version" not in await _table_names()
    assert "rate_counter" not in await _table_names()
    assert expected - {"policy_version", "rate_counter"} <= await _table_names()

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


async def test_rate_counters_are_unlogged_on_postgresql(db: None) -> None:
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        pytest.skip("UNLOGGED tables exist on PostgreSQL only")
    rows = await engine.run_ddl(
        "SELECT relpersistence FROM pg_class WHERE relname = 'rate_counter'"
    )
    assert [bytes(r["relpersistence"]).decode() for r in rows] == ["u"]


LINK_TURNED = "2026-12-04T21:00:00:000000"  # collection_2026_12_04t21_00_00_000000.py


async def _pairs(sql: str) -> set[tuple[int, int | None]]:
    from survey.db.tables import Wave

    return {(int(r["a"]), r["b"] and int(r["b"])) for r in await Wave.raw(sql)}


async def test_the_invitation_link_turns_around_and_keeps_every_link(db: None) -> None:
    """From a database of the old schema (``sampled_element.invitation``) holding links, the
    migration gives each invitation its element, leaves CATI cases, contacts, events and
    responses linked, and run backwards gives each element its invitation again."""
    from survey.cati.tables import Campaign, Case
    from survey.collection.tables import Contact, InvitationEvent, Response
    from survey.db.migrate import column_exists
    from survey.db.tables import Programme, Unit, Wave
    from survey.design.tables import Sample, SampledElement

    await migrate_backwards(LINK_TURNED, app_name="collection")
    try:
        assert await column_exists("sampled_element", "invitation")
        assert not await column_exists("invitation", "sampled_element")
        unit = (await Unit.insert(Unit(code="9", name="区", level="district")).returning(Unit.id))[
            0
        ]
        programme = await Programme.insert(
            Programme(code="p", name="p", region=unit["id"])
        ).returning(Programme.id)
        wave = (
            await Wave.insert(Wave(programme=programme[0]["id"], month="2026-10")).returning(
                Wave.id
            )
        )[0]["id"]
        sample = (
            await Sample.insert(Sample(wave=wave, method="srswor", seed=1)).returning(Sample.id)
        )[0]["id"]
        elements = []
        for position in range(3):
            rows = await SampledElement.insert(
                SampledElement(sample=sample, position=position, stratum="s", inclusion_prob=0.5)
            ).returning(SampledElement.id)
            elements.append(int(rows[0]["id"]))
        invitations = []
        for n in range(3):
            await Wave.raw(
                "INSERT INTO invitation (wave, token_hash, instrument_id, expires_at)"
                " VALUES ({}, {}, 'x', {})",
                wave,
                f"hash{n}",
                dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            )
            row = await Wave.raw("SELECT id FROM invitation WHERE token_hash = {}", f"hash{n}")
            invitations.append(int(row[0]["id"]))
            await Contact.insert(
                Contact(wave=wave, phone=f"1390000000{n}", invitation=row[0]["id"])
            )
        e1, e2, e3 = elements
        i1, i2, i3 = invitations  # i3: from a phone list, no element
        for element, invitation in ((e1, i1), (e2, i2)):
            await Wave.raw(
                "UPDATE sampled_element SET invitation = {} WHERE id = {}", invitation, element
            )
        await InvitationEvent.insert(InvitationEvent(invitation=i1, kind=1))
        await Response.insert(
            Response(wave=wave, instrument_id="x", instrument_version="1", instrument_hash="h",
                     mode="web", invitation=i2)
        )  # fmt: skip
        campaign = (await Campaign.insert(Campaign(wave=wave, name="c")).returning(Campaign.id))[0][
            "id"
        ]
        now = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        for element in (e2, e3):  # e2 moved to the phone (mixed mode), e3 a phone sample's
            await Case.insert(
                Case(campaign=campaign, phone=f"138{element}", sampled_element=element,
                     next_call_at=now)
            )  # fmt: skip

        cases = "SELECT id AS a, sampled_element AS b FROM cati_case"
        case_links = await _pairs(cases)
        assert {b for _, b in case_links} == {e2, e3}
        kept = {
            "contact": "SELECT id AS a, invitation AS b FROM contact",
            "event": "SELECT id AS a, invitation AS b FROM invitation_event",
            "response": "SELECT id AS a, invitation AS b FROM response",
        }
        before = {name: await _pairs(sql) for name, sql in kept.items()}
        assert len(before["contact"]) == 3 and len(before["event"]) == len(before["response"]) == 1

        await migrate_forwards()
        assert not await column_exists("sampled_element", "invitation")
        forward = "SELECT id AS a, sampled_element AS b FROM invitation"
        assert await _pairs(forward) == {(i1, e1), (i2, e2), (i3, None)}
        assert await _pairs(cases) == case_links
        assert {name: await _pairs(sql) for name, sql in kept.items()} == before

        await migrate_backwards(LINK_TURNED, app_name="collection")
        assert not await column_exists("invitation", "sampled_element")
        backward = "SELECT id AS a, invitation AS b FROM sampled_element"
        assert await _pairs(backward) == {(e1, i1), (e2, i2), (e3, None)}
        assert await _pairs(cases) == case_links
        assert {name: await _pairs(sql) for name, sql in kept.items()} == before
    finally:
        await migrate_forwards()
    assert await _pairs(forward) == {(i1, e1), (i2, e2), (i3, None)}
    # the rebuilt tables still enforce their links (SQLite: foreign keys back on)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own integrity error
        await Wave.raw("UPDATE invitation SET sampled_element = 999999 WHERE id = {}", i3)
    with pytest.raises(Exception):  # noqa: B017
        await Wave.raw("UPDATE invitation SET sampled_element = {} WHERE id = {}", e1, i3)


# --- the up-to-date check: one query, no migration module imported ----------------------------


def _app_folders() -> dict[str, str]:
    from piccolo.conf.apps import Finder

    return {
        c.app_name: c.resolved_migrations_folder_path
        for c in Finder().get_app_configs(sort_by_migration_dependencies=False)
    }


def test_each_migration_file_name_tells_its_id() -> None:
    """The up-to-date check reads IDs from file names: they must be the IDs Piccolo imports."""
    from piccolo.apps.migrations.commands.base import BaseMigrationManager

    from survey.db.migrate import migration_file_ids

    folders = _app_folders()
    assert {"survey", "collection", "design", "cati", "results", "tokens"} <= set(folders)
    for app, folder in folders.items():
        imported = set(BaseMigrationManager().get_migration_modules(folder))
        assert migration_file_ids(folder, app) == imported, app


def test_a_file_name_piccolo_did_not_write_leaves_the_check_in_doubt(tmp_path: Path) -> None:
    from survey.db.migrate import migration_file_ids

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "survey_2026_12_04t20_47_25_239065.py").write_text("")
    assert migration_file_ids(str(tmp_path), "survey") == {"2026-12-04T20:47:25:239065"}
    assert migration_file_ids(str(tmp_path), "results") is None  # another app's prefix
    (tmp_path / "survey_fix_links.py").write_text("")
    assert migration_file_ids(str(tmp_path), "survey") is None


def _pg_url(database: str) -> str:
    from survey.settings import get_settings

    return get_settings().database_url.rsplit("/", 1)[0] + f"/{database}"


def _pg_admin(sql: str) -> None:
    subprocess.run(
        ["psql", _pg_url("postgres"), "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


PROBE = """
import asyncio, json, sys
from survey.db.migrate import is_up_to_date, migrate_forwards
before = asyncio.run(is_up_to_date())
asyncio.run(migrate_forwards())
modules = sorted(sys.modules)
print(json.dumps({"before": before, "after": asyncio.run(is_up_to_date()), "modules": modules}))
"""


def _probe(database_url: str) -> dict[str, Any]:
    """``migrate_forwards`` in a fresh interpreter on ``database_url``: whether the database was
    up to date before and after, and the modules loaded by then."""
    env = {**os.environ, "PINGAN_DATABASE_URL": database_url}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _migration_modules(modules: Iterable[str]) -> list[str]:
    """The loaded modules that are migration files (Piccolo imports them by their bare name)
    or Piccolo's forward-run machinery."""
    stems = {Path(f).stem for folder in _app_folders().values() for f in os.listdir(folder)}
    stems.discard("__init__")
    machinery = ("piccolo.apps.migrations.commands", "piccolo.apps.migrations.tables")
    return sorted(m for m in modules if m in stems or m.startswith(machinery))


def test_an_up_to_date_database_imports_no_migration(db: None) -> None:
    from survey.settings import get_settings

    seen = _probe(get_settings().database_url)
    assert seen["before"] and seen["after"]
    assert _migration_modules(seen["modules"]) == []
    assert "survey.piccolo_conf" in seen["modules"]  # the probe really opened the database


@pytest.mark.db
def test_a_new_database_is_migrated(db_engine_name: str, tmp_path: Path) -> None:
    if db_engine_name == "sqlite":
        seen = _probe(f"sqlite:///{tmp_path / 'new.sqlite'}")
    else:
        name = f"pingan_new_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        try:
            seen = _probe(_pg_url(name))
        finally:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert not seen["before"] and seen["after"]
    assert "piccolo.apps.migrations.commands.forwards" in _migration_modules(seen["modules"])


async def _recorded() -> set[tuple[str, str]]:
    engine = engine_finder()
    assert engine is not None
    return {(r["app_name"], r["name"]) for r in await engine.run_ddl("SELECT * FROM migration")}


async def _columns() -> set[tuple[str, str]]:
    engine = engine_finder()
    assert engine is not None
    if isinstance(engine, PostgresEngine):
        rows = await engine.run_ddl(
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
        return {(r["t"], r["c"]) for r in rows}
    out = set()
    for table in await _table_names():
        for row in await engine.run_ddl(f'PRAGMA table_info("{table}")'):
            out.add((table, row["name"]))
    return out


async def _schema() -> tuple[set[str], set[str], set[tuple[str, str]]]:
    return await _table_names(), await _index_names(), await _columns()


UNKNOWN_ID = "2999-01-01T00:00:00:000000"  # a newer installation's migration
UNKNOWN = ("survey", UNKNOWN_ID)


async def _record(app: str, name: str) -> None:
    engine = engine_finder()
    assert engine is not None
    await engine.run_ddl(f"INSERT INTO migration (name, app_name) VALUES ('{name}', '{app}')")


async def _forget(app: str, name: str) -> None:
    engine = engine_finder()
    assert engine is not None
    await engine.run_ddl(f"DELETE FROM migration WHERE name = '{name}' AND app_name = '{app}'")


@pytest.mark.parametrize("app", ["survey", "results"])
async def test_a_database_missing_its_latest_migration_gets_it(db: None, app: str) -> None:
    """The newest migration undone and, in its place, an unknown one recorded (as many IDs as
    before): the check is not fooled by the count, and the forward run applies the missing one."""
    from survey.db.migrate import is_up_to_date, migration_file_ids

    latest = max(migration_file_ids(_app_folders()[app], app) or ())
    schema, recorded = await _schema(), await _recorded()
    assert (app, latest) in recorded
    await migrate_backwards("1", app_name=app)
    await _record(app, UNKNOWN_ID)
    try:
        assert len(await _recorded()) == len(recorded)
        assert not await is_up_to_date()
        await migrate_forwards()
        assert await _recorded() == recorded | {(app, UNKNOWN_ID)}
        assert await _schema() == schema
        assert await is_up_to_date()
    finally:
        await _forget(app, UNKNOWN_ID)


async def test_an_unknown_newer_migration_is_left_alone(db: None) -> None:
    """A recorded migration without a file (a newer installation's) is ignored, as Piccolo's
    forward run ignores it: nothing runs, nothing fails."""
    from survey.db.migrate import is_up_to_date

    schema, recorded = await _schema(), await _recorded()
    await _record(*UNKNOWN)
    try:
        assert await is_up_to_date()
        await migrate_forwards()
        await migrate_forwards(quiet=False)  # Piccolo's own run agrees
        assert await _recorded() == recorded | {UNKNOWN}
        assert await _schema() == schema
    finally:
        await _forget(*UNKNOWN)
