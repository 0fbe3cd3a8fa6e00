"""Composite unique constraints Piccolo columns cannot declare (same SQL on SQLite and PostgreSQL)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo.engine import engine_finder

ID = "2026-11-24T11:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique indexes"

_INDEXES = (
    ("uq_population_unit_sex_age", "population_count", "unit, sex, age_group"),
    ("uq_department_district_code", "legal_department", "district, code"),
    ("uq_wave_programme_month", "wave", "programme, month"),
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

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
