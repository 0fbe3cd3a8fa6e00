"""An invitation's step is stored once: (invitation, kind, seq) unique (same SQL on SQLite and
PostgreSQL). The index also serves the disposition aggregate (max(kind) per invitation)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T13:54:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "one invitation event per kind and seq"

_INDEXES = (("uq_invitation_event_step", "invitation_event", "invitation, kind, seq"),)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="collection", description=DESCRIPTION)

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
