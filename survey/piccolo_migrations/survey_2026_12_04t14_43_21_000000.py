"""The rate counters need no write-ahead log on PostgreSQL: UNLOGGED (a crash may reset the
counts, which only forgives a few attempts; writes cost less). SQLite has no such thing.
A raw step of its own: Piccolo runs a migration's raw steps before its table changes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-04T14:43:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "rate counters UNLOGGED on PostgreSQL"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def unlogged() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("ALTER TABLE rate_counter SET UNLOGGED")

    async def logged() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("ALTER TABLE rate_counter SET LOGGED")

    manager.add_raw(unlogged)
    manager.add_raw_backwards(logged)
    return manager
