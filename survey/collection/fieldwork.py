"""The web fieldwork view of a wave, per stratum (street or station): invitations released,
sent, opened, started, completed, screened out, refused, moved to the phone; completes against
the stratum's target with the day the target is forecast to be reached; the median completion
time; and the break-off page (the screen most residents who stopped are on).

Counts come from ``dispositions.disposition_counts`` (SQL aggregates over the events).

API
---
``forecast_reached(completed, target, elapsed_days, today) -> date | None`` (pure),
``web_waves(district_id) -> list[WaveChoice]``, ``fieldwork(wave_id, now=None) -> Fieldwork``,
``screen_title(instrument, answers, current_page) -> str``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from questionnaires import Instrument, default_instruments
from questionnaires.model import SCREENING_PAGE
from survey.collection import dispositions as d
from survey.collection.respondent import INTRO, UNIT_PREFIX, screen_ids
from survey.collection.tables import Invitation, InvitationEvent, Response
from survey.db.tables import Unit, Wave
from survey.waves import WaveRef, waves_for

CHINA = dt.timezone(dt.timedelta(hours=8))


class FieldworkError(Exception):
    """No such wave for this user (the message is Chinese)."""


def forecast_reached(
    completed: int, target: int | None, elapsed_days: float, today: dt.date
) -> dt.date | None:
    """The day the target is reached at the pace so far (completes per day since the first
    message, at least one day counted): ``today`` when reached, None without a target or any
    complete yet."""
    if target is None:
        return None
    if completed >= target:
        return today
    if completed <= 0:
        return None
    pace = completed / max(elapsed_days, 1.0)
    return today + dt.timedelta(days=math.ceil((target - completed) / pace))


def screen_title(instrument: Instrument, answers: Mapping[str, Any], current_page: int) -> str:
    """The Chinese title of the screen a web response stands on."""
    screens = screen_ids(instrument, answers)
    screen = screens[min(max(current_page, 0), len(screens) - 1)]
    if screen == INTRO:
        return "开始页"
    if screen == SCREENING_PAGE:
        return "参加条件"
    if screen.startswith(UNIT_PREFIX):
        return "居住地"
    return next((p.title for p in instrument.pages if p.id == screen), screen)


@dataclass(frozen=True, slots=True)
class StratumFieldwork:
    """One stratum's web fieldwork (see module doc)."""

    stratum: str
    name: str
    released: int
    sent: int
    opened: int
    started: int
    completed: int
    screened_out: int
    refused: int
    to_phone: int
    target: int | None
    forecast: dt.date | None
    median_minutes: float | None
    breakoff_page: str
    breakoffs: int

    @property
    def share(self) -> float | None:
        """Completes over target."""
        return self.completed / self.target if self.target else None


@dataclass(frozen=True, kw_only=True)
class WaveChoice(WaveRef):
    """A wave that has web invitations, for the wave list."""

    invitations: int


@dataclass(frozen=True, slots=True)
class Fieldwork:
    """The page's data: wave, rows per stratum, the total row, rates and the counts per
    disposition."""

    wave_id: int
    month: str
    region_name: str
    status: str
    rows: list[StratumFieldwork]
    total: StratumFieldwork
    rates: d.WebRates
    by_disposition: list[tuple[str, str, int]]  # (label, AAPOR code, invitations)
    first_sent: dt.datetime | None
    names: dict[str, str]  # stratum → unit name (where the stratum is a unit code)


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def web_waves(district_id: int | None) -> list[WaveChoice]:
    """Waves with web invitations visible to a user limited to ``district_id`` (None: all;
    ``survey.waves.waves_for``), newest first."""
    counts = {
        int(r["wave"]): int(r["n"])
        for r in await Invitation.raw(
            "SELECT wave, COUNT(id) AS n FROM invitation WHERE open_link = {} GROUP BY wave", False
        )
    }
    return [
        WaveChoice(**asdict(w), invitations=counts[w.id])
        for w in await waves_for(district_id)
        if w.id in counts
    ]


def _row(
    stratum: str,
    name: str,
    counts: list[d.KindCount],
    target: int | None,
    elapsed: float,
    today: dt.date,
    durations: list[int],
    breakoffs: Counter[str],
) -> StratumFieldwork:
    def n(*kinds: int) -> int:
        return sum(c.count for c in counts if c.kind in kinds)

    completed = n(d.COMPLETED)
    page, stopped = breakoffs.most_common(1)[0] if breakoffs else ("", 0)
    return StratumFieldwork(
        stratum=stratum,
        name=name,
        released=sum(c.count for c in counts),
        sent=sum(c.count for c in counts if c.kind >= d.SENT),
        opened=sum(c.count for c in counts if c.kind >= d.OPENED),
        started=n(d.CONSENT, d.PARTIAL, d.SCREENED_OUT, d.COMPLETED),
        completed=completed,
        screened_out=n(d.SCREENED_OUT),
        refused=n(d.REFUSED),
        to_phone=sum(c.to_phone for c in counts),
        target=target,
        forecast=forecast_reached(completed, target, elapsed, today),
        median_minutes=statistics.median(durations) / 60 if durations else None,
        breakoff_page=page,
        breakoffs=stopped,
    )


async def fieldwork(wave_id: int, now: dt.datetime | None = None) -> Fieldwork:
    """The web fieldwork of a wave (see module doc); expired invitations are recorded first."""
    from survey.design.tables import StratumTarget

    now = now or dt.datetime.now(dt.UTC)
    wave = (
        await Wave.select(Wave.month, Wave.status, Wave.programme._.region._.name)
        .where(Wave.id == wave_id)
        .first()
    )
    if wave is None:
        raise FieldworkError(f"测评期 {wave_id} 不存在")
    rates = await d.web_rates(wave_id)
    counts = rates.counts
    targets = {
        r["stratum"]: int(r["target"])
        for r in await StratumTarget.select(StratumTarget.stratum, StratumTarget.target).where(
            StratumTarget.wave == wave_id
        )
    }
    strata = sorted({c.stratum for c in counts})
    names = {
        r["code"]: r["name"]
        for r in await Unit.select(Unit.code, Unit.name).where(Unit.code.is_in(strata or [""]))
    }
    first = await InvitationEvent.raw(
        "SELECT MIN(e.at) AS first FROM invitation_event e JOIN invitation i"
        " ON i.id = e.invitation WHERE i.wave = {} AND e.kind = {}",
        wave_id,
        d.SENT,
    )
    first_sent = _utc(first[0]["first"]) if first else None
    elapsed = (now - first_sent).total_seconds() / 86400 if first_sent else 0.0
    today = now.astimezone(CHINA).date()
    durations: dict[str, list[int]] = {}
    breakoffs: dict[str, Counter[str]] = {}
    instruments = default_instruments()
    for r in await Response.select(
        Response.stratum,
        Response.status,
        Response.duration_seconds,
        Response.instrument_id,
        Response.answers,
        Response.current_page,
    ).where(
        (Response.wave == wave_id)
        & (Response.mode == "web")
        & Response.invitation.is_not_null()
        & (Response.non_probability.eq(False))
        & Response.status.is_in(["completed", "in_progress"])
    ):
        if r["status"] == "completed":
            if r["duration_seconds"] is not None:
                durations.setdefault(r["stratum"], []).append(int(r["duration_seconds"]))
            continue
        instrument = instruments.get(r["instrument_id"])
        if instrument is None:
            continue
        answers = json.loads(r["answers"] or "{}")
        title = screen_title(instrument, answers, int(r["current_page"]))
        breakoffs.setdefault(r["stratum"], Counter())[title] += 1
    rows = [
        _row(
            s,
            names.get(s, s or "—"),
            [c for c in counts if c.stratum == s],
            targets.get(s),
            elapsed,
            today,
            durations.get(s, []),
            breakoffs.get(s, Counter()),
        )
        for s in strata
    ]
    all_breakoffs: Counter[str] = Counter()
    for counter in breakoffs.values():
        all_breakoffs.update(counter)
    total_target = (
        sum(targets.get(s, 0) for s in strata) if any(s in targets for s in strata) else None
    )
    total = _row(
        "",
        "合计",
        counts,
        total_target,
        elapsed,
        today,
        [x for v in durations.values() for x in v],
        all_breakoffs,
    )
    per_kind: Counter[int] = Counter()
    for c in counts:
        per_kind[c.kind] += c.count
    by_disposition = [
        (d.LABELS[k], d.WEB_AAPOR[k], per_kind[k]) for k in sorted(per_kind, reverse=True)
    ]
    return Fieldwork(
        wave_id=wave_id,
        month=wave["month"],
        region_name=wave["programme.region.name"],
        status=wave["status"],
        rows=rows,
        total=total,
        rates=rates,
        by_disposition=by_disposition,
        first_sent=first_sent,
        names=names,
    )
