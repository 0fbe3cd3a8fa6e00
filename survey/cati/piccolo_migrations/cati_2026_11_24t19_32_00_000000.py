"""The queue's access paths and composite unique constraints (same SQL on SQLite and PostgreSQL).

Partial indexes keep the queue's lookups small: only open cases are indexed, retries by
(campaign, stratum, next_call_at) and appointments by (campaign, appointment_at).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T19:32:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "cati queue indexes and composite unique constraints"

_INDEXES = (
    ("CREATE UNIQUE INDEX", "uq_cati_campaign_wave_mode", "cati_campaign (wave, mode)"),
    ("CREATE UNIQUE INDEX", "uq_cati_case_campaign_phone", "cati_case (campaign, phone)"),
    ("CREATE UNIQUE INDEX", "uq_cati_stratum_campaign", "cati_stratum (campaign, stratum)"),
    (
        "CREATE INDEX",
        "ix_cati_case_retry",
        "cati_case (campaign, stratum, next_call_at, id)"
        " WHERE state = 'open' AND appointment_at IS NULL",
    ),
    (
        "CREATE INDEX",
        "ix_cati_case_appointment",
        "cati_case (campaign, appointment_at, id) WHERE state = 'open' AND appointment_at IS NOT NULL",
    ),
    ("CREATE INDEX", "ix_cati_case_held", "cati_case (held_by) WHERE held_by IS NOT NULL"),
    ("CREATE INDEX", "ix_cati_case_campaign_state", "cati_case (campaign, state, stratum)"),
    ("CREATE INDEX", "ix_cati_attempt_case", "cati_call_attempt (call_case, id)"),
    ("CREATE INDEX", "ix_cati_attempt_interviewer", "cati_call_attempt (interviewer, ended_at)"),
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cati", description=DESCRIPTION)

    async def create() -> None:
        engine = engine_finder()
        assert engine is not None
        for statement, name, target in _INDEXES:
            await engine.run_ddl(f"{statement} {name} ON {target}")

    async def drop() -> None:
        engine = engine_finder()
        assert engine is not None
        for _statement, name, _target in _INDEXES:
            await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
