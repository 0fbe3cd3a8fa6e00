"""One exclusion per wave and interview (two analysts excluding at once store it once)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T17:19:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one exclusion per wave and response"

_INDEXES = (("uq_response_exclusion", "response_exclusion", "wave, response"),)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="results", description=DESCRIPTION)

    async def create() -> None:
        engine = engine_finder()
        assert engine is not None
        for name, table, columns in _INDEXES:
            await engine.run_ddl(f"CREATE UNIQUE INDEX {name} ON {table} ({columns})")

    async def drop() -> None:
        engine = engine_finder()
        assert engine is not None
        for name, _table, _columns in _INDEXES:
            await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
