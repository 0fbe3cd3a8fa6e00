"""Retention of residents' phone numbers: blank them once a wave is closed and its retention
period has passed, leaving answers, weights and results untouched.

Phone numbers live in four places: ``Contact.phone`` (and the invitation ``token`` beside it,
which with the number identifies a resident), ``FrameRow.phone``, ``SampledElement.phone`` and
the CATI ``Case.phone``. Purging blanks these columns (a CATI case keeps the placeholder
``已删除#<id>``, since numbers are unique per campaign) (rows stay, so counts of invitations sent,
cases called and frame sizes remain right) in one write transaction and writes one audit row.
Each area blanks its own tables (``purge_phones`` of ``survey.collection.invitations``,
``survey.design.frames`` and ``survey.cati.cases``); this module decides when and records it.

A wave is eligible when its status is 结束 or 发布 and ``closes_on + retention_days <= today``;
the default retention is ``PINGAN_CONTACT_RETENTION_DAYS`` (30 days). A closed wave without a
closing date is eligible only with ``retention_days = 0``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta

from survey.audit import record
from survey.cati import cases
from survey.cati.cases import PURGED_CASE_PREFIX as PURGED_CASE_PREFIX  # the CLI and tests
from survey.collection import invitations
from survey.db import write_transaction
from survey.db.tables import Wave
from survey.design import frames

CLOSED_STATUSES: tuple[str, ...] = ("closed", "published")
DEFAULT_RETENTION_DAYS = 30


class RetentionError(ValueError):
    """A purge that may not run (unknown wave, wave still open, bad setting)."""


@dataclass(frozen=True, slots=True)
class PurgeSummary:
    """Phone numbers blanked in one wave, by where they were stored (rows changed)."""

    wave_id: int
    month: str
    contacts: int
    frame_rows: int
    sampled: int
    cati_cases: int
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.contacts + self.frame_rows + self.sampled + self.cati_cases

    def describe(self) -> str:
        verb = "将删除" if self.dry_run else "已删除"
        return (
            f"测评期 {self.month}（id {self.wave_id}）{verb} {self.total} 个电话号码："
            f"联系人 {self.contacts}，抽样框 {self.frame_rows}，样本 {self.sampled}，"
            f"电话访问 {self.cati_cases}"
        )


def retention_days_from_env() -> int:
    """``PINGAN_CONTACT_RETENTION_DAYS`` (days after a wave's closing date; default 30)."""
    raw = os.environ.get("PINGAN_CONTACT_RETENTION_DAYS", "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError as exc:
        raise RetentionError(f"PINGAN_CONTACT_RETENTION_DAYS 应为非负整数，而不是 {raw!r}") from exc
    if days < 0:
        raise RetentionError(f"PINGAN_CONTACT_RETENTION_DAYS 应为非负整数，而不是 {days}")
    return days


def is_due(status: str, closes_on: date | None, retention_days: int, today: date) -> bool:
    """Whether a wave's contacts are past retention on ``today``."""
    if status not in CLOSED_STATUSES:
        return False
    if closes_on is None:
        return retention_days == 0
    return closes_on + timedelta(days=retention_days) <= today


async def due_waves(retention_days: int, today: date) -> list[int]:
    """Ids of the waves whose contacts are due for deletion on ``today``."""
    rows = await Wave.select(Wave.id, Wave.status, Wave.closes_on).order_by(Wave.id)
    return [
        int(r["id"])
        for r in rows
        if is_due(str(r["status"]), r["closes_on"], retention_days, today)
    ]


async def purge_wave_contacts(
    wave_id: int,
    *,
    retention_days: int,
    today: date | None = None,
    username: str = "",
    dry_run: bool = False,
) -> PurgeSummary:
    """Blank every phone number of wave ``wave_id`` if it is due (see module docstring)."""
    if retention_days < 0:
        raise RetentionError("保留天数应为非负整数")
    today = today or date.today()
    async with write_transaction():
        rows = await Wave.select(Wave.id, Wave.month, Wave.status, Wave.closes_on).where(
            Wave.id == wave_id
        )
        if not rows:
            raise RetentionError(f"测评期 {wave_id} 不存在")
        wave = rows[0]
        if wave["status"] not in CLOSED_STATUSES:
            raise RetentionError(f"测评期 {wave['month']} 尚未结束，不能删除联系方式")
        if not is_due(str(wave["status"]), wave["closes_on"], retention_days, today):
            when = (
                "（未设结束日期：需保留天数 0）"
                if wave["closes_on"] is None
                else f"，{wave['closes_on'] + timedelta(days=retention_days)} 起可删除"
            )
            raise RetentionError(
                f"测评期 {wave['month']} 的联系方式仍在保留期内（{retention_days} 天）{when}"
            )
        # Each area blanks its own tables (and counts first, for the summary).
        contacts = await invitations.purge_phones(wave_id, dry_run=dry_run)
        frame_rows, sampled = await frames.purge_phones(wave_id, dry_run=dry_run)
        cati_cases = await cases.purge_phones(wave_id, dry_run=dry_run)
        summary = PurgeSummary(
            wave_id, str(wave["month"]), contacts, frame_rows, sampled, cati_cases, dry_run=dry_run
        )
        if dry_run:
            return summary
        await record(
            username,
            "contacts.purge",
            f"wave={wave_id} month={wave['month']} contacts={summary.contacts} "
            f"frame_rows={summary.frame_rows} sampled={summary.sampled} "
            f"cati_cases={summary.cati_cases} retention_days={retention_days}",
        )
    return summary


async def purge_due(
    *, retention_days: int, today: date | None = None, username: str = "", dry_run: bool = False
) -> list[PurgeSummary]:
    """Purge every wave that is due on ``today`` (one transaction per wave)."""
    today = today or date.today()
    return [
        await purge_wave_contacts(
            wave_id, retention_days=retention_days, today=today, username=username, dry_run=dry_run
        )
        for wave_id in await due_waves(retention_days, today)
    ]
