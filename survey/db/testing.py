"""Database helpers for the test-suite and the demo: reset the schema, empty every table, and
snapshots of a built data set that the test-suite restores instead of building it again."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from survey.db.migrate import migrate_backwards, migrate_forwards


def all_tables() -> list[type[Table]]:
    """Every table of the platform, parents before children."""
    from piccolo.conf.apps import Finder
    from piccolo.table import sort_table_classes

    # The registry of PICCOLO_CONF (survey.piccolo_conf, set by survey/__init__.py), found the
    # way Piccolo finds it: survey.piccolo_conf builds the engine from survey.db, not back.
    tables: list[type[Table]] = []
    for app_config in Finder().get_app_registry().app_configs.values():
        tables.extend(app_config.table_classes)
    return sort_table_classes(tables)


async def reset_schema() -> None:
    """Drop everything and migrate forwards from scratch."""
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        await engine.run_ddl("DROP SCHEMA public CASCADE")
        await engine.run_ddl("CREATE SCHEMA public")
    else:
        with contextlib.suppress(Exception):
            await migrate_backwards("all")
    await migrate_forwards()


async def empty_all_tables() -> None:
    """Delete every row of every platform table (children first)."""
    engine = engine_finder()
    tables = all_tables()
    if isinstance(engine, PostgresEngine):
        async with _pg_connection(engine) as connection:
            await connection.execute(await _pg_emptying(connection, tables))
        return
    for table in reversed(tables):
        if table._meta.tablename == "region_unit":
            # Self-referencing RESTRICT: detach children before deleting.
            await table.raw('UPDATE "region_unit" SET "parent" = NULL')
        await table.raw(f'DELETE FROM "{table._meta.tablename}"')


# --- snapshots: a data set built once per test run, restored for each test that needs it -----

SNAPSHOT_SCHEMA_PREFIX = "pingan_snapshot_"


@dataclass(frozen=True)
class Snapshot:
    """Every platform table's rows at one moment: on SQLite a copy of the database file (made
    and restored with SQLite's backup API, which is safe under WAL), on PostgreSQL a schema of
    table copies plus the values of the id sequences."""

    name: str
    sqlite_file: Path | None = None
    tables: tuple[str, ...] = ()  # PostgreSQL: the tables with rows, parents first
    sequences: tuple[tuple[str, int], ...] = ()  # PostgreSQL: (sequence, last value)


def _sqlite_copy(source: str, target: str) -> None:
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst)


@contextlib.asynccontextmanager
async def _pg_connection(engine: PostgresEngine) -> AsyncIterator[Any]:
    """A connection of its own (``execute`` of it runs several statements in one round trip,
    as one implicit transaction)."""
    connection = await engine.get_new_connection()
    try:
        yield connection
    finally:
        await connection.close()


async def _pg_script(engine: PostgresEngine, sql: str) -> None:
    async with _pg_connection(engine) as connection:
        await connection.execute(sql)


async def _pg_emptying(connection: Any, tables: list[type[Table]]) -> str:
    """The statements that delete every row of ``tables`` and restart their id sequences.

    ``DELETE`` rather than ``TRUNCATE``: the test tables hold few rows, and a ``TRUNCATE`` of
    every table (new files for each table and index) costs about 0.3 s per test."""
    names = [t._meta.tablename for t in tables]
    statements = []
    for table in reversed(tables):
        name = table._meta.tablename
        for column in table._meta.foreign_key_columns:
            if column._foreign_key_meta.resolved_references is table and column._meta.null:
                # Self-referencing (``region_unit.parent``, RESTRICT): detach children first.
                statements.append(f'UPDATE "{name}" SET "{column._meta.db_column_name}" = NULL')
        statements.append(f'DELETE FROM "{name}"')
    sequences = await _pg_sequences(connection, names)
    statements += [f"SELECT setval('public.\"{name}\"', 1, false)" for name, _ in sequences]
    return ";\n".join(statements)


async def _pg_sequences(connection: Any, tables: list[str]) -> list[tuple[str, int | None]]:
    """The id sequences of ``tables`` (those a table owns) and their last values."""
    rows = await connection.fetch(
        "SELECT s.relname AS name, q.last_value FROM pg_class s "
        "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
        "JOIN pg_class t ON t.oid = d.refobjid "
        "JOIN pg_namespace n ON n.oid = s.relnamespace "
        "JOIN pg_sequences q ON q.schemaname = n.nspname AND q.sequencename = s.relname "
        "WHERE s.relkind = 'S' AND n.nspname = 'public' AND t.relname = ANY($1::text[])",
        tables,
    )
    return [(r["name"], r["last_value"]) for r in rows]


def _column_list(table: type[Table]) -> str:
    return ", ".join(f'"{c._meta.db_column_name}"' for c in table._meta.columns)


async def take_snapshot(name: str) -> Snapshot:
    """Save the current rows of every platform table under ``name`` (a identifier: letters,
    digits, ``_``), replacing an earlier snapshot of that name."""
    assert name.isidentifier(), name
    engine = engine_finder()
    if isinstance(engine, SQLiteEngine):
        path = Path(engine.path)
        target = path.with_name(f"{path.stem}.{name}.snapshot")
        target.unlink(missing_ok=True)
        _sqlite_copy(str(path), str(target))
        return Snapshot(name, sqlite_file=target)
    assert isinstance(engine, PostgresEngine)
    schema = SNAPSHOT_SCHEMA_PREFIX + name
    names = [t._meta.tablename for t in all_tables()]
    counts = await engine.run_ddl(
        " UNION ALL ".join(f"SELECT '{n}' AS name, count(*) AS n FROM \"{n}\"" for n in names)
    )
    filled = {row["name"] for row in counts if row["n"]}
    tables = tuple(t for t in all_tables() if t._meta.tablename in filled)
    statements = [f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"']
    statements += [
        f'CREATE TABLE "{schema}"."{t._meta.tablename}" AS '
        f'SELECT {_column_list(t)} FROM public."{t._meta.tablename}"'
        for t in tables
    ]
    async with _pg_connection(engine) as connection:
        await connection.execute(";\n".join(statements))
        sequences = tuple(
            (s, int(v)) for s, v in await _pg_sequences(connection, names) if v is not None
        )
    return Snapshot(name, tables=tuple(t._meta.tablename for t in tables), sequences=sequences)


async def restore_snapshot(snapshot: Snapshot) -> None:
    """Make every platform table hold exactly the rows of ``snapshot`` (ids and sequences
    included): a database as if the snapshot's data had just been built in it."""
    engine = engine_finder()
    if snapshot.sqlite_file is not None:
        assert isinstance(engine, SQLiteEngine)
        _sqlite_copy(str(snapshot.sqlite_file), str(engine.path))
        return
    assert isinstance(engine, PostgresEngine)
    schema = SNAPSHOT_SCHEMA_PREFIX + snapshot.name
    async with _pg_connection(engine) as connection:
        statements = [await _pg_emptying(connection, all_tables())]
        # One INSERT per table, parents first; a self-referencing table's rows go in one
        # statement, whose foreign keys are checked at its end.
        tables = {t._meta.tablename: t for t in all_tables()}
        statements += [
            f'INSERT INTO public."{n}" ({_column_list(tables[n])}) '
            f'SELECT {_column_list(tables[n])} FROM "{schema}"."{n}"'
            for n in snapshot.tables
        ]
        statements += [f"SELECT setval('public.\"{s}\"', {v})" for s, v in snapshot.sequences]
        await connection.execute(";\n".join(statements))


async def drop_snapshots() -> None:
    """Remove every snapshot schema left in the PostgreSQL database (nothing on SQLite: the
    snapshot files live beside the test database, in the run's temporary directory)."""
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        return
    rows = await engine.run_ddl(
        f"SELECT nspname FROM pg_namespace WHERE nspname LIKE '{SNAPSHOT_SCHEMA_PREFIX}%'"
    )
    if rows:
        await _pg_script(engine, ";\n".join(f'DROP SCHEMA "{r["nspname"]}" CASCADE' for r in rows))
