"""SMS for invitations: the Chinese text with the link, the CSV export and a gateway interface.

No real SMS provider is wired in: ``FileGateway`` appends the messages to a CSV file (what an
operator uploads to the provider's bulk-send page). A provider adapter implements ``SmsGateway``.

CSV columns (UTF-8 with BOM, so spreadsheet programs open the Chinese correctly):
``phone`` (11 digits), ``invitation_id``, ``link`` (``<base_url>/s/<token>``), ``text`` (the
message, the link included). One row per invitation of the wave that is not completed,
expired or revoked, in invitation order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from survey.cells import safe_cell
from survey.collection.tables import Contact
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


async def _region_name(wave_id: int) -> str:
    row = await Wave.select(Wave.programme._.region._.name).where(Wave.id == wave_id).first()
    if row is None:
        from survey.collection.invitations import InvitationError

        raise InvitationError(f"测评期 {wave_id} 不存在")
    return str(row["programme.region.name"])


async def wave_messages(wave_id: int, base_url: str) -> list[tuple[str, int, str, str]]:
    """``(phone, invitation_id, link, text)`` for every sendable invitation of the wave."""
    region = await _region_name(wave_id)
    rows = (
        await Contact.select(Contact.phone, Contact.token, Contact.invitation)
        .where(
            (Contact.wave == wave_id)
            & Contact.invitation.is_not_null()
            & (Contact.token != "")
            & Contact.invitation._.status.is_in(list(_SENDABLE))
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
    """Hand every sendable invitation's message to ``gateway``; returns the number accepted.

    Once the gateway has accepted them, the plain tokens are erased from ``Contact`` (only
    their hashes remain, in ``Invitation``), so a copy of the database cannot open the links;
    a message that must be sent again needs a new invitation."""
    rows = await wave_messages(wave_id, base_url)
    accepted = gateway.send([SmsMessage(p, t) for p, _i, _l, t in rows])
    sent = [invitation for _p, invitation, _l, _t in rows[:accepted]]
    if sent:
        async with write_transaction():
            await Contact.update({Contact.token: ""}).where(Contact.invitation.is_in(sent))
    return accepted
