"""The database layer: Piccolo tables, migrations and the transaction helper."""

from __future__ import annotations

from piccolo.engine import engine_finder
from piccolo.engine.base import BaseTransaction
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table


def write_transaction() -> BaseTransaction:
    """A transaction for writes: ``BEGIN IMMEDIATE`` on SQLite (the write lock is taken at the
    start, so two writers queue instead of failing on upgrade), a normal one on PostgreSQL."""
    engine = engine_finder()
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    if isinstance(engine, PostgresEngine):
        return engine.transaction()
    raise RuntimeError("no database engine configured")


def is_postgres() -> bool:
    """True when the configured engine is PostgreSQL."""
    return isinstance(engine_finder(), PostgresEngine)


async def lock_row(table: type[Table], row_id: int) -> None:
    """Inside a ``write_transaction``: hold row ``row_id`` of ``table`` until commit, so that
    check-then-write steps on it run one at a time (``FOR UPDATE`` on PostgreSQL; on SQLite the
    immediate transaction already holds the database's write lock)."""
    if is_postgres():
        tablename = table._meta.tablename
        await table.raw(f'SELECT id FROM "{tablename}" WHERE id = {{}} FOR UPDATE', row_id)
