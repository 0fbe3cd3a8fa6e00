"""SMS for invitations: the Chinese text with the link, the CSV export and a gateway interface.

No real SMS provider is wired in: ``FileGateway`` appends the messages to a CSV file (what an
operator uploads to the provider's bulk-send page). A provider adapter implements ``SmsGateway``.

CSV columns (UTF-8 with BOM, so spreadsheet programs open the Chinese correctly):
``phone`` (11 digits), ``invitation_id``, ``link`` (``<base_url>/s/<token>``), ``text`` (the
message, the link included). One row per invitation of the wave that is not completed,
expired or revoked and was not sent yet, in invitation order.

Sending records a ``sent`` event per accepted message (``survey.collection.dispositions``).
The plain token stays beside the number in ``Contact`` while a reminder may still need the same
link (``survey.collection.reminders``), and is erased once the invitation is finished
(completed, screened out, refused, moved to the phone) or expired — ``erase_finished_tokens``,
run by every send and reminder run — and with the number by ``survey purge-contacts``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from survey.cells import safe_cell
from survey.collection.dispositions import FINISHED, SENT, TO_PHONE, record_events
from survey.collection.tables import Contact, Invitation, InvitationEvent
from survey.db import write_transaction
from survey.db.tables import Wave

SMS_LIMIT = 70  # characters of one SMS with Chinese text (longer ones are split and cost more)
EXPORT_COLUMNS = ("phone", "invitation_id", "link", "text")
_SENDABLE = ("pending", "started")


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One message to one number."""

    phone: str
    text: str


class SmsGateway(Protocol):
    """Something that sends messages; returns how many were accepted."""

    def send(self, messages: Sequence[SmsMessage]) -> int: ...


class FileGateway:
    """A gateway that appends ``phone,text`` rows to a CSV file instead of sending."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def send(self, messages: Sequence[SmsMessage]) -> int:
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(("phone", "text"))
            writer.writerows((safe_cell(m.phone), safe_cell(m.text)) for m in messages)
        return len(messages)


def sms_text(region_name: str, link: str) -> str:
    """The invitation text: the longest of a few wordings that fits in one SMS (70 characters),
    else the shortest (the link is never cut)."""
    variants = (
        f"【{region_name}政法委】您好，诚邀您参加平安建设群众满意度调查，约3分钟，匿名作答：{link}",
        f"【{region_name}】诚邀您参加平安建设调查，约3分钟，匿名：{link}",
        f"【{region_name}】邀您参加平安建设调查，约3分钟：{link}",
        f"【{region_name}】平安建设调查：{link}",
        f"平安建设调查：{link}",
    )
    for text in variants:
        if len(text) <= SMS_LIMIT:
            return text
    return variants[-1]


async def wave_region_name(wave_id: int) -> str:
    """The name of the region of wave ``wave_id``'s programme (the SMS signature)."""
    row = await Wave.select(Wave.programme._.region._.name).where(Wave.id == wave_id).first()
    if row is None:
        from survey.collection.invitations import InvitationError

        raise InvitationError(f"测评期 {wave_id} 不存在")
    return str(row["programme.region.name"])


async def wave_messages(wave_id: int, base_url: str) -> list[tuple[str, int, str, str]]:
    """``(phone, invitation_id, link, text)`` for every sendable invitation of the wave."""
    region = await wave_region_name(wave_id)
    sent = InvitationEvent.select(InvitationEvent.invitation).where(InvitationEvent.kind == SENT)
    rows = (
        await Contact.select(Contact.phone, Contact.token, Contact.invitation)
        .where(
            (Contact.wave == wave_id)
            & Contact.invitation.is_not_null()
            & (Contact.token != "")
            & Contact.invitation._.status.is_in(list(_SENDABLE))
            & Contact.invitation.not_in(sent)
        )
        .order_by(Contact.invitation)
    )
    base = base_url.rstrip("/")
    out: list[tuple[str, int, str, str]] = []
    for row in rows:
        link = f"{base}/s/{row['token']}"
        out.append((row["phone"], int(row["invitation"]), link, sms_text(region, link)))
    return out


async def export_sms_csv(wave_id: int, base_url: str) -> str:
    """The SMS file of a wave as CSV text (see module doc for the columns)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows([safe_cell(v) for v in row] for row in await wave_messages(wave_id, base_url))
    return buffer.getvalue()


async def send_invitations(wave_id: int, base_url: str, gateway: SmsGateway) -> int:
    """Hand every invitation not sent yet to ``gateway``; returns the number accepted, each
    recorded as a ``sent`` event (so a second run sends nothing again). The plain tokens of
    finished invitations are then erased (see module doc)."""
    rows = await wave_messages(wave_id, base_url)
    accepted = gateway.send([SmsMessage(p, t) for p, _i, _l, t in rows])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    async with write_transaction():
        await record_events(
            (invitation, SENT, 0, now, "") for _p, invitation, _l, _t in rows[:accepted]
        )
    await erase_finished_tokens(wave_id)
    return accepted


async def erase_finished_tokens(wave_id: int, now: dt.datetime | None = None) -> int:
    """Erase the plain tokens (only their hashes stay, in ``Invitation``) of the wave's
    invitations that need no more messages: finished (completed, screened out, refused), moved
    to the phone, revoked or past their expiry. Returns how many were erased."""
    now = now or dt.datetime.now(dt.UTC)
    finished = InvitationEvent.select(InvitationEvent.invitation).where(
        InvitationEvent.kind.is_in([*FINISHED, TO_PHONE])
    )
    async with write_transaction():
        erased = (
            await Contact.update({Contact.token: ""})
            .where(
                (Contact.wave == wave_id)
                & (Contact.token != "")
                & Contact.invitation.is_not_null()
                & (
                    Contact.invitation.is_in(finished)
                    | Contact.invitation.is_in(
                        Invitation.select(Invitation.id).where(
                            (Invitation.wave == wave_id)
                            & (
                                Invitation.status.is_in(
                                    ["completed", "expired", "revoked", "phone"]
                                )
                                | (Invitation.expires_at <= now)
                            )
                        )
                    )
                )
            )
            .returning(Contact.id)
        )
    return len(erased)
