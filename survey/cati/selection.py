"""Which case a pollster gets next: calling hours and the selection order, as pure functions.

The database queue (``survey.cati.queue``) implements the same order in SQL; tests check both
against the same tables of cases. Times are timezone-aware ``datetime`` values (UTC in storage);
calling hours are read in the campaign's time zone (the respondents' local time).

Order: (1) due appointments — personal ones only for their pollster until ``personal_grace``
has passed, then anyone's — earliest first; (2) cases whose retry time has passed, strata
furthest from their target first (relative shortfall 1 − completes/target; strata without a
target after those with one), then earliest retry time, then lowest id. Never outside calling
hours, never a case at the attempt limit, never a stratum whose target is met, never a case
held by another pollster (a hold is represented by ``next_call_at`` = the hold's expiry).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\s*[-–~]\s*([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAY_NAMES = ("一", "二", "三", "四", "五", "六", "日")


class CallingHoursError(ValueError):
    """Calling hours could not be parsed; the message names the field and value (Chinese)."""


@dataclass(frozen=True, slots=True)
class CallingHours:
    """When respondents may be called: daily ``windows`` of local time (start inclusive, end
    exclusive), ``excluded_weekdays`` (ISO 1 = Monday … 7 = Sunday), ``excluded_dates`` (local
    dates such as holidays), in ``timezone`` (IANA name, e.g. ``Asia/Shanghai``)."""

    windows: tuple[tuple[dt.time, dt.time], ...]
    timezone: str = "Asia/Shanghai"
    excluded_weekdays: frozenset[int] = frozenset()
    excluded_dates: frozenset[dt.date] = frozenset()

    def local(self, at: dt.datetime) -> dt.datetime:
        """``at`` in the campaign's local time."""
        return at.astimezone(ZoneInfo(self.timezone))

    def allows(self, at: dt.datetime) -> bool:
        """True when a call may be made at the instant ``at`` (aware datetime)."""
        if at.tzinfo is None:
            raise ValueError("calling hours need an aware datetime")
        local = self.local(at)
        if local.isoweekday() in self.excluded_weekdays or local.date() in self.excluded_dates:
            return False
        clock = local.time().replace(tzinfo=None)
        return any(start <= clock < end for start, end in self.windows)

    def describe(self) -> str:
        """Chinese summary, e.g. ``09:00–12:00、14:00–21:00（Asia/Shanghai），周日不拨打``."""
        text = "、".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in self.windows) + f"（{self.timezone}）"
        if self.excluded_weekdays:
            days = "、".join(f"周{WEEKDAY_NAMES[d - 1]}" for d in sorted(self.excluded_weekdays))
            text += f"，{days}不拨打"
        if self.excluded_dates:
            text += "，另有 " + "、".join(d.isoformat() for d in sorted(self.excluded_dates))
            text += " 不拨打"
        return text

    @classmethod
    def parse(
        cls, windows: str, timezone: str, weekdays: str = "", dates: str = ""
    ) -> CallingHours:
        """Parse ``"09:00-12:00,14:00-21:00"``, ``"Asia/Shanghai"``, ``"6,7"``,
        ``"2026-10-01,2026-10-02"``; raises ``CallingHoursError`` naming the field."""
        parsed: list[tuple[dt.time, dt.time]] = []
        for part in [p.strip() for p in windows.replace("，", ",").split(",") if p.strip()]:
            match = _WINDOW.match(part)
            if not match:
                raise CallingHoursError(f"呼叫时段「{part}」格式应为 09:00-12:00")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start = dt.time(h1, m1)
            end = dt.time(23, 59, 59, 999999) if h2 == 24 else dt.time(h2, m2)
            if h2 == 24 and m2 != 0:
                raise CallingHoursError(f"呼叫时段「{part}」的结束时间无效")
            if end <= start:
                raise CallingHoursError(f"呼叫时段「{part}」的结束时间必须晚于开始时间")
            parsed.append((start, end))
        if not parsed:
            raise CallingHoursError("至少需要一个呼叫时段，例如 09:00-12:00")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CallingHoursError(f"时区「{timezone}」无效，例如 Asia/Shanghai") from exc
        days: set[int] = set()
        for part in [p.strip() for p in weekdays.replace("，", ",").split(",") if p.strip()]:
            if not part.isdigit() or not 1 <= int(part) <= 7:
                raise CallingHoursError(f"不拨打的星期「{part}」应为 1（周一）到 7（周日）")
            days.add(int(part))
        excluded: set[dt.date] = set()
        for part in [p.strip() for p in dates.replace("，", ",").split(",") if p.strip()]:
            try:
                excluded.add(dt.date.fromisoformat(part))
            except ValueError as exc:
                raise CallingHoursError(f"不拨打的日期「{part}」应为 YYYY-MM-DD") from exc
        return cls(tuple(sorted(parsed)), timezone, frozenset(days), frozenset(excluded))


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """What selection needs of a case. ``state`` is ``open`` or ``final``; ``next_call_at`` is
    the earliest time it may be dialled (retry time, or the expiry of a pollster's hold)."""

    id: int
    stratum: str
    state: str
    next_call_at: dt.datetime
    attempts: int
    appointment_at: dt.datetime | None = None
    appointment_user: int | None = None


@dataclass(frozen=True, slots=True)
class StratumProgress:
    """Completed interviews of a stratum against its ``target`` (None: no target set)."""

    stratum: str
    completes: int
    target: int | None

    @property
    def met(self) -> bool:
        """True when a target is set and reached."""
        return self.target is not None and self.completes >= self.target

    @property
    def shortfall(self) -> float:
        """Relative distance from the target, 1 − completes/target (0 without a target)."""
        if self.target is None or self.target <= 0:
            return 0.0
        return max(0.0, 1.0 - self.completes / self.target)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """Rules of a campaign's queue: calling ``hours``, ``max_attempts`` dials per case and the
    ``personal_grace`` after which a personal appointment may go to any pollster."""

    hours: CallingHours
    max_attempts: int = 5
    personal_grace: dt.timedelta = dt.timedelta(minutes=30)


def stratum_order(progress: Iterable[StratumProgress], strata: Iterable[str] = ()) -> list[str]:
    """Strata that may be called, furthest from target first (ties by name); met ones dropped.

    ``strata`` adds strata with cases but no progress record (no target, no completes)."""
    known = {p.stratum: p for p in progress}
    for name in strata:
        known.setdefault(name, StratumProgress(name, 0, None))
    callable_ = [p for p in known.values() if not p.met]
    callable_.sort(key=lambda p: (p.target is None, -p.shortfall, p.stratum))
    return [p.stratum for p in callable_]


def appointment_is_for(
    case: CaseRecord, pollster_id: int, now: dt.datetime, grace: dt.timedelta
) -> bool:
    """True when ``pollster_id`` may take the due appointment of ``case``."""
    assert case.appointment_at is not None
    return (
        case.appointment_user is None
        or case.appointment_user == pollster_id
        or case.appointment_at <= now - grace
    )


def pick_case(
    cases: Sequence[CaseRecord],
    progress: Iterable[StratumProgress],
    pollster_id: int,
    now: dt.datetime,
    policy: QueuePolicy,
) -> CaseRecord | None:
    """The case ``pollster_id`` should call at ``now``, or None (see the module doc for the order)."""
    if not policy.hours.allows(now):
        return None
    order = stratum_order(progress, (c.stratum for c in cases))
    rank = {name: i for i, name in enumerate(order)}
    ready = [
        c
        for c in cases
        if c.state == "open"
        and c.next_call_at <= now
        and c.attempts < policy.max_attempts
        and c.stratum in rank
    ]
    due = [
        c
        for c in ready
        if c.appointment_at is not None
        and c.appointment_at <= now
        and appointment_is_for(c, pollster_id, now, policy.personal_grace)
    ]
    if due:
        return min(due, key=lambda c: (c.appointment_at, c.id))
    retry = [c for c in ready if c.appointment_at is None]
    if not retry:
        return None
    return min(retry, key=lambda c: (rank[c.stratum], c.next_call_at, c.id))
