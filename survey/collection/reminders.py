"""Reminder SMS for web invitations that are still open, through the same gateway interface as
the first message (``survey.collection.sms``).

An invitation is due a reminder when it was sent, is not completed, screened out, refused
(「不再接收」) or moved to the telephone campaign, has not expired, has had fewer than
``max_reminders`` reminders, and its last message (the invitation or a reminder) is at least
``after_days`` days old. The reminder carries the same link. Each reminder is a ``reminded``
event numbered 1, 2, … (unique per invitation: the k-th reminder is recorded once).

API
---
``reminder_text(region_name, link) -> str`` (Chinese, under 70 characters unless the link alone
is longer), ``reminder_due(events, now, after_days, max_reminders) -> int | None`` (pure: the
number of the reminder due, or None), ``due_reminders(wave_id, base_url, …) -> list[Reminder]``,
``send_reminders(wave_id, base_url, gateway, …) -> int``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from survey.collection.dispositions import FINISHED, REMINDED, SENT, TO_PHONE, record_events
from survey.collection.sms import SmsGateway, SmsMessage, erase_finished_tokens, wave_region_name
from survey.collection.tables import Contact, Invitation, InvitationEvent
from survey.db import write_transaction

REMINDER_LIMIT = 70  # a reminder must stay strictly under one SMS of Chinese text
DEFAULT_AFTER_DAYS = 3
DEFAULT_MAX_REMINDERS = 2


class ReminderError(Exception):
    """Reminders could not be prepared; the message is Chinese."""


def reminder_text(region_name: str, link: str) -> str:
    """The reminder: the longest wording under 70 characters, else the shortest (the link is
    never cut)."""
    variants = (
        f"【{region_name}政法委】提醒：平安建设群众满意度调查尚未完成，约3分钟，匿名：{link}",
        f"【{region_name}】提醒：平安建设调查尚未完成，约3分钟，匿名：{link}",
        f"【{region_name}】提醒：平安建设调查尚未完成：{link}",
        f"【{region_name}】调查提醒：{link}",
        f"调查提醒：{link}",
    )
    for text in variants:
        if len(text) < REMINDER_LIMIT:
            return text
    return variants[-1]


def reminder_due(
    events: Iterable[tuple[int, dt.datetime]],
    now: dt.datetime,
    after_days: float,
    max_reminders: int,
) -> int | None:
    """The number (1, 2, …) of the reminder an invitation is due, from its events ``(kind,
    at)``; None when none is due (not sent yet, finished, moved to the phone, ``max_reminders``
    reached, or the last message younger than ``after_days`` days)."""
    last_message: dt.datetime | None = None
    reminders = 0
    for kind, at in events:
        if kind in FINISHED or kind == TO_PHONE:
            return None
        if kind in (SENT, REMINDED):
            reminders += kind == REMINDED
            last_message = at if last_message is None else max(last_message, at)
    if last_message is None or reminders >= max_reminders:
        return None
    if now - last_message < dt.timedelta(days=after_days):
        return None
    return reminders + 1


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder to send: the invitation, its number (k-th reminder), phone and text."""

    invitation_id: int
    seq: int
    phone: str
    link: str
    text: str


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def due_reminders(
    wave_id: int,
    base_url: str,
    *,
    after_days: float = DEFAULT_AFTER_DAYS,
    max_reminders: int = DEFAULT_MAX_REMINDERS,
    now: dt.datetime | None = None,
) -> list[Reminder]:
    """The reminders due now for the wave's invitations (see module doc), in invitation order."""
    if after_days < 0 or max_reminders < 0:
        raise ReminderError("间隔天数和最多提醒次数不能为负数")
    now = now or dt.datetime.now(dt.UTC)
    region = await wave_region_name(wave_id)
    open_ids = Invitation.select(Invitation.id).where(
        (Invitation.wave == wave_id)
        & (Invitation.open_link.eq(False))
        & Invitation.status.is_in(["pending", "started"])
        & (Invitation.expires_at > now)
    )
    contacts = (
        await Contact.select(Contact.phone, Contact.token, Contact.invitation)
        .where(
            (Contact.wave == wave_id) & (Contact.token != "") & Contact.invitation.is_in(open_ids)
        )
        .order_by(Contact.invitation)
    )
    if not contacts:
        return []
    ids = [int(c["invitation"]) for c in contacts]
    history: dict[int, list[tuple[int, dt.datetime]]] = {}
    for start in range(0, len(ids), 5000):
        for row in await InvitationEvent.select(
            InvitationEvent.invitation, InvitationEvent.kind, InvitationEvent.at
        ).where(
            InvitationEvent.invitation.is_in(ids[start : start + 5000])
            & InvitationEvent.kind.is_in([SENT, REMINDED, TO_PHONE, *FINISHED])
        ):
            history.setdefault(int(row["invitation"]), []).append(
                (int(row["kind"]), _utc(row["at"]))
            )
    base = base_url.rstrip("/")
    out: list[Reminder] = []
    for contact in contacts:
        invitation = int(contact["invitation"])
        seq = reminder_due(history.get(invitation, []), now, after_days, max_reminders)
        if seq is None:
            continue
        link = f"{base}/s/{contact['token']}"
        out.append(Reminder(invitation, seq, contact["phone"], link, reminder_text(region, link)))
    return out


async def send_reminders(
    wave_id: int,
    base_url: str,
    gateway: SmsGateway,
    *,
    after_days: float = DEFAULT_AFTER_DAYS,
    max_reminders: int = DEFAULT_MAX_REMINDERS,
    now: dt.datetime | None = None,
) -> int:
    """Hand the due reminders to ``gateway`` and record each accepted one as a ``reminded``
    event; returns how many were accepted. Tokens of finished invitations are erased first."""
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    await erase_finished_tokens(wave_id, now)
    due = await due_reminders(
        wave_id, base_url, after_days=after_days, max_reminders=max_reminders, now=now
    )
    accepted = gateway.send([SmsMessage(r.phone, r.text) for r in due])
    async with write_transaction():
        await record_events((r.invitation_id, REMINDED, r.seq, now, "") for r in due[:accepted])
    return accepted


class MemoryGateway:
    """A gateway that keeps the messages, for a file handed to the browser (the web button):
    ``csv_text()`` has the ``phone,text`` rows that ``FileGateway`` would append."""

    def __init__(self) -> None:
        self.messages: list[SmsMessage] = []

    def send(self, messages: Sequence[SmsMessage]) -> int:
        self.messages.extend(messages)
        return len(messages)

    def csv_text(self) -> str:
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        writer.writerow(("phone", "text"))
        writer.writerows((m.phone, m.text) for m in self.messages)
        return buffer.getvalue()
