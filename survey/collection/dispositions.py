"""Dispositions of web invitations, kept as events; AAPOR rates for web invitations.

Every step of an invitation's fieldwork is an ``InvitationEvent`` row with its time: created,
sent, reminded, delivered / failed (the SMS gateway's delivery report), opened (the first GET
of the intro by a browser), consent, partial (half the screens passed), screened out,
completed, expired, refused (「不再接收」 on the intro page) and to-phone (moved to the
telephone campaign). A step's ``kind`` code is also its precedence, so the current disposition
of an invitation is ``max(kind)`` of its events (to-phone aside: it is a flag — the invitation's
status ``phone`` — and the web disposition stays what it was). Every event write also raises
``Invitation.disposition`` to that maximum in the same transaction (an UPDATE that only raises
it), so counting a million invitations needs no pass over ten million events;
``disposition_counts_from_events`` recomputes the same from the events (tests check both agree)
and ``repair_dispositions`` resets the kept value from the events. SQL aggregates throughout,
never a Python loop over events.

AAPOR codes for web invitations of specifically named persons (Standard Definitions, 10th ed.,
internet surveys), ``WEB_AAPOR``: completed 1.1 (I), partial 1.2 (P), refused 2.111 (explicit
refusal, R), consent without finishing 2.12 (break-off, R), opened without consent 2.112
(logged on, no item answered: implicit refusal, R), sent / reminded / delivered / expired with
nothing returned 3.19 (UH), not sent 3.11 (UH), returned undelivered 3.30 (UO), screened out
4.10 (NE). The rates are ``survey.estimation.aapor``'s, the same code as the telephone rates.

API
---
``record_event(invitation_id, kind, *, at=None, seq=0, detail="") -> bool`` (False: already
recorded), ``record_events(rows)``, ``send_once(rows, send) -> int`` (messages handed to the
gateway at most once, also by concurrent runs), ``is_browser_open(method, headers) -> bool``,
``record_expired(wave_id, now=None) -> int``, ``disposition_counts(wave_id) -> list[KindCount]``,
``disposition_counts_from_events(wave_id)``, ``repair_dispositions(wave_id) -> int``,
``web_rates(wave_id, e=None) -> WebRates``, ``invitation_history(invitation_id)``,
``record_delivery_reports(wave_id, path) -> int``, ``opt_out(token) -> bool``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from survey.collection.tables import Contact, Invitation, InvitationEvent
from survey.db import write_transaction
from survey.estimation.aapor import (
    DispositionCounts,
    ResponseRates,
    aapor_category,
    response_rates,
)

# kind codes: the precedence of the step (the highest one is the current disposition).
CREATED, TO_PHONE, SENT, REMINDED, FAILED, DELIVERED = 0, 1, 10, 11, 15, 20
EXPIRED, OPENED, CONSENT, REFUSED, PARTIAL, SCREENED_OUT, COMPLETED = 30, 40, 50, 60, 70, 80, 90
KINDS: dict[str, int] = {
    "created": CREATED, "to_phone": TO_PHONE, "sent": SENT, "reminded": REMINDED,
    "failed": FAILED, "delivered": DELIVERED, "expired": EXPIRED, "opened": OPENED,
    "consent": CONSENT, "refused": REFUSED, "partial": PARTIAL, "screened_out": SCREENED_OUT,
    "completed": COMPLETED,
}  # fmt: skip
KIND_NAMES: dict[int, str] = {code: name for name, code in KINDS.items()}
LABELS: dict[int, str] = {
    CREATED: "已创建未发送", TO_PHONE: "已改为电话访问", SENT: "已发送", REMINDED: "已提醒",
    FAILED: "发送失败", DELIVERED: "已送达", EXPIRED: "已过期", OPENED: "已打开",
    CONSENT: "已开始未完成", REFUSED: "拒绝（不再接收）", PARTIAL: "部分完成",
    SCREENED_OUT: "不符合条件", COMPLETED: "已完成",
}  # fmt: skip
WEB_AAPOR: dict[int, str] = {
    CREATED: "3.11", SENT: "3.19", REMINDED: "3.19", FAILED: "3.30", DELIVERED: "3.19",
    EXPIRED: "3.19", OPENED: "2.112", CONSENT: "2.12", REFUSED: "2.111", PARTIAL: "1.2",
    SCREENED_OUT: "4.10", COMPLETED: "1.1",
}  # fmt: skip
# The response status that ends a web interview → its event.
RESPONSE_EVENTS: dict[str, int] = {
    "completed": COMPLETED,
    "screened_out": SCREENED_OUT,
    "partial": PARTIAL,
}
FINISHED = (REFUSED, SCREENED_OUT, COMPLETED)  # nothing more to send to these

# Link-preview fetchers of chat and SMS apps, crawlers and HTTP libraries (case-insensitive).
_PREVIEW_AGENTS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|facebookexternalhit|facebot|whatsapp|telegram|slack|"
    r"discord|skypeuri|linkedin|embedly|vkshare|pinterest|qq-url|urlmanager|wechat-?share|"
    r"bingpreview|google-?(?:site|read|http)|headlesschrome-preview|curl|wget|python|httpx|"
    r"aiohttp|go-http|okhttp|java/|libwww|apache-httpclient|node-fetch|axios",
    re.IGNORECASE,
)


def is_browser_open(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request of the intro counts as the resident opening the link: a GET (not a
    HEAD probe) from a browser (``User-Agent`` starting ``Mozilla/`` and naming no preview
    fetcher, crawler or HTTP library) that asks for HTML to show (``Accept`` with
    ``text/html``) and is not a prefetch (``Purpose``/``Sec-Purpose: prefetch``)."""
    if method.upper() != "GET":
        return False
    lower = {k.lower(): v for k, v in headers.items()}
    agent = lower.get("user-agent", "")
    if not agent.startswith("Mozilla/") or _PREVIEW_AGENTS.search(agent):
        return False
    if "text/html" not in lower.get("accept", ""):
        return False
    purpose = (lower.get("sec-purpose", "") + lower.get("purpose", "")).lower()
    return "prefetch" not in purpose and "prerender" not in purpose


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


async def record_event(
    invitation_id: int,
    kind: int,
    *,
    at: dt.datetime | None = None,
    seq: int = 0,
    detail: str = "",
) -> bool:
    """Record one step of an invitation; True if new, False if this (kind, seq) was already
    recorded (the unique index keeps one, also under concurrent calls)."""
    async with write_transaction():
        rows = (
            await InvitationEvent.insert(
                InvitationEvent(
                    invitation=invitation_id,
                    kind=kind,
                    seq=seq,
                    at=at or _now(),
                    detail=detail[:200],
                )
            )
            .on_conflict(
                target=(InvitationEvent.invitation, InvitationEvent.kind, InvitationEvent.seq),
                action="DO NOTHING",
            )
            .returning(InvitationEvent.id)
        )
        if rows:  # a repeat (the intro opened again) writes nothing
            await _raise_disposition([invitation_id], kind)
    return bool(rows)


async def _raise_disposition(invitation_ids: list[int], kind: int) -> None:
    """Keep ``Invitation.disposition`` the highest kind of the events: an UPDATE that only
    raises it (``disposition < kind``), so concurrent writers end at the maximum in any order."""
    if kind == TO_PHONE or not invitation_ids:
        return
    for start in range(0, len(invitation_ids), 5000):
        await Invitation.update({Invitation.disposition: kind}).where(
            Invitation.id.is_in(invitation_ids[start : start + 5000])
            & (Invitation.disposition < kind)
        )


async def _insert_new(
    rows: Sequence[tuple[int, int, int, dt.datetime, str]],
) -> set[tuple[int, int, int]]:
    """Insert the steps of ``rows`` not recorded yet (the unique index skips the others, also
    under concurrent writers); returns the ``(invitation, kind, seq)`` keys this call inserted."""
    inserted: set[tuple[int, int, int]] = set()
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        new = (
            await InvitationEvent.insert(
                *[
                    InvitationEvent(invitation=i, kind=k, seq=q, at=at, detail=d[:200])
                    for i, k, q, at, d in chunk
                ]
            )
            .on_conflict(
                target=(InvitationEvent.invitation, InvitationEvent.kind, InvitationEvent.seq),
                action="DO NOTHING",
            )
            .returning(InvitationEvent.invitation, InvitationEvent.kind, InvitationEvent.seq)
        )
        inserted.update((int(r["invitation"]), int(r["kind"]), int(r["seq"])) for r in new)
    return inserted


async def record_events(rows: Iterable[tuple[int, int, int, dt.datetime, str]]) -> None:
    """Record many steps ``(invitation, kind, seq, at, detail)`` (inside the caller's
    transaction, if any); those already recorded are skipped."""
    batch = list(rows)
    await _insert_new(batch)
    by_kind: dict[int, set[int]] = {}
    for invitation, kind, _s, _at, _d in batch:
        by_kind.setdefault(kind, set()).add(invitation)
    for kind in sorted(by_kind):
        await _raise_disposition(sorted(by_kind[kind]), kind)


async def send_once(
    rows: Sequence[tuple[int, int, int, dt.datetime, str]],
    send: Callable[[list[int]], int],
) -> int:
    """Hand messages to a gateway at most once per step ``(invitation, kind, seq)``, also when
    two runs (two browser tabs, a cron job and a person) send the same wave at once.

    Inside one write transaction the steps of ``rows`` not recorded yet are claimed by inserting
    their events (the unique index makes a concurrent run wait for this transaction and then
    find them recorded); ``send(positions)`` is called with the positions in ``rows`` of the
    claimed steps and returns how many of them, in order, the gateway accepted; the claims of
    the refused rest are deleted, the dispositions of the accepted raised. Returns the number
    accepted. A message is never sent twice; a run killed between the gateway and the commit
    records nothing, so its messages may be sent again by the next run (the gateway's own
    duplicate filter covers that window)."""
    async with write_transaction():
        claimed = await _insert_new(rows)
        positions = [p for p, (i, k, q, _at, _d) in enumerate(rows) if (i, k, q) in claimed]
        accepted = max(0, min(send(positions), len(positions)))
        for p in positions[accepted:]:
            invitation, kind, seq = rows[p][:3]
            await InvitationEvent.delete().where(
                (InvitationEvent.invitation == invitation)
                & (InvitationEvent.kind == kind)
                & (InvitationEvent.seq == seq)
            )
        by_kind: dict[int, list[int]] = {}
        for p in positions[:accepted]:
            by_kind.setdefault(rows[p][1], []).append(rows[p][0])
        for kind in sorted(by_kind):
            await _raise_disposition(sorted(by_kind[kind]), kind)
    return accepted


async def record_expired(wave_id: int, now: dt.datetime | None = None) -> int:
    """An ``expired`` event (at the expiry time) for each invitation of the wave past its expiry
    that has none and is not finished; returns how many were recorded."""
    now = now or _now()
    rows = await Invitation.select(Invitation.id, Invitation.expires_at).where(
        (Invitation.wave == wave_id)
        & (Invitation.open_link.eq(False))
        & (Invitation.expires_at <= now)
        & (Invitation.status.is_in(["pending", "started", "expired"]))
    )
    if not rows:
        return 0
    ids = [int(r["id"]) for r in rows]
    done = {
        int(r["invitation"])
        for r in await InvitationEvent.select(InvitationEvent.invitation).where(
            InvitationEvent.invitation.is_in(ids)
            & InvitationEvent.kind.is_in([EXPIRED, *FINISHED, TO_PHONE])
        )
    }
    fresh = [(int(r["id"]), EXPIRED, 0, r["expires_at"], "") for r in rows if r["id"] not in done]
    if fresh:
        async with write_transaction():
            await record_events(fresh)
    return len(fresh)


@dataclass(frozen=True, slots=True)
class KindCount:
    """Invitations of one stratum whose current disposition is ``kind``: how many, their design
    weight (1 where an invitation has none) and how many of them were moved to the phone."""

    stratum: str
    kind: int
    count: int
    weight: float
    to_phone: int


# The current disposition of every probability invitation of a wave, counted per stratum, from
# the disposition kept on the invitation (one pass over the invitations).
_COUNTS_SQL = (
    "SELECT stratum, disposition AS kind, COUNT(*) AS n,"
    " SUM(COALESCE(design_weight, 1.0)) AS w,"
    " SUM(CASE WHEN status = 'phone' THEN 1 ELSE 0 END) AS phone"
    " FROM invitation WHERE wave = {} AND open_link = {} GROUP BY stratum, disposition"
)
# The same from the events themselves (GROUP BY invitation, max(kind)): the check that the kept
# disposition is the events' (``check_dispositions``), and what a repair recomputes.
_EVENTS_SQL = (
    "SELECT i.stratum AS stratum, COALESCE(d.top, 0) AS kind, COUNT(*) AS n,"
    " SUM(COALESCE(i.design_weight, 1.0)) AS w, SUM(COALESCE(d.phone, 0)) AS phone"
    " FROM invitation i LEFT JOIN ("
    "   SELECT e.invitation AS invitation, MAX(CASE WHEN e.kind = 1 THEN 0 ELSE e.kind END) AS top,"
    "   MAX(CASE WHEN e.kind = 1 THEN 1 ELSE 0 END) AS phone"
    "   FROM invitation_event e WHERE e.invitation IN (SELECT id FROM invitation WHERE wave = {})"
    "   GROUP BY e.invitation) d ON d.invitation = i.id"
    " WHERE i.wave = {} AND i.open_link = {}"
    " GROUP BY i.stratum, COALESCE(d.top, 0)"
)


def _kind_counts(rows: Iterable[Mapping[str, Any]]) -> list[KindCount]:
    return sorted(
        (
            KindCount(
                str(r["stratum"]), int(r["kind"]), int(r["n"]), float(r["w"]), int(r["phone"] or 0)
            )
            for r in rows
        ),
        key=lambda c: (c.stratum, c.kind),
    )


async def disposition_counts(wave_id: int) -> list[KindCount]:
    """Per stratum and current disposition: invitations, their weight and to-phone count
    (anonymous public-link invitations are left out: they are not a sample)."""
    return _kind_counts(await Invitation.raw(_COUNTS_SQL, wave_id, False))


async def disposition_counts_from_events(wave_id: int) -> list[KindCount]:
    """``disposition_counts`` recomputed from the events alone (a pass over all of them)."""
    return _kind_counts(await Invitation.raw(_EVENTS_SQL, wave_id, wave_id, False))


async def repair_dispositions(wave_id: int) -> int:
    """Set every invitation's kept disposition of the wave to the one its events give (after a
    restore or a hand edit); returns how many changed."""
    rows = await Invitation.raw(
        "SELECT i.id, COALESCE(MAX(CASE WHEN e.kind = 1 THEN 0 ELSE e.kind END), 0) AS top,"
        " i.disposition FROM invitation i LEFT JOIN invitation_event e ON e.invitation = i.id"
        " WHERE i.wave = {} GROUP BY i.id, i.disposition",
        wave_id,
    )
    wrong = [(int(r["id"]), int(r["top"])) for r in rows if int(r["top"]) != int(r["disposition"])]
    async with write_transaction():
        for invitation_id, top in wrong:
            await Invitation.update({Invitation.disposition: top}).where(
                Invitation.id == invitation_id
            )
    return len(wrong)


def category_counts(
    counts: Iterable[KindCount], *, weighted: bool, mapping: Mapping[int, str] = WEB_AAPOR
) -> DispositionCounts:
    """AAPOR category totals of disposition counts through a disposition mapping."""
    totals: list[tuple[str, float]] = []
    for c in counts:
        totals.append((mapping[c.kind], c.weight if weighted else float(c.count)))
    return DispositionCounts.from_code_totals(totals)


@dataclass(frozen=True, slots=True)
class WebRates:
    """AAPOR rates of a wave's web invitations: (unweighted, weighted) overall and per stratum
    (per-stratum rates use the overall e of the same weighting, so strata are comparable; an
    ``e`` given by hand is used throughout), and the counts."""

    invitations: int
    overall: tuple[ResponseRates, ResponseRates]
    by_stratum: dict[str, tuple[ResponseRates, ResponseRates]]
    counts: list[KindCount]


def rates_from_counts(counts: list[KindCount], e: float | None = None) -> WebRates:
    """The rates of disposition counts (pure; what ``web_rates`` returns)."""
    overall_un = response_rates(category_counts(counts, weighted=False), e)
    overall_w = response_rates(category_counts(counts, weighted=True), e)
    e_un = overall_un.e if e is None else e
    e_w = overall_w.e if e is None else e
    by_stratum: dict[str, tuple[ResponseRates, ResponseRates]] = {}
    for stratum in sorted({c.stratum for c in counts}):
        part = [c for c in counts if c.stratum == stratum]
        by_stratum[stratum] = (
            response_rates(category_counts(part, weighted=False), e_un),
            response_rates(category_counts(part, weighted=True), e_w),
        )
    return WebRates(sum(c.count for c in counts), (overall_un, overall_w), by_stratum, counts)


async def web_rates(wave_id: int, e: float | None = None) -> WebRates:
    """AAPOR rates of the wave's web invitations (expired ones are first recorded as such)."""
    await record_expired(wave_id)
    return rates_from_counts(await disposition_counts(wave_id), e)


async def invitation_history(invitation_id: int) -> list[tuple[str, dt.datetime, str]]:
    """An invitation's steps in time order: ``(kind name, at, detail)``."""
    rows = (
        await InvitationEvent.select(
            InvitationEvent.kind, InvitationEvent.at, InvitationEvent.detail
        )
        .where(InvitationEvent.invitation == invitation_id)
        .order_by(InvitationEvent.at)
        .order_by(InvitationEvent.kind)
    )
    return [(KIND_NAMES.get(int(r["kind"]), str(r["kind"])), r["at"], r["detail"]) for r in rows]


class DeliveryReportError(Exception):
    """A delivery report file could not be read; the message names the file, line and column."""


def read_delivery_reports(path: str | Path) -> list[tuple[str, str, dt.datetime | None]]:
    """Rows ``(phone, status, time)`` of a gateway delivery report (CSV with a header:
    ``phone,status[,time]``; status ``delivered``/``failed`` (or 成功/失败); time ISO 8601,
    optional). Raises ``DeliveryReportError`` listing every bad line; nothing is recorded then."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryReportError(f"无法读取回执文件 {p}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"phone", "status"} <= set(reader.fieldnames):
        raise DeliveryReportError(f"{p.name} 第1行: 表头应包含 phone,status（可选 time）")
    statuses = {"delivered": "delivered", "成功": "delivered", "failed": "failed", "失败": "failed"}
    out: list[tuple[str, str, dt.datetime | None]] = []
    problems: list[str] = []
    for line_no, row in enumerate(reader, start=2):
        status = statuses.get((row.get("status") or "").strip().lower())
        if status is None:
            problems.append(f"{p.name} 第{line_no}行, 列 status: 应为 delivered 或 failed")
            continue
        when: dt.datetime | None = None
        raw_time = (row.get("time") or "").strip()
        if raw_time:
            try:
                when = dt.datetime.fromisoformat(raw_time)
            except ValueError:
                problems.append(f"{p.name} 第{line_no}行, 列 time: “{raw_time}”不是时间")
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
        out.append(((row.get("phone") or "").strip(), status, when))
    if problems:
        raise DeliveryReportError("；".join(problems[:20]))
    return out


async def record_delivery_reports(wave_id: int, path: str | Path) -> tuple[int, int]:
    """Record the gateway's delivery reports for a wave's invitations; returns (recorded,
    unknown numbers)."""
    reports = read_delivery_reports(path)
    phones = sorted({phone for phone, _s, _t in reports})
    by_phone = {
        r["phone"]: int(r["invitation"])
        for r in await Contact.select(Contact.phone, Contact.invitation).where(
            (Contact.wave == wave_id) & Contact.phone.is_in(phones or [""])
        )
        if r["invitation"] is not None
    }
    rows: list[tuple[int, int, int, dt.datetime, str]] = []
    unknown = 0
    for phone, status, when in reports:
        invitation = by_phone.get(phone)
        if invitation is None:
            unknown += 1
            continue
        kind = DELIVERED if status == "delivered" else FAILED
        rows.append((invitation, kind, 0, (when or _now()).astimezone(dt.UTC), "gateway"))
    async with write_transaction():
        await record_events(rows)
    return len(rows), unknown


async def opt_out(token: str) -> bool:
    """「不再接收」 from the intro page: a refusal event for the link's invitation (reminders
    then skip it). False for an unknown link."""
    from survey.collection.responses import find_invitation

    invitation = await find_invitation(token)
    if invitation is None or invitation.open_link:
        return False
    await record_event(invitation.id, REFUSED, detail="opt-out")
    return True


def counts_as_rows(counts: Iterable[KindCount]) -> list[dict[str, Any]]:
    """Disposition counts as plain rows (for JSON/CSV output)."""
    return [
        {
            "stratum": c.stratum,
            "disposition": KIND_NAMES[c.kind],
            "aapor": WEB_AAPOR[c.kind],
            "category": aapor_category(WEB_AAPOR[c.kind]),
            "invitations": c.count,
            "weight": c.weight,
            "to_phone": c.to_phone,
        }
        for c in counts
    ]
