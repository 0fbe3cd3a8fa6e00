"""Sequential mixed mode: web invitations still not completed after N days become cases of the
wave's telephone campaign — same sampled element, stratum and design weight, the switch
recorded (``ModeSwitch`` and a ``to_phone`` invitation event).

Never both modes: the switch sets the invitation's status to ``phone`` (its web link then shows
「本调查已改为电话访问」) in the same transaction that creates the case, and only while the
invitation is ``pending`` or ``started``. A web completion locks the invitation row and only
completes while the status is not ``phone`` (``survey.collection.responses``). So under any
interleaving exactly one survives: a completion that commits first leaves nothing to switch
(no case is created), a switch that commits first makes the completion fail (the resident sees
the phone notice). PostgreSQL: row locks; SQLite: ``BEGIN IMMEDIATE`` serialises both.

API
---
``phone_candidates(wave_id, *, after_days, strata=None, now=None) -> list[int]``,
``switch_to_phone(invitation_id, *, username="", now=None) -> int | None`` (the case id, or None
when the invitation can no longer switch), ``to_phone(wave_id, …) -> SwitchSummary``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from survey.cati.cases import CaseInput, CatiError, find_or_create_campaign, insert_cases, utc_now
from survey.cati.tables import Case, ModeSwitch
from survey.collection.dispositions import FINISHED, SENT, TO_PHONE, record_event
from survey.collection.invitations import close_for_phone, erase_token
from survey.collection.tables import Contact, Invitation, InvitationEvent
from survey.db import write_transaction
from survey.design.tables import SampledElement

DEFAULT_AFTER_DAYS = 7


class _Skip(Exception):
    """Roll back one switch (the number is already a case of the campaign)."""


@dataclass(frozen=True, slots=True)
class SwitchSummary:
    """What ``to_phone`` did: cases created, and invitations skipped (completed meanwhile, or
    their number already in the campaign)."""

    switched: int
    skipped: int


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def phone_candidates(
    wave_id: int,
    *,
    after_days: float = DEFAULT_AFTER_DAYS,
    strata: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Invitations of the wave (not the public link's) still open for the web (pending or
    started, not finished or refused), first sent at least ``after_days`` days ago (or created
    then, if never sent), with a phone number; optionally only of ``strata``."""
    if after_days < 0:
        raise CatiError("天数不能为负数")
    now = now or utc_now()
    query = Invitation.select(Invitation.id, Invitation.created_at).where(
        (Invitation.wave == wave_id)
        & (Invitation.open_link.eq(False))
        & Invitation.status.is_in(["pending", "started"])
        & (Invitation.expires_at > now)
        & Invitation.id.is_in(
            Contact.select(Contact.invitation).where(
                (Contact.wave == wave_id) & Contact.invitation.is_not_null()
            )
        )
    )
    if strata:
        query = query.where(Invitation.stratum.is_in(list(strata)))
    rows = await query.order_by(Invitation.id)
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    first_sent: dict[int, dt.datetime] = {}
    finished: set[int] = set()
    for start in range(0, len(ids), 5000):
        for e in await InvitationEvent.select(
            InvitationEvent.invitation, InvitationEvent.kind, InvitationEvent.at
        ).where(
            InvitationEvent.invitation.is_in(ids[start : start + 5000])
            & InvitationEvent.kind.is_in([SENT, TO_PHONE, *FINISHED])
        ):
            invitation = int(e["invitation"])
            if e["kind"] == SENT:
                at = _utc(e["at"])
                first_sent[invitation] = min(first_sent.get(invitation, at), at)
            else:
                finished.add(invitation)
    cutoff = now - dt.timedelta(days=after_days)
    return [
        int(r["id"])
        for r in rows
        if r["id"] not in finished and first_sent.get(r["id"], _utc(r["created_at"])) <= cutoff
    ]


async def switch_to_phone(
    invitation_id: int, *, username: str = "", now: dt.datetime | None = None
) -> int | None:
    """Move one invitation to the telephone campaign (see module doc); the new case's id, or
    None when it is no longer open for the web (completed, switched, expired …) or its number
    is already a case of the campaign."""
    now = (now or utc_now()).replace(microsecond=0)
    try:
        async with write_transaction():
            info = await close_for_phone(invitation_id)
            if info is None:
                return None
            if info.phone is None:
                raise _Skip
            element = (
                await SampledElement.select(SampledElement.id, SampledElement.batch)
                .where(SampledElement.id == info.sampled_element)
                .first()
                if info.sampled_element is not None
                else None
            )
            campaign_id = await find_or_create_campaign(info.wave_id, "phone")
            weight = info.design_weight
            created = await insert_cases(
                campaign_id,
                [
                    CaseInput(
                        info.phone,
                        info.stratum,
                        float(weight) if weight else 1.0,
                        int(element["batch"]) if element else 1,
                        int(element["id"]) if element else None,
                    )
                ],
                now,
            )
            if not created:
                raise _Skip
            case = (
                await Case.select(Case.id)
                .where((Case.campaign == campaign_id) & (Case.phone == info.phone))
                .first()
            )
            assert case is not None
            case_id = int(case["id"])
            await ModeSwitch.insert(
                ModeSwitch(
                    invitation=invitation_id,
                    call_case=case_id,
                    switched_at=now,
                    switched_by=username,
                )
            )
            await record_event(invitation_id, TO_PHONE, at=now, detail=f"case {case_id}")
            await erase_token(invitation_id)
    except _Skip:
        return None
    return case_id


async def to_phone(
    wave_id: int,
    *,
    after_days: float = DEFAULT_AFTER_DAYS,
    strata: Sequence[str] | None = None,
    username: str = "",
    now: dt.datetime | None = None,
) -> SwitchSummary:
    """Switch every candidate (``phone_candidates``) to the telephone campaign, one
    transaction each."""
    now = now or utc_now()
    candidates = await phone_candidates(wave_id, after_days=after_days, strata=strata, now=now)
    switched = 0
    for invitation_id in candidates:
        if await switch_to_phone(invitation_id, username=username, now=now) is not None:
            switched += 1
    return SwitchSummary(switched, len(candidates) - switched)
