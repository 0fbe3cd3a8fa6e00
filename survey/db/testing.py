"""Database helpers for the test-suite and the demo: reset the schema, empty every table."""

from __future__ import annotations

import contextlib

from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine
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
        names = ", ".join(f'"{t._meta.tablename}"' for t in tables)
        await engine.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        return
    for table in reversed(tables):
        if table._meta.tablename == "region_unit":
            # Self-referencing RESTRICT: detach children before deleting.
            await table.raw('UPDATE "region_unit" SET "parent" = NULL')
        await table.raw(f'DELETE FROM "{table._meta.tablename}"')
