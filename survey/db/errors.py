"""The database error vocabulary (exported by ``survey.db``): failures named by what they mean,
so that only the database layer knows the drivers (asyncpg, sqlite3)."""

from __future__ import annotations

import sqlite3

import asyncpg

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
