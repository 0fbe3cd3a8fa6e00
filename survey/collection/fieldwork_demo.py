"""Demo step: six days of web fieldwork for the open wave's released web sample, so that the
fieldwork page (网络调查进度) shows every disposition: sent, delivered, failed, opened,
started and broken off, partial, refused (「不再接收」), screened out, completed (with
answers and times), expired and moved to the telephone campaign, and reminders.

Seeded (``context.seed``), runs after the telephone demo (the switched invitations become cases
of its campaign); a second ``survey demo`` finds the events and changes nothing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from questionnaires import default_instruments
from survey.cati.mixed_mode import switch_to_phone
from survey.collection import dispositions as d
from survey.collection import responses
from survey.collection.respondent import screen_ids
from survey.collection.tables import Invitation, InvitationEvent, Response
from survey.db import write_transaction
from survey.db.tables import Unit
from survey.demo_context import DemoContext

# Final web outcome of each invitation and its probability.
OUTCOMES: tuple[tuple[str, float], ...] = (
    ("sent", 0.06), ("failed", 0.05), ("delivered", 0.22), ("opened", 0.09),
    ("breakoff", 0.06), ("partial", 0.04), ("refused", 0.04), ("screened_out", 0.04),
    ("completed", 0.33), ("expired", 0.03), ("to_phone", 0.04),
)  # fmt: skip
DAYS = 6


def _at(start: dt.datetime, hours: float) -> dt.datetime:
    return (start + dt.timedelta(hours=hours)).replace(microsecond=0)


async def extend_demo(context: DemoContext) -> list[str]:
    """Simulate the web fieldwork (see the module doc); returns lines for the console."""
    from survey.results.demo import demo_answers

    invitations = (
        await Invitation.select(
            Invitation.id, Invitation.stratum, Invitation.design_weight, Invitation.instrument_id
        )
        .where(
            (Invitation.wave == context.wave_id)
            & (Invitation.open_link.eq(False))
            & (Invitation.stratum != "demo")
            & Invitation.status.is_in(["pending", "started"])
        )
        .order_by(Invitation.id)
    )
    link = f"{context.base_url}/fieldwork/{context.wave_id}"
    ids = [int(r["id"]) for r in invitations]
    if not ids or await InvitationEvent.exists().where(
        InvitationEvent.invitation.is_in(ids) & (InvitationEvent.kind == d.SENT)
    ):
        return [f"网络调查：示范进度已存在或无网络样本，见 {link}"]
    rng = np.random.default_rng(context.seed + 16)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS)
    names = [name for name, _p in OUTCOMES]
    probs = np.array([p for _n, p in OUTCOMES])
    outcomes = rng.choice(len(names), size=len(ids), p=probs / probs.sum())
    communities: dict[str, list[tuple[int | None, str]]] = {}
    for row in await Unit.select(Unit.id, Unit.code, Unit.parent.code).where(
        Unit.level == "community"
    ):
        communities.setdefault(row["parent.code"], []).append((int(row["id"]), row["code"]))
    instruments = default_instruments()
    counts: dict[str, int] = {}
    switch: list[tuple[int, dt.datetime]] = []
    for row, outcome_index in zip(invitations, outcomes, strict=True):
        outcome = names[int(outcome_index)]
        counts[outcome] = counts.get(outcome, 0) + 1
        inv = int(row["id"])
        sent_at = _at(start, float(rng.uniform(0, 20)))
        events: list[tuple[int, int, int, dt.datetime, str]] = [(inv, d.SENT, 0, sent_at, "")]
        if outcome == "failed":
            events.append((inv, d.FAILED, 0, _at(sent_at, 0.05), "gateway"))
        elif outcome != "sent":
            events.append((inv, d.DELIVERED, 0, _at(sent_at, 0.05), "gateway"))
        opened_at = _at(sent_at, float(rng.uniform(0.2, 60)))
        if outcome in ("opened", "breakoff", "partial", "refused", "screened_out", "completed"):
            events.append((inv, d.OPENED, 0, opened_at, ""))
        if outcome == "refused":
            events.append((inv, d.REFUSED, 0, _at(opened_at, 0.01), "opt-out"))
        if outcome in ("delivered", "opened", "breakoff", "to_phone"):
            events.append((inv, d.REMINDED, 1, _at(sent_at, 72), ""))
        if outcome == "expired":
            await Invitation.update({Invitation.expires_at: _at(sent_at, 48)}).where(
                Invitation.id == inv
            )
        if outcome == "to_phone":
            switch.append((inv, _at(sent_at, 120)))
        async with write_transaction():
            await d.record_events(events)
        if outcome not in ("breakoff", "partial", "screened_out", "completed"):
            continue
        instrument = instruments[row["instrument_id"]]
        record = await responses.start_response(
            wave_id=context.wave_id,
            instrument=instrument,
            invitation_id=inv,
            stratum=row["stratum"],
            design_weight=row["design_weight"],
            current_page=1,
        )
        minutes = float(rng.uniform(3, 12))
        if outcome == "screened_out":
            await responses.complete_response(
                record.id, {"s_age": 2}, instrument, status="screened_out"
            )
        elif outcome == "completed":
            choices = communities.get(row["stratum"]) or [(None, "")]
            community_id, community_code = choices[int(rng.integers(len(choices)))]
            answers = demo_answers(
                rng, row["stratum"], community_code, 0.85, 0.7,
                int(rng.integers(2)), int(rng.integers(4)),
            )  # fmt: skip
            await responses.complete_response(
                record.id, answers, instrument, community_id=community_id
            )
        else:
            answers = {"s_age": 1, "s_resident": 1}
            screens = screen_ids(instrument, answers)
            half = (len(screens) + 1) // 2
            page = int(
                rng.integers(half, len(screens) - 1)
                if outcome == "partial"
                else rng.integers(2, half)
            )
            await responses.save_answers(record.id, answers, page)
            if outcome == "partial":
                await d.record_event(inv, d.PARTIAL, at=_at(opened_at, minutes / 60))
        done_at = _at(opened_at, minutes / 60)
        async with write_transaction():
            await Response.update(
                {
                    Response.started_at: opened_at,
                    Response.updated_at: done_at,
                    **(
                        {
                            Response.completed_at: done_at,
                            Response.duration_seconds: round(minutes * 60),
                        }
                        if outcome in ("completed", "screened_out")
                        else {}
                    ),
                }
            ).where(Response.id == record.id)
            kinds = [d.CONSENT, d.COMPLETED, d.SCREENED_OUT]
            await InvitationEvent.update({InvitationEvent.at: opened_at}).where(
                (InvitationEvent.invitation == inv) & (InvitationEvent.kind == kinds[0])
            )
            await InvitationEvent.update({InvitationEvent.at: done_at}).where(
                (InvitationEvent.invitation == inv) & InvitationEvent.kind.is_in(kinds[1:])
            )
    for inv, at in switch:
        await switch_to_phone(inv, username="supervisor", now=at)
    await d.record_expired(context.wave_id)
    label = {name: d.LABELS[d.KINDS[name]] for name in d.KINDS} | {"breakoff": "中途退出"}
    summary = "，".join(f"{label[k]} {n}" for k, n in sorted(counts.items()))
    return [f"网络调查：{len(ids)} 个短信邀请模拟 {DAYS} 天（{summary}）；见 {link}"]
