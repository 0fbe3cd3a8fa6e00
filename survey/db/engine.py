"""Database engine selection: SQLite (embedded default) or PostgreSQL, from the settings."""

from __future__ import annotations

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from survey.settings import Settings


def engine_for(settings: Settings) -> Engine:
    """A Piccolo engine for ``settings.database_url``."""
    if settings.is_postgres:
        return PostgresEngine(config={"dsn": settings.database_url})
    # timeout = sqlite3's busy timeout in seconds: writers wait for the lock instead of failing.
    return SQLiteEngine(path=str(settings.sqlite_path), timeout=30)
