"""Integrity flags that lead to action: an analyst leaves flagged interviews out of a wave.

The wave's integrity flags (``survey.results.integrity``: an interviewer's many short
interviews, identical answer strings, an interviewer's results far from the others') name the
interviews they are about. An analyst who has looked at them may exclude interviews with a
written reason (:func:`exclude_responses`):

* the exclusion is stored (``ResponseExclusion``; the interview itself is never changed) and
  audited (``results.exclude``);
* the wave is computed again without them — before publication by recomputing it
  (``compute.compute_wave``), after publication as a **draft revision** through the one
  revision mechanism (``revisions.revise_wave``), which the analyst then publishes like any
  correction (the original revision stays readable);
* the computation states it in the method note (``method["exclusions"]``: how many, why, by
  whom), which the dashboard, the report and the JSON export show.

:func:`lift_exclusion` takes an exclusion back the same way (``results.include``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from survey.audit import record
from survey.collection.tables import Response
from survey.db import lock_row, write_transaction
from survey.db.tables import Wave
from survey.results.compute import ComputeError, compute_wave, source_wave_ids, wave_by_id
from survey.results.tables import ResponseExclusion, ResultRun
from survey.settings import local_time

REASON_MAX = 500
MAX_PER_REQUEST = 5000
FLAG_NAMES = {
    "jump": "突变",
    "to_full": "升至100%",
    "dk_collapse": "不知道骤减",
    "short_group": "访问过短",
    "identical_answers": "答案雷同",
    "group_outlier": "访员/方式差异",
}
EXCLUDED_KEY = "分析员按数据质量排除"


@dataclass(frozen=True)
class ExclusionInfo:
    """One excluded interview: which, why, by whom, when (and its mode, interviewer, duration)."""

    response_id: int
    reason: str
    excluded_by: str
    excluded_at: dt.datetime
    mode: str
    interviewer: int | None
    duration_seconds: int | None

    @property
    def when(self) -> str:
        """When, in the installation's time zone."""
        return local_time(self.excluded_at)


@dataclass(frozen=True)
class ExclusionBatch:
    """Interviews excluded together (one reason, one analyst, one moment), as the page lists
    them."""

    reason: str
    excluded_by: str
    when: str
    response_ids: tuple[int, ...]


def batches(exclusions: Sequence[ExclusionInfo]) -> list[ExclusionBatch]:
    """``exclusions`` grouped by (reason, who, when), newest first."""
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for e in exclusions:
        grouped.setdefault((e.reason, e.excluded_by, e.when), []).append(e.response_id)
    return [
        ExclusionBatch(reason, by, when, tuple(sorted(ids)))
        for (reason, by, when), ids in grouped.items()
    ]


@dataclass(frozen=True)
class FlagView:
    """A stored integrity flag as the review page shows it: kind in words, message, and the
    interviews it names that are still counted (``open_ids``; empty: nothing to exclude)."""

    kind: str
    kind_name: str
    subject: str
    message: str
    response_ids: tuple[int, ...]
    open_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExclusionOutcome:
    """What :func:`exclude_responses` / :func:`lift_exclusion` did."""

    wave_id: int
    month: str
    count: int
    revision: int | None  # the draft revision (a published wave), else None (recomputed)

    def describe(self, verb: str = "排除") -> str:
        if self.revision is not None:
            return (
                f"{self.month}: 已{verb} {self.count} 份问卷，并计算更正版本 第 {self.revision} 版；"
                f"须重新发布后委员会才能看到（survey wave publish {self.month}）。"
            )
        return f"{self.month}: 已{verb} {self.count} 份问卷，并重新计算本期结果。"


async def excluded_ids(wave_id: int) -> set[int]:
    """The interviews left out of the wave's computation."""
    rows = await ResponseExclusion.select(ResponseExclusion.response).where(
        ResponseExclusion.wave == wave_id
    )
    return {int(r["response"]) for r in rows}


async def method_note(wave_id: int, loaded: Iterable[int]) -> list[dict[str, Any]]:
    """The method note's exclusions of the interviews ``loaded`` for the computation: one entry
    per reason, ``{reason, n, by}`` (what the report and exports state)."""
    ids = set(loaded)
    rows = await ResponseExclusion.select(
        ResponseExclusion.response, ResponseExclusion.reason, ResponseExclusion.excluded_by
    ).where(ResponseExclusion.wave == wave_id)
    grouped: dict[str, dict[str, Any]] = {}
    for r in rows:
        if int(r["response"]) not in ids:
            continue
        entry = grouped.setdefault(r["reason"], {"reason": r["reason"], "n": 0, "by": []})
        entry["n"] += 1
        if r["excluded_by"] not in entry["by"]:
            entry["by"].append(r["excluded_by"])
    return [{**e, "by": "、".join(e["by"])} for e in grouped.values()]


async def exclusions_for_wave(wave_id: int) -> list[ExclusionInfo]:
    """The wave's excluded interviews, newest first."""
    rows = await ResponseExclusion.select().where(ResponseExclusion.wave == wave_id)
    ids = [int(r["response"]) for r in rows]
    facts = {
        int(r["id"]): r
        for r in await Response.select(
            Response.id, Response.mode, Response.interviewer, Response.duration_seconds
        ).where(Response.id.is_in(ids or [-1]))
    }
    out = [
        ExclusionInfo(
            response_id=int(r["response"]),
            reason=str(r["reason"]),
            excluded_by=str(r["excluded_by"]),
            excluded_at=r["excluded_at"],
            mode=str(facts.get(int(r["response"]), {}).get("mode", "")),
            interviewer=facts.get(int(r["response"]), {}).get("interviewer"),
            duration_seconds=facts.get(int(r["response"]), {}).get("duration_seconds"),
        )
        for r in rows
    ]
    return sorted(out, key=lambda e: (e.excluded_at, e.response_id), reverse=True)


async def flags_for_wave(wave_id: int) -> list[FlagView]:
    """The integrity flags of the wave's latest computation, each with the interviews it names
    that are not excluded yet."""
    run = await ResultRun.select(ResultRun.flags).where(ResultRun.wave == wave_id).first()
    if run is None:
        return []
    gone = await excluded_ids(wave_id)
    out = []
    for f in json.loads(run["flags"] or "[]"):
        ids = tuple(int(i) for i in f.get("response_ids") or ())
        out.append(
            FlagView(
                kind=str(f.get("kind", "")),
                kind_name=FLAG_NAMES.get(str(f.get("kind", "")), str(f.get("kind", ""))),
                subject=str(f.get("unit_name") or f.get("unit_code") or ""),
                message=str(f.get("message", "")),
                response_ids=ids,
                open_ids=tuple(i for i in ids if i not in gone),
            )
        )
    return out


def parse_ids(text: str) -> list[int]:
    """Interview numbers from a form or the command line: separated by commas, spaces or
    new lines (``ComputeError`` for anything else)."""
    out = []
    for part in text.replace("，", ",").replace("、", ",").replace(",", " ").split():
        if not part.isdigit():
            raise ComputeError(f"问卷编号「{part}」不是数字")
        out.append(int(part))
    return out


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ComputeError("请写明排除的理由（例如核查了哪条数据质量提示、发现了什么）")
    if len(reason) > REASON_MAX:
        raise ComputeError(f"排除理由最长 {REASON_MAX} 字")
    return reason


async def _recompute(wave_id: int, *, reason: str, username: str) -> int | None:
    """Compute the wave again: a draft revision when it is published, else in place."""
    from survey.results.revisions import revise_wave

    wave = await wave_by_id(wave_id)
    if wave.status == "published":
        summary = await revise_wave(wave.id, reason=reason, username=username)
        return summary.number
    await compute_wave(wave.id, username=username)
    return None


async def exclude_responses(
    wave_id: int, response_ids: Sequence[int], *, reason: str, username: str
) -> ExclusionOutcome:
    """Leave ``response_ids`` (completed interviews the wave's computation reads) out of the
    wave with ``reason``, and compute it again (module docstring). ``ComputeError`` (Chinese)
    explains a refusal; nothing is stored then."""
    reason = _reason(reason)
    ids = sorted(set(response_ids))
    if not ids:
        raise ComputeError("没有选择要排除的问卷")
    if len(ids) > MAX_PER_REQUEST:
        raise ComputeError(f"一次最多排除 {MAX_PER_REQUEST} 份问卷")
    wave = await wave_by_id(wave_id)
    if wave.status == "design":
        raise ComputeError(f"测评期 {wave.month} 尚未开始采集")
    if not await ResultRun.exists().where(ResultRun.wave == wave.id):
        raise ComputeError(f"测评期 {wave.month} 尚未计算：先计算，再根据数据质量提示排除")
    known = {
        int(r["id"])
        for r in await Response.select(Response.id).where(
            Response.id.is_in(ids)
            & Response.wave.is_in(await source_wave_ids(wave.id))
            & (Response.status == "completed")
        )
    }
    unknown = [i for i in ids if i not in known]
    if unknown:
        shown = "、".join(str(i) for i in unknown[:10]) + ("等" if len(unknown) > 10 else "")
        raise ComputeError(f"问卷 {shown} 不是本测评期已完成的问卷")
    async with write_transaction():
        await lock_row(Wave, wave.id)
        already = await excluded_ids(wave.id)
        new = [i for i in ids if i not in already]
        if not new:
            raise ComputeError("所选问卷都已排除")
        now = dt.datetime.now(dt.UTC)
        await ResponseExclusion.insert(
            *(
                ResponseExclusion(
                    wave=wave.id, response=i, reason=reason, excluded_by=username, excluded_at=now
                )
                for i in new
            )
        )
        await record(
            username,
            "results.exclude",
            f"wave={wave.id} {wave.month} n={len(new)} responses={','.join(map(str, new))} "
            f"reason={reason}",
        )
    try:
        revision = await _recompute(
            wave.id, reason=f"排除 {len(new)} 份问卷：{reason}", username=username
        )
    except ComputeError as exc:
        # Without them the wave cannot be computed (e.g. a stratum left with one interview):
        # the exclusion does not take effect, and the audit log says so.
        async with write_transaction():
            await ResponseExclusion.delete().where(
                (ResponseExclusion.wave == wave.id) & ResponseExclusion.response.is_in(new)
            )
            await record(
                username,
                "results.include",
                f"wave={wave.id} {wave.month} n={len(new)} responses={','.join(map(str, new))} "
                f"reason=排除后无法计算，排除未生效：{exc}",
            )
        raise ComputeError(f"排除这些问卷后无法计算，排除未生效：{exc}") from exc
    return ExclusionOutcome(wave.id, wave.month, len(new), revision)


async def lift_exclusion(
    wave_id: int, response_ids: Sequence[int], *, reason: str, username: str
) -> ExclusionOutcome:
    """Count excluded interviews again (with ``reason``) and compute the wave again."""
    reason = _reason(reason)
    wave = await wave_by_id(wave_id)
    async with write_transaction():
        await lock_row(Wave, wave.id)
        ids = sorted(set(response_ids) & await excluded_ids(wave.id))
        if not ids:
            raise ComputeError("所选问卷没有被排除")
        await ResponseExclusion.delete().where(
            (ResponseExclusion.wave == wave.id) & ResponseExclusion.response.is_in(ids)
        )
        await record(
            username,
            "results.include",
            f"wave={wave.id} {wave.month} n={len(ids)} responses={','.join(map(str, ids))} "
            f"reason={reason}",
        )
    revision = await _recompute(
        wave.id, reason=f"恢复计入 {len(ids)} 份问卷：{reason}", username=username
    )
    return ExclusionOutcome(wave.id, wave.month, len(ids), revision)
