"""Services of the supervisor view and the pollster's campaign list: progress per stratum with
a projection to the end of the wave, interviewer productivity with outliers flagged, release of
reserve batches, the back-check (回访复核) sample, and the campaign's rules."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from survey import audit
from survey.cati.cases import CatiError, utc_now
from survey.cati.metrics import Projection, draw_back_checks, flag_outliers, project_completion
from survey.cati.outcomes import aapor_category
from survey.cati.queue import stratum_progress
from survey.cati.selection import CallingHours, CallingHoursError
from survey.cati.tables import BACK_CHECK_RESULTS, BackCheck, CallAttempt, Campaign, Case
from survey.collection.tables import Response
from survey.db import write_transaction
from survey.db.tables import AppUser
from survey.design.regions import DesignError
from survey.design.service import ReleaseResult
from survey.design.tables import Sample, SampledElement

# The design's release of batches 1…k of a sample with its hand-off (survey.release).
Release = Callable[..., Awaitable[ReleaseResult]]

BACK_CHECK_NAMES = {
    "pending": "待复核",
    "confirmed": "核实无误",
    "doubtful": "存疑",
    "unreachable": "无法联系",
}
STATUS_NAMES = {"running": "进行中", "paused": "已暂停", "closed": "已结束"}
# A running campaign of a wave that is not collecting makes no calls (survey.waves): say why.
WAVE_PAUSE_NAMES = {
    "design": "未开始（测评期尚未开始采集）",
    "closed": "已暂停（测评期已结束采集）",
    "published": "已结束（测评期已发布）",
}


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign as listed: ids, names, wave month, status and district (region) id."""

    id: int
    name: str
    wave_id: int
    month: str
    status: str
    status_name: str
    region_id: int
    region_name: str


def _status_name(status: str, wave_status: str) -> str:
    if status == "running" and wave_status in WAVE_PAUSE_NAMES:
        return WAVE_PAUSE_NAMES[wave_status]
    return STATUS_NAMES.get(status, status)


async def list_campaigns(district_id: int | None) -> list[CampaignView]:
    """Campaigns visible to a user limited to ``district_id`` (None: all)."""
    rows = await Campaign.raw(
        "SELECT c.id, c.name, c.wave, c.status, w.month, w.status AS wave_status, p.region, "
        "u.name AS region_name "
        "FROM cati_campaign c JOIN wave w ON w.id = c.wave JOIN programme p ON p.id = w.programme "
        "JOIN region_unit u ON u.id = p.region ORDER BY w.month DESC, c.id"
    )
    return [
        CampaignView(
            int(r["id"]),
            r["name"],
            int(r["wave"]),
            r["month"],
            r["status"],
            _status_name(r["status"], r["wave_status"]),
            int(r["region"]),
            r["region_name"],
        )
        for r in rows
        if district_id is None or int(r["region"]) == district_id
    ]


async def get_campaign(campaign_id: int, district_id: int | None) -> CampaignView:
    """A campaign the user may see; ``CatiError`` otherwise (same message: no existence leak)."""
    for view in await list_campaigns(district_id):
        if view.id == campaign_id:
            return view
    raise CatiError("没有找到该呼叫任务，或您无权查看")


async def campaign_settings(campaign_id: int) -> dict[str, Any]:
    """The campaign row (rules as stored)."""
    row = await Campaign.select().where(Campaign.id == campaign_id).first()
    if row is None:
        raise CatiError("没有找到该呼叫任务")
    return dict(row)


async def update_rules(
    campaign_id: int,
    *,
    status: str,
    windows: str,
    weekdays: str,
    max_attempts: str,
    e_override: str,
    username: str,
) -> None:
    """Change a campaign's status and rules; ``CatiError`` names the field at fault."""
    if status not in STATUS_NAMES:
        raise CatiError("状态无效")
    row = await campaign_settings(campaign_id)
    try:
        CallingHours.parse(windows, row["timezone"], weekdays, row["excluded_dates"])
    except CallingHoursError as exc:
        raise CatiError(str(exc)) from exc
    if not max_attempts.strip().isdigit() or not 1 <= int(max_attempts) <= 30:
        raise CatiError("最多拨打次数应为 1–30 的整数")
    e_value: float | None = None
    if e_override.strip():
        try:
            e_value = float(e_override)
        except ValueError as exc:
            raise CatiError("e 应为 0 到 1 之间的数，留空表示由已判定个案估计") from exc
        if not 0.0 <= e_value <= 1.0:
            raise CatiError("e 应为 0 到 1 之间的数，留空表示由已判定个案估计")
    async with write_transaction():
        await Campaign.update(
            {
                Campaign.status: status,
                Campaign.calling_windows: windows.strip(),
                Campaign.excluded_weekdays: weekdays.strip(),
                Campaign.max_attempts: int(max_attempts),
                Campaign.e_override: e_value,
            }
        ).where(Campaign.id == campaign_id)
        await audit.record(
            username,
            "cati_rules",
            f"campaign={campaign_id} status={status} windows={windows} "
            f"max_attempts={max_attempts} e={e_value}",
        )


@dataclass(frozen=True, slots=True)
class StratumRow:
    """Progress of one stratum: cases, completes, target and the projection to wave end."""

    stratum: str
    cases: int
    open_cases: int
    completes: int
    target: int | None
    share: float | None
    projection: Projection


def wave_end(month: str, closes_on: dt.date | None) -> dt.date:
    """The wave's last day: ``closes_on`` if set, else the month's last day."""
    if closes_on is not None:
        return closes_on
    year, mon = (int(x) for x in month.split("-"))
    return dt.date(year, mon, calendar.monthrange(year, mon)[1])


async def progress_rows(campaign_id: int, now: dt.datetime | None = None) -> list[StratumRow]:
    """Per stratum: completes against target, and completes projected by the wave's end at the
    pace since the campaign started (days, fractional)."""
    now = now or utc_now()
    rows = await Campaign.raw(
        "SELECT c.created_at, c.wave, w.month, w.closes_on FROM cati_campaign c "
        "JOIN wave w ON w.id = c.wave WHERE c.id = {}",
        campaign_id,
    )
    if not rows:
        raise CatiError("没有找到该呼叫任务")
    info = rows[0]
    created = info["created_at"]
    if isinstance(created, str):
        created = dt.datetime.fromisoformat(created)
    closes = info["closes_on"]
    if isinstance(closes, str):
        closes = dt.date.fromisoformat(closes)
    end = dt.datetime.combine(
        wave_end(info["month"], closes) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    elapsed = (now - created).total_seconds() / 86400
    remaining = (end - now).total_seconds() / 86400
    open_counts = {
        r["stratum"]: int(r["n"])
        for r in await Case.raw(
            "SELECT stratum, COUNT(*) AS n FROM cati_case WHERE campaign = {} AND state = 'open' "
            "GROUP BY stratum",
            campaign_id,
        )
    }
    cases = {
        r["stratum"]: int(r["cases"])
        for r in await Case.raw(
            "SELECT stratum, cases FROM cati_stratum WHERE campaign = {}", campaign_id
        )
    }
    out: list[StratumRow] = []
    for p in sorted(
        await stratum_progress(campaign_id, int(info["wave"])), key=lambda p: p.stratum
    ):
        out.append(
            StratumRow(
                p.stratum,
                cases.get(p.stratum, 0),
                open_counts.get(p.stratum, 0),
                p.completes,
                p.target,
                p.completes / p.target if p.target else None,
                project_completion(p.completes, p.target, elapsed, remaining),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class InterviewerRow:
    """Productivity of one interviewer; ``flags`` names the metrics flagged as outliers."""

    name: str
    calls: int
    hours: float
    calls_per_hour: float | None
    completes: int
    completes_per_hour: float | None
    mean_minutes: float | None
    refusal_rate: float | None
    flags: frozenset[str]


MIN_SESSION_HOURS = 0.25  # a day with a single call still counts a quarter hour of work


async def productivity(campaign_id: int, timezone: str = "Asia/Shanghai") -> list[InterviewerRow]:
    """Calls/hour, completes/hour, mean interview length (minutes) and refusal rate (refusals
    among contacts that reached a decision: R / (I + P + R)) per interviewer. Hours worked =
    per local day, first call start to last call end (at least a quarter hour)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    attempts = await CallAttempt.select(
        CallAttempt.interviewer,
        CallAttempt.started_at,
        CallAttempt.ended_at,
        CallAttempt.disposition,
    ).where(CallAttempt.call_case.campaign == campaign_id)
    spans: dict[tuple[int, dt.date], list[dt.datetime]] = {}
    calls: dict[int, int] = defaultdict(int)
    category: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a in attempts:
        who = a["interviewer"]
        if who is None:
            continue
        calls[who] += 1
        category[who][aapor_category(a["disposition"])] += 1
        day = a["started_at"].astimezone(zone).date()
        span = spans.setdefault((who, day), [a["started_at"], a["ended_at"]])
        span[0] = min(span[0], a["started_at"])
        span[1] = max(span[1], a["ended_at"])
    hours: dict[int, float] = defaultdict(float)
    for (who, _day), (start, end) in spans.items():
        hours[who] += max((end - start).total_seconds() / 3600, MIN_SESSION_HOURS)
    lengths: dict[int, list[int]] = defaultdict(list)
    for r in await Response.raw(
        "SELECT r.interviewer, r.duration_seconds FROM response r JOIN cati_case c "
        "ON c.response = r.id WHERE c.campaign = {} AND r.status = 'completed'",
        campaign_id,
    ):
        if r["duration_seconds"] is not None:
            lengths[int(r["interviewer"])].append(int(r["duration_seconds"]))
    names = {
        u["id"]: u["display_name"] or u["username"]
        for u in await AppUser.select(AppUser.id, AppUser.display_name, AppUser.username).where(
            AppUser.id.is_in(list(calls) or [-1])
        )
    }
    ids = sorted(calls, key=lambda i: names.get(i, ""))
    rows: list[dict[str, Any]] = []
    for who in ids:
        cat = category[who]
        done = cat["I"]
        decided = cat["I"] + cat["P"] + cat["R"]
        rows.append(
            {
                "name": names.get(who, str(who)),
                "calls": calls[who],
                "hours": hours[who],
                "calls_per_hour": calls[who] / hours[who] if hours[who] else None,
                "completes": done,
                "completes_per_hour": done / hours[who] if hours[who] else None,
                "mean_minutes": (sum(lengths[who]) / len(lengths[who]) / 60)
                if lengths[who]
                else None,
                "refusal_rate": cat["R"] / decided if decided else None,
            }
        )
    metrics = ("calls_per_hour", "completes_per_hour", "mean_minutes", "refusal_rate")
    flags: list[set[str]] = [set() for _ in rows]
    for metric in metrics:
        for index, flagged in enumerate(flag_outliers([r[metric] for r in rows])):
            if flagged:
                flags[index].add(metric)
    return [InterviewerRow(**r, flags=frozenset(f)) for r, f in zip(rows, flags, strict=True)]


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """Reserve batches of the wave's samples: released and still held back (element counts)."""

    sample_id: int
    released: dict[int, int]
    reserve: dict[int, int]

    @property
    def next_batch(self) -> int | None:
        """The lowest batch not yet released, or None."""
        return min(self.reserve) if self.reserve else None


async def batch_info(campaign_id: int) -> list[BatchInfo]:
    """Per sample of the campaign's wave: element counts by batch, released or reserve."""
    row = await Campaign.select(Campaign.wave).where(Campaign.id == campaign_id).first()
    if row is None:
        raise CatiError("没有找到该呼叫任务")
    # Telephone samples only: those whose numbers are already cases of this campaign, or (before
    # the first release) samples with numbers that are not invitations of the web survey.
    samples = await Sample.raw(
        "SELECT DISTINCT e.sample AS id FROM cati_case c JOIN sampled_element e "
        "ON e.id = c.sampled_element WHERE c.campaign = {} ORDER BY e.sample",
        campaign_id,
    )
    if not samples:
        samples = await Sample.raw(
            "SELECT s.id AS id FROM sample s WHERE s.wave = {} AND EXISTS (SELECT 1 FROM "
            "sampled_element e WHERE e.sample = s.id AND e.phone <> '') AND NOT EXISTS (SELECT 1 "
            "FROM sampled_element e JOIN invitation i ON i.sampled_element = e.id WHERE e.sample = s.id) "
            "ORDER BY s.id",
            row["wave"],
        )
    out: list[BatchInfo] = []
    for sample in samples:
        counts = await SampledElement.raw(
            "SELECT batch, released, COUNT(*) AS n FROM sampled_element WHERE sample = {} "
            "AND phone <> '' GROUP BY batch, released",
            sample["id"],
        )
        released = {int(c["batch"]): int(c["n"]) for c in counts if c["released"]}
        reserve = {int(c["batch"]): int(c["n"]) for c in counts if not c["released"]}
        out.append(BatchInfo(int(sample["id"]), released, reserve))
    return out


async def release_next_batch(
    campaign_id: int, sample_id: int, username: str, *, release: Release
) -> tuple[int, int]:
    """Release the sample's lowest reserve batch through the design, which recomputes every
    released element's weight and hands the new numbers to CATI as cases (``release``: the one
    release, ``survey.release.release_batches``, handed in by the caller — CATI does not import
    the design's release, which imports CATI).

    Returns (batch, cases created)."""
    infos = {b.sample_id: b for b in await batch_info(campaign_id)}
    info = infos.get(sample_id)
    if info is None:
        raise CatiError("该样本不属于本呼叫任务的测评期")
    batch = info.next_batch
    if batch is None:
        raise CatiError("该样本已没有未开放的备用批次")
    try:
        result = await release(sample_id, batch, username=username)
    except DesignError as exc:
        raise CatiError(str(exc)) from exc
    return batch, int(result.handed_off or 0)


@dataclass(frozen=True, slots=True)
class BackCheckRow:
    """A drawn interview for back-checking and its result."""

    id: int
    case_id: int
    phone: str
    interviewer: str
    result: str
    result_name: str
    note: str
    checked_by: str


async def draw_back_check(campaign_id: int, seed: int, share: float, username: str) -> int:
    """Draw, per interviewer, ``share`` (at least one) of their completed interviews not drawn
    before, with ``numpy.random.default_rng(seed)``; returns how many were drawn."""
    if not 0 < share <= 1:
        raise CatiError("抽取比例应在 0 到 1 之间（例如 0.1 表示 10%）")
    if not 0 <= seed < 2**31:
        raise CatiError("随机种子应为 0 到 2147483647 之间的整数")
    rows = await Case.raw(
        "SELECT c.id, a.interviewer FROM cati_case c JOIN cati_call_attempt a "
        "ON a.call_case = c.id AND a.outcome = 'complete' WHERE c.campaign = {} "
        "AND c.disposition = '1.1' AND NOT EXISTS "
        "(SELECT 1 FROM cati_back_check b WHERE b.call_case = c.id)",
        campaign_id,
    )
    by_interviewer: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        if r["interviewer"] is not None:
            by_interviewer[int(r["interviewer"])].append(int(r["id"]))
    drawn = draw_back_checks(by_interviewer, np.random.default_rng(seed), share=share)
    async with write_transaction():
        for interviewer, case_ids in drawn.items():
            for case_id in case_ids:
                await BackCheck.insert(
                    BackCheck(
                        campaign=campaign_id,
                        call_case=case_id,
                        interviewer=interviewer,
                        seed=seed,
                        drawn_by=username,
                    )
                )
        await audit.record(
            username, "cati_back_check", f"campaign={campaign_id} seed={seed} share={share}"
        )
    return sum(len(v) for v in drawn.values())


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``: enough to tell numbers apart, not to call one."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


async def back_check_rows(campaign_id: int, *, with_phones: bool) -> list[BackCheckRow]:
    """The campaign's back-check sample, newest draw first. ``with_phones``: full numbers (for
    the supervisors who call residents back); otherwise masked."""
    rows = await BackCheck.raw(
        "SELECT b.id, b.call_case, c.phone, u.display_name, b.result, b.note, b.checked_by "
        "FROM cati_back_check b JOIN cati_case c ON c.id = b.call_case "
        "LEFT JOIN app_user u ON u.id = b.interviewer WHERE b.campaign = {} "
        "ORDER BY b.id DESC",
        campaign_id,
    )
    return [
        BackCheckRow(
            int(r["id"]),
            int(r["call_case"]),
            r["phone"] if with_phones else mask_phone(r["phone"]),
            r["display_name"] or "",
            r["result"],
            BACK_CHECK_NAMES.get(r["result"], r["result"]),
            r["note"],
            r["checked_by"],
        )
        for r in rows
    ]


async def record_back_check(
    campaign_id: int, back_check_id: int, result: str, note: str, username: str
) -> None:
    """Record the result of a back-check call."""
    if result not in BACK_CHECK_RESULTS or result == "pending":
        raise CatiError("请选择复核结果：核实无误、存疑或无法联系")
    if len(note) > 500:
        raise CatiError("备注不能超过 500 个字")
    async with write_transaction():
        updated = (
            await BackCheck.update(
                {
                    BackCheck.result: result,
                    BackCheck.note: note.strip(),
                    BackCheck.checked_by: username,
                    BackCheck.checked_at: utc_now(),
                }
            )
            .where((BackCheck.id == back_check_id) & (BackCheck.campaign == campaign_id))
            .returning(BackCheck.id)
        )
        if not updated:
            raise CatiError("没有找到该复核记录")
