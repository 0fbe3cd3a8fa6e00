"""The audit log: who did what and when (logins, imports, sample draws, result computations,
publications, exports). One row per action in ``AuditLog``; areas call :func:`record` inside the
transaction of the action they log, so an action that rolls back leaves no audit row either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from survey.db.tables import AuditLog

# Length limits of the AuditLog columns (username Varchar 60, action Varchar 40).
_USERNAME_MAX = 60
_ACTION_MAX = 40


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row as read back: when (UTC), who, what and its detail text."""

    at: datetime
    username: str
    action: str
    detail: str


async def record(username: str, action: str, detail: str = "") -> None:
    """Append one audit row: ``username`` (``""`` for anonymous), ``action`` (a short dotted or
    dashed verb such as ``results.export``) and a free-text ``detail`` (ids, file name, format)."""
    await AuditLog.insert(
        AuditLog(
            username=(username or "")[:_USERNAME_MAX],
            action=action[:_ACTION_MAX],
            detail=detail,
        )
    )


async def entries(action: str | None = None, limit: int = 1000) -> list[AuditEntry]:
    """The newest ``limit`` audit rows (optionally of one ``action``), newest first."""
    query = AuditLog.select(
        AuditLog.at, AuditLog.username, AuditLog.action, AuditLog.detail
    ).order_by(AuditLog.id, ascending=False)
    if action is not None:
        query = query.where(AuditLog.action == action)
    rows: Sequence[dict[str, object]] = await query.limit(limit)
    return [
        AuditEntry(
            at=r["at"],  # type: ignore[arg-type]
            username=str(r["username"]),
            action=str(r["action"]),
            detail=str(r["detail"]),
        )
        for r in rows
    ]
