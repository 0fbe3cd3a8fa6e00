"""The database layer: Piccolo tables, migrations, the transaction helper, the connection pool,
``ping`` and the error vocabulary.

The layers above (services, the web layer) name database failures by what they mean —
:data:`DATABASE_UNAVAILABLE`, :data:`UNSTORABLE_TEXT`, :data:`UNIQUE_VIOLATION`,
:func:`is_out_of_range` — so that only this package knows the drivers (asyncpg, sqlite3)."""

from __future__ import annotations

import importlib
import importlib.util
import sqlite3
import sys
import types
from typing import Any


class _DeferredBlack(types.ModuleType):
    """Stands for ``black`` until one of its names is used, then imports it for real.

    ``piccolo.conf.apps`` (the migrations and the app registry) imports black at its top, only to
    format the migration files ``piccolo migrations new`` writes: 0.06 s of CPU in every process
    that migrates, the report's included (docs/benchmarks.md, "Whole processes"). The standard
    library's ``LazyLoader`` does not help here: the second ``import black`` reads the module's
    ``__spec__`` and so loads it at once."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get("black") is self:
            del sys.modules["black"]
        return getattr(importlib.import_module("black"), name)


def _defer_black() -> None:
    if "black" not in sys.modules and importlib.util.find_spec("black") is not None:
        sys.modules["black"] = _DeferredBlack("black")


_defer_black()

import asyncpg  # noqa: E402
from piccolo.engine import engine_finder  # noqa: E402
from piccolo.engine.base import BaseTransaction  # noqa: E402
from piccolo.engine.postgres import PostgresEngine  # noqa: E402
from piccolo.engine.sqlite import SQLiteEngine, TransactionType  # noqa: E402
from piccolo.table import Table  # noqa: E402


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


async def ping() -> tuple[str, bool]:
    """The configured engine's name (``sqlite``, ``postgres`` or ``none``) and whether it
    answers ``SELECT 1`` now."""
    engine = engine_finder()
    name = type(engine).__name__.removesuffix("Engine").lower() if engine else "none"
    if engine is None:
        return name, False
    try:
        await engine.run_ddl("SELECT 1")
    except Exception:
        return name, False
    return name, True


async def keep_session(connection: Any) -> None:
    """Pool ``reset`` hook: nothing beyond asyncpg's own release step, which always rolls back
    an open transaction. The app sets no session state (no ``SET``, ``LISTEN``, advisory locks
    or held cursors), so asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``) would only cost one more round trip per query (measured: it is
    about a third of a final submit's database time, docs/benchmarks.md)."""


POOL_SIZE = 10  # connections per web worker (two workers fit PostgreSQL's default 100)


async def start_pool() -> None:
    """Engine settings that must hold before any write (``survey.db.migrate.prepare_engine``),
    then a PostgreSQL connection pool of ``POOL_SIZE`` unless the caller started one already.
    (No parameters: Litestar passes the app to start-up hooks that take one.)"""
    from survey.db.migrate import prepare_engine

    await prepare_engine()
    engine = engine_finder()
    if isinstance(engine, PostgresEngine) and engine.pool is None:
        await engine.start_connection_pool(max_size=POOL_SIZE, reset=keep_session)


async def close_pool() -> None:
    """Close the PostgreSQL connection pool, if any."""
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


# --- error vocabulary ---------------------------------------------------------------------

# The database cannot be reached (server restarting, pool connection dropped): the request may
# be retried, so a client gets 503 with Retry-After instead of a 500.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # Seen only while PostgreSQL restarts: a pooled connection left mid-operation.
    asyncpg.exceptions.InternalClientError,
)
# Text the database cannot store: a NUL byte or an untranslatable character (PostgreSQL), or
# text longer than its column (PostgreSQL; SQLite stores it) — the request's fault.
UNSTORABLE_TEXT: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
    asyncpg.exceptions.StringDataRightTruncationError,
)
# A unique constraint refused a row (a concurrent writer stored it first). SQLite's driver
# does not tell integrity errors apart by class: there any ``IntegrityError`` counts.
UNIQUE_VIOLATION: tuple[type[BaseException], ...] = (
    sqlite3.IntegrityError,
    asyncpg.UniqueViolationError,
)


def is_out_of_range(exc: BaseException) -> bool:
    """True for a number beyond its column's range: ``OverflowError`` (SQLite) or "… out of
    range" (PostgreSQL, e.g. an id past int4)."""
    return isinstance(exc, OverflowError) or (
        isinstance(exc, asyncpg.exceptions.DataError) and "out of" in str(exc)
    )


def unreachable_message(exc: BaseException) -> str | None:
    """One line (Chinese) for a command that could not open the installation's database — a
    SQLite file in a missing directory, a PostgreSQL server that refuses or is not there — or
    None when ``exc`` is something else (the command line prints it instead of a traceback)."""
    from survey.settings import get_settings

    settings = get_settings()
    url = settings.database_url
    if isinstance(exc, sqlite3.OperationalError) and "unable to open database file" in str(exc):
        path = settings.sqlite_path.resolve()
        return (
            f"无法打开 SQLite 数据库文件 {path}（PINGAN_DATABASE_URL={url}；相对路径按当前目录"
            "解析，所在目录须已存在）"
        )
    if settings.is_postgres and isinstance(exc, (OSError, *DATABASE_UNAVAILABLE)):
        return f"无法连接数据库 {url}：{exc}（PostgreSQL 是否已启动、地址和数据库名是否正确？）"
    return None
