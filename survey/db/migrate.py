"""Run the platform's migrations forward or backward, programmatically (CLI and tests)."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.backwards import run_backwards
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ALL_APPS = "all"


class MigrationFailed(RuntimeError):
    """A migration did not run; the message says which and why."""


async def prepare_engine() -> None:
    """Engine-level settings that must hold before any write (WAL for SQLite)."""
    engine = engine_finder()
    if isinstance(engine, SQLiteEngine):
        # WAL lets readers proceed during a write and survives a killed process cleanly.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def migrate_forwards(quiet: bool = True) -> None:
    """Apply every migration not yet applied."""
    await prepare_engine()
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name=ALL_APPS, migration_id="all")
    if not result.success:
        raise MigrationFailed(result.message or out.getvalue().strip())


async def migrate_backwards(
    migration_id: str = "all", app_name: str = ALL_APPS, quiet: bool = True
) -> None:
    """Undo migrations of ``app_name`` down to and including ``migration_id``.

    ``app_name="all"`` undoes every app (dependants first); ``migration_id="1"`` undoes an
    app's newest migration only."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_backwards(app_name=app_name, migration_id=migration_id, auto_agree=True)
    if not result.success:
        raise MigrationFailed(result.message or out.getvalue().strip())
