"""A programme's policy versions are numbered once each (same SQL on SQLite and PostgreSQL)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo.engine import engine_finder

ID = "2026-12-04T13:52:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique policy version number per programme"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def create() -> None:
        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl(
            "CREATE UNIQUE INDEX uq_policy_version_programme_number"
            " ON policy_version (programme, number)"
        )

    async def drop() -> None:
        engine = engine_finder()
        assert engine is not None
        await engine.run_ddl("DROP INDEX IF EXISTS uq_policy_version_programme_number")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
