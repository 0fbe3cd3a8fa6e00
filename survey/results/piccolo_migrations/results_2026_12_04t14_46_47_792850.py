from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Float
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T14:46:47:792850"
VERSION = "1.38.0"
DESCRIPTION = "index_result.n_kish: Kish effective size of the weights (eligibility)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="results", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="IndexResult",
        tablename="index_result",
        column_name="n_kish",
        db_column_name="n_kish",
        column_class_name="Float",
        column_class=Float,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
