"""The database layer: Piccolo tables, migrations, the transaction helper, the connection pool,
``ping`` and the error vocabulary.

The layers above (services, the web layer) name database failures by what they mean —
:data:`DATABASE_UNAVAILABLE`, :data:`UNSTORABLE_TEXT`, :data:`UNIQUE_VIOLATION`,
:func:`is_out_of_range` — so that only this package knows the drivers (asyncpg, sqlite3). The
vocabulary lives in ``survey.db.errors`` and is exported from here on first use (PEP 562), so
that a process on SQLite that never meets an error does not import asyncpg."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

from lazy_exports import lazy_exports


class _Deferred(types.ModuleType):
    """Stands for a library until one of its names is used, then imports it for real.

    * ``black``: ``piccolo.conf.apps`` (the migrations and the app registry) imports it at its
      top, only to format the migration files ``piccolo migrations new`` writes: 0.06 s of CPU in
      every process that migrates, the report's included (docs/benchmarks.md, "Whole processes").
    * ``asyncpg``, on SQLite: ``piccolo.querystring`` imports ``asyncpg.pgproto.pgproto`` (one
      extension module, for a UUID type) when asyncpg is installed, and that loads all of asyncpg
      (≈ 0.05 s of CPU) in every process. The stand-in's ``__path__`` lets the submodule load
      alone; PostgreSQL needs asyncpg at once, so there it is imported as usual.

    The standard library's ``LazyLoader`` does not help here: the second ``import black`` reads
    the module's ``__spec__`` and so loads it at once."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        for key, value in vars(self).items():  # submodules loaded through the stand-in
            if isinstance(value, types.ModuleType) and not hasattr(real, key):
                setattr(real, key, value)
        return getattr(real, name)


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is not None:
        module = _Deferred(name)
        module.__spec__ = spec  # importlib.util.find_spec(name) answers from it
        if spec.submodule_search_locations is not None:
            module.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = module


def _defer_drivers() -> None:
    from survey.settings import database_url

    _defer("black")
    if database_url().startswith("sqlite:"):
        _defer("asyncpg")


_defer_drivers()

from piccolo.engine import engine_finder  # noqa: E402
from piccolo.engine.base import BaseTransaction  # noqa: E402
from piccolo.engine.postgres import PostgresEngine  # noqa: E402
from piccolo.engine.sqlite import SQLiteEngine, TransactionType  # noqa: E402
from piccolo.table import Table  # noqa: E402

if TYPE_CHECKING:
    from survey.db.errors import DATABASE_UNAVAILABLE as DATABASE_UNAVAILABLE
    from survey.db.errors import UNIQUE_VIOLATION as UNIQUE_VIOLATION
    from survey.db.errors import UNSTORABLE_TEXT as UNSTORABLE_TEXT
    from survey.db.errors import is_out_of_range as is_out_of_range
    from survey.db.errors import unreachable_message as unreachable_message

__getattr__ = lazy_exports(
    __name__,
    {
        "survey.db.errors": (
            "DATABASE_UNAVAILABLE",
            "UNIQUE_VIOLATION",
            "UNSTORABLE_TEXT",
            "is_out_of_range",
            "unreachable_message",
        )
    },
)


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
