"""One revision per wave and number (two corrections at once cannot take the same number)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T14:06:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one result revision per wave and number"

_INDEXES = (("uq_result_revision_number", "result_revision", "wave, number"),)


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
