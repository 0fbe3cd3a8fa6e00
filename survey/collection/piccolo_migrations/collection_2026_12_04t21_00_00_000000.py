"""The link between a sampled element and its invitation points upstream: ``invitation``
gets ``sampled_element`` (unique, ON DELETE SET NULL, like ``cati_case.sampled_element``) and
``sampled_element`` loses ``invitation``, the link copied over first.

A database created before 2026-12-04 has ``sampled_element.invitation`` (the design's first
migration made it then); one created since never had it, and only gains the new column. Run
backwards, the old column comes back with the links copied back, whatever the database's age:
it is the schema the code before this change needs.

PostgreSQL: ``ALTER TABLE`` inside the migration's transaction. SQLite cannot add or drop a
UNIQUE or REFERENCES column with ``ALTER TABLE``: both tables are rebuilt in one transaction with
foreign keys off (``survey.db.migrate.rebuild_sqlite_tables``), so the tables that reference them
(contacts, responses, events, CATI cases) keep their rows and links. The declared column is for
Piccolo's snapshot only (``RawSchemaChange``)."""

from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Serial
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.table import Table

from survey.db.migrate import (
    RawSchemaChange,
    SqliteRebuild,
    column_exists,
    is_sqlite,
    rebuild_sqlite_tables,
)

ID = "2026-12-04T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invitation.sampled_element replaces sampled_element.invitation"


class SampledElement(Table, tablename="sampled_element", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name=None,
        secret=False,
    )


# The column definitions exactly as Piccolo writes them for a new table (both engines).
NEW = (
    '"sampled_element" INTEGER UNIQUE REFERENCES "sampled_element" ("id")'
    " ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null"
)
OLD = (
    '"invitation" INTEGER UNIQUE REFERENCES "invitation" ("id")'
    " ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null"
)


async def _run(*statements: str) -> None:
    engine = engine_finder()
    assert engine is not None
    for sql in statements:
        await engine.run_ddl(sql)


async def turn_around() -> None:
    old_link = await column_exists("sampled_element", "invitation")
    if is_sqlite():
        steps = [
            SqliteRebuild(
                "invitation",
                "",
                ", " + NEW,
                {
                    "sampled_element": (
                        "(SELECT e.id FROM sampled_element e WHERE e.invitation = old.id)"
                        if old_link
                        else "NULL"
                    )
                },
            )
        ]
        if old_link:
            steps.append(SqliteRebuild("sampled_element", ", " + OLD, "", {}))
        await rebuild_sqlite_tables(steps)
        return
    await _run(f"ALTER TABLE invitation ADD COLUMN {NEW}")
    if old_link:
        await _run(
            "UPDATE invitation SET sampled_element = e.id FROM sampled_element e"
            " WHERE e.invitation = invitation.id",
            "ALTER TABLE sampled_element DROP COLUMN invitation",
        )


async def turn_back() -> None:
    if is_sqlite():
        await rebuild_sqlite_tables(
            [
                SqliteRebuild(
                    "sampled_element",
                    "",
                    ", " + OLD,
                    {"invitation": "(SELECT i.id FROM invitation i WHERE i.sampled_element = old.id)"},
                ),
                SqliteRebuild("invitation", ", " + NEW, "", {}),
            ]
        )
        return
    await _run(
        f"ALTER TABLE sampled_element ADD COLUMN {OLD}",
        "UPDATE sampled_element SET invitation = i.id FROM invitation i"
        " WHERE i.sampled_element = sampled_element.id",
        "ALTER TABLE invitation DROP COLUMN sampled_element",
    )


async def forwards() -> RawSchemaChange:
    # SQLite's rebuild runs in a transaction of its own (foreign keys can only be turned off
    # outside one); PostgreSQL's statements run in the migration's.
    manager = RawSchemaChange(
        migration_id=ID,
        app_name="collection",
        description=DESCRIPTION,
        wrap_in_transaction=not is_sqlite(),
    )
    manager.add_column(
        table_class_name="Invitation",
        tablename="invitation",
        column_name="sampled_element",
        db_column_name="sampled_element",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": SampledElement,
            "on_delete": OnDelete.set_null,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    manager.add_raw(turn_around)
    manager.add_raw_backwards(turn_back)
    return manager
