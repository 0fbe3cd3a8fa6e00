"""app_user loses failed_logins and locked_until: they were never written by sign-in. Failed
sign-ins are counted in the shared counters (``survey.limits``: the ``rate_counter`` table or
Redis), per account and address, like every rate limit; ``survey user enable`` and a password
reset forget them (``survey.accounts.unlock``). Backwards adds the two columns again (empty)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T20:47:25:239065"
VERSION = "1.38.0"
DESCRIPTION = "app_user: drop the unused failed_logins, locked_until"


async def forwards() -> MigrationManager:
    manager = MigrationManager(
        migration_id=ID, app_name="survey", description=DESCRIPTION
    )

    manager.drop_column(
        table_class_name="AppUser",
        tablename="app_user",
        column_name="failed_logins",
        db_column_name="failed_logins",
        schema=None,
    )

    manager.drop_column(
        table_class_name="AppUser",
        tablename="app_user",
        column_name="locked_until",
        db_column_name="locked_until",
        schema=None,
    )

    return manager
