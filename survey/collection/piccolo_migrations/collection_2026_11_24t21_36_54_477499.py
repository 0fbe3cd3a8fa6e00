"""The unique constraint on invitation.token_hash already indexes it: drop the plain index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-24T21:36:54:477499"
VERSION = "1.38.0"
DESCRIPTION = "drop the redundant plain index on invitation.token_hash"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="collection", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="Invitation",
        tablename="invitation",
        column_name="token_hash",
        db_column_name="token_hash",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
