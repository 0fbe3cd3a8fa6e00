"""Retention of residents' phone numbers: blank them once a wave is closed and its retention
period has passed, leaving answers, weights and results untouched.

Phone numbers live in four places: ``Contact.phone`` (and the invitation ``token`` beside it,
which with the number identifies a resident), ``FrameRow.phone``, ``SampledElement.phone`` and
the CATI ``Case.phone``. Purging blanks these columns (a CATI case keeps the placeholder
``已删除#<id>``, since numbers are unique per campaign) (rows stay, so counts of invitations sent,
cases called and frame sizes remain right) in one write transaction and writes one audit row.

A wave is eligible when its status is 结束 or 发布 and ``closes_on + retention_days <= today``;
the default retention is ``PINGAN_CONTACT_RETENTION_DAYS`` (30 days). A closed wave without a
closing date is eligible only with ``retention_days = 0``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta

from survey.audit import record
from survey.cati.tables import Campaign, Case
from survey.collection.tables import Contact
from survey.db import write_transaction
from survey.db.tables import Wave
from survey.design.tables import Frame, FrameRow, Sample, SampledElement

CLOSED_STATUSES: tuple[str, ...] = ("closed", "published")
# CATI cases are unique per (campaign, phone): a purged case keeps a placeholder that names no
# number and stays unique ("已删除#<case id>").
PURGED_CASE_PREFIX = "已删除#"
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


async def _children(wave_id: int) -> tuple[list[int], list[int], list[int]]:
    """Ids of the wave's frames holding residents' numbers, samples and CATI campaigns."""
    # Number-block lists (号段表, kind "blocks") hold carriers' prefixes, not residents' numbers:
    # they stay, so number samples can still be redrawn block by block.
    frames = (
        await Frame.select(Frame.id)
        .where((Frame.wave == wave_id) & (Frame.kind != "blocks"))
        .output(as_list=True)
    )
    samples = await Sample.select(Sample.id).where(Sample.wave == wave_id).output(as_list=True)
    campaigns = (
        await Campaign.select(Campaign.id).where(Campaign.wave == wave_id).output(as_list=True)
    )
    # is_in([]) is rejected by Piccolo: -1 matches no row.
    return frames or [-1], samples or [-1], campaigns or [-1]


async def _count_nonblank(wave_id: int) -> tuple[int, int, int, int]:
    frames, samples, campaigns = await _children(wave_id)
    contacts = await Contact.count().where((Contact.wave == wave_id) & (Contact.phone != ""))
    frame_rows = await FrameRow.count().where(FrameRow.frame.is_in(frames) & (FrameRow.phone != ""))
    sampled = await SampledElement.count().where(
        SampledElement.sample.is_in(samples) & (SampledElement.phone != "")
    )
    cases = await Case.count().where(
        Case.campaign.is_in(campaigns)
        & (Case.phone != "")
        & Case.phone.not_like(PURGED_CASE_PREFIX + "%")
    )
    return contacts, frame_rows, sampled, cases


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
        counts = await _count_nonblank(wave_id)
        summary = PurgeSummary(wave_id, str(wave["month"]), *counts, dry_run=dry_run)
        if dry_run:
            return summary
        frames, samples, campaigns = await _children(wave_id)
        await Contact.update({Contact.phone: "", Contact.token: ""}).where(Contact.wave == wave_id)
        await FrameRow.update({FrameRow.phone: ""}).where(FrameRow.frame.is_in(frames))
        await SampledElement.update({SampledElement.phone: ""}).where(
            SampledElement.sample.is_in(samples)
        )
        await Case.raw(
            "UPDATE cati_case SET phone = {} || CAST(id AS TEXT) WHERE campaign IN ("
            + ", ".join(str(int(c)) for c in campaigns)
            + ")",
            PURGED_CASE_PREFIX,
        )
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
