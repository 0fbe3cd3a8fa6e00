"""Run the platform's migrations forward or backward, programmatically (CLI and tests).

Every command that opens the database first calls :func:`migrate_forwards`. When the database
is up to date (the usual case) it costs one query: the IDs of the migration files, read from
their names, against the IDs in Piccolo's ``migration`` table. Only when one is missing does
Piccolo's own forward run import the migration modules and apply them."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Already loaded with the engine (piccolo.conf.apps imports it): RawSchemaChange costs nothing.
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ALL_APPS = "all"
# Piccolo names a migration file ``{app}_{ID}.py`` with the ID's "-" and ":" written "_" and
# its "T" lower-cased: ID 2026-12-04T20:47:25:239065 is survey_2026_12_04t20_47_25_239065.py.
_FILE_ID = re.compile(r"(\d{4})_(\d\d)_(\d\d)t(\d\d)_(\d\d)_(\d\d)_(\d{6})\.py")


class MigrationFailed(RuntimeError):
    """A migration did not run; the message says which and why."""


async def prepare_engine() -> None:
    """Engine-level settings that must hold before any write (WAL for SQLite)."""
    engine = engine_finder()
    if isinstance(engine, SQLiteEngine):
        # WAL lets readers proceed during a write and survives a killed process cleanly.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


def migration_file_ids(folder: str, app_name: str) -> set[str] | None:
    """The IDs of the migration files in ``folder`` (the files Piccolo reads: ``*.py`` but
    ``__init__.py``), read from their names without importing them; None when a name does not
    follow Piccolo's ``{app}_{ID}.py`` (then only importing the file tells its ID)."""
    ids = set()
    prefix = f"{app_name}_"
    for name in os.listdir(folder):
        if name == "__init__.py" or not name.endswith(".py"):
            continue
        found = _FILE_ID.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
        if found is None:
            return None
        y, mo, d, h, mi, s, us = found.groups()
        ids.add(f"{y}-{mo}-{d}T{h}:{mi}:{s}:{us}")
    return ids


async def is_up_to_date() -> bool:
    """Whether every app's migration files are recorded as run in Piccolo's ``migration`` table
    (one query). Recorded IDs without a file (a newer installation's) are ignored, as Piccolo's
    forward run ignores them. False when in doubt: no ``migration`` table yet (a new database),
    a file name Piccolo did not write, any error (the forward run then says what is wrong)."""
    from piccolo.conf.apps import Finder

    wanted: dict[str, set[str]] = {}
    for config in Finder().get_app_configs(sort_by_migration_dependencies=False):
        ids = migration_file_ids(config.resolved_migrations_folder_path, config.app_name)
        if ids is None:
            return False
        wanted[config.app_name] = ids
    engine = engine_finder()
    if engine is None:
        return False
    try:
        rows = await engine.run_ddl('SELECT app_name, name FROM "migration"')
    except Exception:
        return False
    recorded: dict[str, set[str]] = {}
    for row in rows:
        recorded.setdefault(row["app_name"], set()).add(row["name"])
    return all(ids <= recorded.get(app, set()) for app, ids in wanted.items())


async def migrate_forwards(quiet: bool = True) -> None:
    """Apply every migration not yet applied: when there is none, nothing more than
    :func:`is_up_to_date` runs, unless ``quiet`` is False (``survey migrate -v`` shows Piccolo's
    own report)."""
    await prepare_engine()
    if quiet and await is_up_to_date():
        return
    from piccolo.apps.migrations.commands.forwards import run_forwards

    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name=ALL_APPS, migration_id="all")
    if not result.success:
        raise MigrationFailed(result.message or out.getvalue().strip())


async def migrate_backwards(
    migration_id: str = "all", app_name: str = ALL_APPS, quiet: bool = True
) -> None:
    """Undo migrations of ``app_name`` down to and including ``migration_id``.

    ``app_name="all"`` undoes every app (dependants first); ``migration_id="1"`` undoes an
    app's newest migration only."""
    from piccolo.apps.migrations.commands.backwards import run_backwards

    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_backwards(app_name=app_name, migration_id=migration_id, auto_agree=True)
    if not result.success:
        raise MigrationFailed(result.message or out.getvalue().strip())


class RawSchemaChange(MigrationManager):
    """A migration whose schema change is made by its raw steps, written per engine.

    Its ``add_column`` / ``drop_column`` declarations are not run: they only tell Piccolo's
    migration snapshot (what ``piccolo migrations new --auto`` diffs against) what the raw steps
    did. Needed where Piccolo's own ``ALTER TABLE`` cannot work on SQLite, which can neither add
    nor drop a UNIQUE or REFERENCES column: there the raw steps rebuild the table
    (:func:`rebuild_sqlite_tables`)."""

    async def _run_add_columns(self, backwards: bool = False) -> None:
        return None

    async def _run_drop_columns(self, backwards: bool = False) -> None:
        return None


def is_sqlite() -> bool:
    """Whether the migrations run on SQLite."""
    return isinstance(engine_finder(), SQLiteEngine)


async def column_exists(table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` now (either engine)."""
    engine = engine_finder()
    assert engine is not None
    if isinstance(engine, SQLiteEngine):
        rows = await engine.run_ddl(f'PRAGMA table_info("{table}")')
        return any(r["name"] == column for r in rows)
    rows = await engine.run_ddl(
        "SELECT 1 AS found FROM information_schema.columns WHERE table_schema = current_schema()"
        f" AND table_name = '{table}' AND column_name = '{column}'"
    )
    return bool(rows)


@dataclass(frozen=True, slots=True)
class SqliteRebuild:
    """One table rebuilt: its ``CREATE TABLE`` as SQLite holds it is edited by replacing ``old``
    (a column definition with its leading ", ", or "" to add one at the end) with ``new``. Each
    column of the new table is filled from the old table's column of that name, or from
    ``columns`` (name → SQL expression over the old table, named ``old``) for a new one."""

    table: str
    old: str
    new: str
    columns: Mapping[str, str]


async def rebuild_sqlite_tables(steps: Sequence[SqliteRebuild]) -> None:
    """Rebuild SQLite tables in one transaction, foreign keys off (SQLite's documented 12-step
    procedure): ``DROP TABLE`` with foreign keys on would run the ``ON DELETE`` actions of every
    table that references the one rebuilt (cascade away contacts, unlink CATI cases). References
    are checked (``PRAGMA foreign_key_check``) before the commit; other indexes of the table are
    re-created. Its own connection: Piccolo turns foreign keys on for each of its queries."""
    import aiosqlite

    engine = engine_finder()
    assert isinstance(engine, SQLiteEngine)
    async with aiosqlite.connect(**engine.connection_kwargs) as db:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA foreign_keys = OFF")
        await db.execute("BEGIN IMMEDIATE")
        try:
            for step in steps:
                await _rebuild(db, step)
            problems = await (await db.execute("PRAGMA foreign_key_check")).fetchall()
            if problems:
                raise MigrationFailed(
                    f"foreign keys broken by the rebuild: {list(map(tuple, problems))}"
                )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        finally:
            await db.execute("PRAGMA foreign_keys = ON")


async def _rebuild(db: Any, step: SqliteRebuild) -> None:
    cursor = await db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (step.table,)
    )
    create = (await cursor.fetchone())["sql"]
    if step.old:
        if create.count(step.old) != 1:
            raise MigrationFailed(f"{step.table}: column definition not found: {step.old}")
        create = create.replace(step.old, step.new)
    else:
        create = create[: create.rindex(")")] + step.new + ")"
    temporary = f"_rebuild_{step.table}"
    prefix = f'CREATE TABLE "{step.table}"'
    if not create.startswith(prefix):
        raise MigrationFailed(f"{step.table}: unexpected definition {create[:60]}")
    cursor = await db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (step.table,),
    )
    indexes = [r["sql"] for r in await cursor.fetchall()]
    await db.execute(f'CREATE TABLE "{temporary}"' + create[len(prefix) :])
    cursor = await db.execute(f'PRAGMA table_info("{temporary}")')
    kept = [r["name"] for r in await cursor.fetchall()]
    names = ", ".join(f'"{c}"' for c in kept)
    values = ", ".join(step.columns.get(c, f'old."{c}"') for c in kept)
    await db.execute(
        f'INSERT INTO "{temporary}" ({names}) SELECT {values} FROM "{step.table}" AS old'
    )
    await db.execute(f'DROP TABLE "{step.table}"')
    await db.execute(f'ALTER TABLE "{temporary}" RENAME TO "{step.table}"')
    for sql in indexes:
        await db.execute(sql)
