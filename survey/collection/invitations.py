"""Invitations: one-time links ``/s/<token>`` for residents, created in bulk for a wave.

A token is 16 random bytes (128 bits) from :mod:`secrets`, written URL-safe (22 characters).
Only its SHA-256 is stored with the invitation (``Invitation.token_hash``); the plain token is
kept beside the phone number in ``Contact`` (a separate table, purged after the wave) so the
SMS file can be exported later. Answers reference the invitation, never the number.

API
---
``create_invitations(wave_id, phones, instrument_id, expires_at, *, stratum="",
design_weight=None, batch=0) -> CreationSummary`` — one invitation and contact per phone number
(numbers already invited in the wave are skipped; a bad number rejects the whole list).
``create_open_link(wave_id, instrument_id, expires_at=None) -> str`` — an anonymous public link
(QR code; optional, non-probability): returns its token; each visitor gets a personal invitation.
``personal_from_open(open_invitation_id) -> str`` — that personal invitation (a new token).
``invite_sample(sample_id, *, expires_at=None) -> int`` — invitations for the released sampled
elements of a sample that have none yet. ``new_token()``, ``token_hash(token)``,
``close_for_phone(invitation_id) -> PhoneHandOver | None`` and ``erase_token(invitation_id)`` —
an invitation handed to the telephone (``survey.cati.mixed_mode``, in its transaction).
``purge_phones(wave_id, *, dry_run=False) -> int`` — the retention purge of a wave's numbers.
``read_phone_file(path) -> list[str]``. Every invitation's instrument must be written for the
web (a telephone script is refused); by default it is the programme's web instrument
(``survey.programmes.service.instrument_of_wave``).
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from survey.collection.tables import Contact, Invitation
from survey.db import write_transaction
from survey.db.tables import Wave
from survey.programmes.service import instrument_of_wave

TOKEN_BYTES = 16  # 128 bits of randomness
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
PHONE_PATTERN = re.compile(r"1[3-9][0-9]{9}")
DEFAULT_VALID_DAYS = 30
CHINA_TIME = datetime.timezone(datetime.timedelta(hours=8))


class InvitationError(Exception):
    """Invitations could not be created; the message is Chinese and names the row or wave."""


@dataclass(frozen=True, slots=True)
class CreatedInvitation:
    """One new invitation: its id, the plain token (only here and in ``Contact``) and number."""

    invitation_id: int
    token: str
    phone: str


@dataclass(frozen=True, slots=True)
class CreationSummary:
    """What ``create_invitations`` did: the new invitations and the numbers skipped (already
    invited in this wave)."""

    created: tuple[CreatedInvitation, ...]
    skipped: tuple[str, ...]


def new_token() -> str:
    """A fresh URL-safe token with 128 bits of randomness (22 characters)."""
    # The OS CSPRNG, not a seeded numpy Generator: a link token must be unguessable (the demo's
    # reproducible tokens are HMACs of the seed, see survey.collection.demo).
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def normalise_phone(text: str) -> str | None:
    """An 11-digit mainland mobile number from ``text`` (spaces, dashes and a +86/86 prefix are
    removed), or None if it is not one."""
    digits = re.sub(r"[\s\-()]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if PHONE_PATTERN.fullmatch(digits) else None


def read_phone_file(path: str | Path) -> list[str]:
    """Phone numbers from a text or CSV file: the first column of each non-empty line; a header
    line (no digit in it) is ignored. Raises ``InvitationError`` listing every bad line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvitationError(f"无法读取号码文件 {p}: {exc}") from exc
    phones: list[str] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        cell = line.split(",")[0].strip().strip('"')
        if not cell or (line_no == 1 and not any(ch.isdigit() for ch in cell)):
            continue
        phone = normalise_phone(cell)
        if phone is None:
            problems.append(f"{p.name} 第{line_no}行, 列 1: “{cell}”不是有效的11位手机号码")
        elif phone in seen:
            problems.append(f"{p.name} 第{line_no}行, 列 1: 号码 {phone} 与第{seen[phone]}行重复")
        else:
            seen[phone] = line_no
            phones.append(phone)
    if problems:
        more = f"（共 {len(problems)} 处问题）" if len(problems) > 1 else ""
        raise InvitationError("；".join(problems[:20]) + more)
    if not phones:
        raise InvitationError(f"{p.name}: 文件中没有手机号码")
    return phones


def _web_instrument(instrument_id: str) -> None:
    """A web invitation serves only an instrument written for self-completion on the web."""
    from survey.programmes.service import ProgrammeError, instrument_for_mode

    try:
        instrument_for_mode(instrument_id, "web")
    except ProgrammeError as exc:
        raise InvitationError(str(exc)) from exc


async def _check_wave_open(wave_id: int) -> None:
    """Invitations only for a wave in design or collection (not a closed or published one)."""
    wave = await Wave.select(Wave.status, Wave.month).where(Wave.id == wave_id).first()
    if wave is None:
        raise InvitationError(f"测评期 {wave_id} 不存在")
    if wave["status"] not in ("design", "collecting"):
        raise InvitationError(
            f"测评期 {wave['month']} 已结束（状态 {wave['status']}），不能再发邀请"
        )


async def _wave_expiry(wave_id: int) -> datetime.datetime:
    """The default expiry: the end of the wave's closing day (China time), else 30 days on."""
    wave = await Wave.select(Wave.closes_on, Wave.status).where(Wave.id == wave_id).first()
    if wave is None:
        raise InvitationError(f"测评期 {wave_id} 不存在")
    closes_on = wave["closes_on"]
    if closes_on is not None:
        # Valid through the whole closing day, China Standard Time (UTC+8).
        return datetime.datetime.combine(
            closes_on + datetime.timedelta(days=1), datetime.time(), tzinfo=CHINA_TIME
        )
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=DEFAULT_VALID_DAYS)


async def create_invitations(
    wave_id: int,
    phones: Sequence[str],
    instrument_id: str,
    expires_at: datetime.datetime | None = None,
    *,
    stratum: str = "",
    design_weight: float | None = None,
    batch: int = 0,
) -> CreationSummary:
    """Create one invitation (and its contact) per phone number for a wave, in one transaction.

    Every number must be a valid mobile number (else nothing is created and the error lists the
    bad entries by position). Numbers that already have a contact in the wave are skipped, so
    running the same list twice creates nothing the second time. ``expires_at`` defaults to the
    end of the wave's closing day (or 30 days from now).
    """
    _web_instrument(instrument_id)
    cleaned: list[str] = []
    problems: list[str] = []
    for position, raw in enumerate(phones, start=1):
        phone = normalise_phone(raw)
        if phone is None:
            problems.append(f"第{position}个号码 “{raw}” 不是有效的11位手机号码")
        elif phone not in cleaned:
            cleaned.append(phone)
    if problems:
        raise InvitationError("；".join(problems[:20]))
    await _check_wave_open(wave_id)
    if expires_at is None:
        expires_at = await _wave_expiry(wave_id)
    created: list[CreatedInvitation] = []
    skipped: list[str] = []
    async with write_transaction():
        existing = {
            r["phone"]
            for r in await Contact.select(Contact.phone).where(
                (Contact.wave == wave_id) & Contact.phone.is_in(cleaned or [""])
            )
        }
        for phone in cleaned:
            if phone in existing:
                skipped.append(phone)
                continue
            token = new_token()
            invitation_id = await _insert_invitation(
                wave_id, token, instrument_id, expires_at, stratum, design_weight, batch
            )
            await Contact.insert(
                Contact(wave=wave_id, phone=phone, invitation=invitation_id, token=token)
            )
            created.append(CreatedInvitation(invitation_id, token, phone))
    return CreationSummary(tuple(created), tuple(skipped))


async def _insert_invitation(
    wave_id: int,
    token: str,
    instrument_id: str,
    expires_at: datetime.datetime,
    stratum: str,
    design_weight: float | None,
    batch: int,
    sampled_element: int | None = None,
) -> int:
    rows = await Invitation.insert(
        Invitation(
            wave=wave_id,
            token_hash=token_hash(token),
            instrument_id=instrument_id,
            expires_at=expires_at,
            status="pending",
            stratum=stratum,
            design_weight=design_weight,
            batch=batch,
            sampled_element=sampled_element,
        )
    ).returning(Invitation.id)
    invitation_id = int(rows[0]["id"])
    from survey.collection.dispositions import CREATED, record_event

    await record_event(invitation_id, CREATED)
    return invitation_id


async def create_open_link(
    wave_id: int, instrument_id: str, expires_at: datetime.datetime | None = None
) -> str:
    """An anonymous public link for a wave (a QR code in public places); returns its token.

    Answers through it are a non-probability sample: every visitor who consents gets a personal
    invitation (``personal_from_open``) whose response is flagged ``non_probability`` and is
    excluded from the official indices by default. Nothing is stored with a phone number."""
    _web_instrument(instrument_id)
    await _check_wave_open(wave_id)
    if expires_at is None:
        expires_at = await _wave_expiry(wave_id)
    token = new_token()
    async with write_transaction():
        await Invitation.insert(
            Invitation(
                wave=wave_id,
                token_hash=token_hash(token),
                instrument_id=instrument_id,
                expires_at=expires_at,
                status="open",
                stratum="open",
                open_link=True,
            )
        )
    return token


async def personal_from_open(open_invitation_id: int) -> str:
    """A new personal invitation (token returned) for one visitor of an open link: same wave,
    instrument and expiry, ``open_link`` set."""
    row = (
        await Invitation.select(Invitation.wave, Invitation.instrument_id, Invitation.expires_at)
        .where((Invitation.id == open_invitation_id) & (Invitation.status == "open"))
        .first()
    )
    if row is None:
        raise InvitationError("公开链接不存在或已停用")
    token = new_token()
    async with write_transaction():
        await Invitation.insert(
            Invitation(
                wave=row["wave"],
                token_hash=token_hash(token),
                instrument_id=row["instrument_id"],
                expires_at=row["expires_at"],
                status="pending",
                stratum="open",
                open_link=True,
            )
        )
    return token


@dataclass(frozen=True, slots=True)
class PhoneHandOver:
    """An invitation closed for the web to be called instead (sequential mixed mode): what the
    telephone case takes over. ``phone`` is None when the invitation has no contact."""

    wave_id: int
    stratum: str
    design_weight: float | None
    sampled_element: int | None
    phone: str | None


async def close_for_phone(invitation_id: int) -> PhoneHandOver | None:
    """Inside the caller's transaction: set a ``pending`` or ``started`` invitation to ``phone``
    (its link then shows the closed page) and return what the case needs; None when it is no
    longer open for the web. The update takes the invitation's row lock (PostgreSQL) first and
    matches nothing once a web completion has committed (``survey.cati.mixed_mode``)."""
    moved = (
        await Invitation.update({Invitation.status: "phone"})
        .where((Invitation.id == invitation_id) & Invitation.status.is_in(["pending", "started"]))
        .returning(
            Invitation.wave,
            Invitation.stratum,
            Invitation.design_weight,
            Invitation.sampled_element,
        )
    )
    if not moved:
        return None
    info = moved[0]
    contact = await Contact.select(Contact.phone).where(Contact.invitation == invitation_id).first()
    return PhoneHandOver(
        int(info["wave"]),
        info["stratum"],
        info["design_weight"],
        info["sampled_element"],
        contact["phone"] if contact else None,
    )


async def erase_token(invitation_id: int) -> None:
    """Forget the plain token of an invitation's contact (its link is no longer sent)."""
    await Contact.update({Contact.token: ""}).where(Contact.invitation == invitation_id)


async def purge_phones(wave_id: int, *, dry_run: bool = False) -> int:
    """Blank the numbers and plain tokens of a wave's contacts (rows stay, so invitations sent
    still count); returns how many held a number. ``survey.lifecycle.retention`` calls it
    inside its transaction."""
    count = await Contact.count().where((Contact.wave == wave_id) & (Contact.phone != ""))
    if not dry_run:
        await Contact.update({Contact.phone: "", Contact.token: ""}).where(Contact.wave == wave_id)
    return count


async def reweigh_invitations(element_ids: list[int], weight: float) -> None:
    """Inside a release's transaction: the new design ``weight`` of these sampled elements onto
    their invitations and the responses to them (``survey.design.service.Fielding.reweigh``)."""
    from survey.collection.tables import Response

    invitations = Invitation.select(Invitation.id).where(
        Invitation.sampled_element.is_in(element_ids)
    )
    await Invitation.update({Invitation.design_weight: weight}).where(
        Invitation.sampled_element.is_in(element_ids)
    )
    await Response.update({Response.design_weight: weight}).where(
        Response.invitation.is_in(invitations)
    )


async def invite_sample(sample_id: int, *, expires_at: datetime.datetime | None = None) -> int:
    """Invitations for every released sampled element of a sample that has none yet.

    Each gets the sample's wave, the programme's web instrument (``instrument_of_wave``), the
    element's stratum, design weight and batch, a link to the element and a contact with the
    element's phone. Idempotent: returns the number created (0 when
    every released element is already invited).
    """
    from survey.design.tables import Sample, SampledElement

    sample = await Sample.select(Sample.wave).where(Sample.id == sample_id).first()
    if sample is None:
        raise InvitationError(f"样本 {sample_id} 不存在")
    wave_id = int(sample["wave"])
    instrument_id = await instrument_of_wave(wave_id, "web")
    if expires_at is None:
        expires_at = await _wave_expiry(wave_id)
    created = 0
    async with write_transaction():
        elements = await SampledElement.select(
            SampledElement.id,
            SampledElement.stratum,
            SampledElement.design_weight,
            SampledElement.batch,
            SampledElement.phone,
        ).where(
            (SampledElement.sample == sample_id)
            & (SampledElement.released == True)  # noqa: E712 - Piccolo builds SQL from ==
            & SampledElement.id.not_in(
                Invitation.select(Invitation.sampled_element).where(
                    Invitation.sampled_element.is_not_null()
                )
            )
        )
        for element in elements:
            token = new_token()
            invitation_id = await _insert_invitation(
                wave_id,
                token,
                instrument_id,
                expires_at,
                element["stratum"],
                element["design_weight"],
                element["batch"],
                element["id"],
            )
            await Contact.insert(
                Contact(wave=wave_id, phone=element["phone"], invitation=invitation_id, token=token)
            )
            created += 1
    return created


__all__ = [
    "CreatedInvitation",
    "CreationSummary",
    "InvitationError",
    "PhoneHandOver",
    "close_for_phone",
    "create_invitations",
    "create_open_link",
    "erase_token",
    "invite_sample",
    "new_token",
    "normalise_phone",
    "personal_from_open",
    "purge_phones",
    "read_phone_file",
    "token_hash",
]
