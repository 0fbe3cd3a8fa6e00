"""Computing a wave: stored completed responses → weighted indices per unit → rankings → stored.

``compute_wave(wave_id, username=…)`` reads the wave's completed responses (non-probability ones
only when asked), scores them with each instrument's index definitions
(``questionnaires.scoring``), weights and estimates them (``survey.results.statistics`` over the
estimation core), applies the programme's policy with the ranking core (ranks, P(bottom k),
rank intervals, the ladder derived from earlier waves' stored results), adds Fay–Herriot
estimates and integrity flags, and replaces the wave's stored results in one write transaction
that first locks the wave row (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite) — two analysts computing at once end with one complete set of results. Raw answers are
only read. The P(bottom k) simulation is seeded from the wave id, so recomputing gives the same
numbers.

This module is the orchestration; the steps live by concern: ``loading`` (database reads),
``preparation`` (responses → the statistics' input, pure), ``statistics`` (weights and
estimates, pure), ``evaluation`` (ranking and result rows, pure) and ``integrity``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from survey import audit, waves
from survey.db import lock_row, write_transaction
from survey.db.tables import Wave
from survey.estimation import EstimationError
from survey.results import integrity
from survey.results import ranking_adapter as ranking
from survey.results.evaluation import diagnostics_json, mode_method, rank_results, result_fields

# Re-exported: callers import these from here too.
from survey.results.evaluation import display_ci as _display_ci  # noqa: F401
from survey.results.loading import (
    invitation_response_rate,
    load_history,
    load_previous_wave,
    uncomputed_earlier_waves,
)
from survey.results.loading import load_registry as load_registry
from survey.results.loading import load_responses as load_responses
from survey.results.loading import source_wave_ids as source_wave_ids
from survey.results.loading import wave_policy as wave_policy
from survey.results.preparation import PreparedWave as PreparedWave
from survey.results.preparation import Registry as Registry
from survey.results.preparation import prepare_wave as prepare_wave
from survey.results.report import draw_ahead
from survey.results.statistics import METHOD_VERSION, compute_wave_statistics
from survey.results.tables import IndexResult, ResultRun
from survey.results.waves import ComputeError as ComputeError
from survey.results.waves import WaveRef as WaveRef
from survey.results.waves import resolve_wave as resolve_wave
from survey.results.waves import wave_by_id as wave_by_id

SEED_BASE = 20261124


@dataclass(frozen=True)
class ComputeSummary:
    """What ``compute_wave`` stored."""

    wave_id: int
    month: str
    n_responses: int
    n_excluded: int
    n_results: int
    n_flags: int
    sanctions: int
    praises: int
    mode_effects: tuple[dict[str, Any], ...] = ()

    def describe(self) -> str:
        text = (
            f"{self.month}: 使用 {self.n_responses} 份完成的问卷（排除 {self.n_excluded} 份），"
            f"保存 {self.n_results} 条指标结果，{self.sanctions} 项预警、{self.praises} 项表扬，"
            f"{self.n_flags} 条数据质量提示。"
        )
        lines = [
            f"\n  {m['index_name']}：网页 {m['web']:.1f}（{m['n_web']} 份）− 电话 {m['phone']:.1f}"
            f"（{m['n_phone']} 份）= {m['difference']:+.1f}，95% 区间 "
            f"[{m['ci_lower']:+.1f}, {m['ci_upper']:+.1f}]"
            for m in self.mode_effects
            if m["difference"] is not None
        ]
        if lines:
            text += "\n访问方式差异（诊断，未作校正）：" + "".join(lines)
        return text


async def compute_wave(
    wave_id: int,
    *,
    username: str,
    include_non_probability: bool = False,
    seed: int | None = None,
) -> ComputeSummary:
    """Compute and store every index of a wave; ``ComputeError`` explains a failure.

    Allowed while the wave is collecting or closed (``survey.waves.ACTIVITIES``); a published
    wave is refused — a correction is a new revision (``survey.results.revisions``)."""
    wave = await wave_by_id(wave_id)
    _check(wave.id, "compute", wave.status, wave.month)
    run, result_rows, summary = await computed_results(
        wave, username=username, include_non_probability=include_non_probability, seed=seed
    )
    async with write_transaction():
        await lock_row(Wave, wave.id)  # two analysts computing at once: one after the other
        try:  # the status again, under the lock: a publication may have come in between
            await waves.require(wave.id, "compute")
        except waves.WaveError as exc:
            raise ComputeError(str(exc)) from exc
        await IndexResult.delete().where(IndexResult.wave == wave.id)
        await ResultRun.delete().where(ResultRun.wave == wave.id)
        await ResultRun.insert(run)
        for start in range(0, len(result_rows), 500):
            await IndexResult.insert(*result_rows[start : start + 500])
        await audit.record(
            username,
            "results.compute",
            f"wave={wave.id} month={wave.month} results={len(result_rows)}",
        )
    draw_ahead(wave.id)  # a new revision: its report is drawn now, in the background
    return summary


def _check(wave_id: int, activity: str, status: str, month: str) -> None:
    try:
        waves.check(activity, status, month)
    except waves.WaveError as exc:
        raise ComputeError(str(exc)) from exc


_gc_pauses = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a computation builds its columns: a million
    responses are tens of millions of fresh objects (none in a cycle), and the collector's
    passes over them cost about as much as building them. Counted, so that computations
    running at once turn it back on only when the last one ends (and only if it was on)."""
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


_gc_was_enabled = True


async def computed_results(
    wave: WaveRef, *, username: str, include_non_probability: bool = False, seed: int | None = None
) -> tuple[ResultRun, list[IndexResult], ComputeSummary]:
    """Compute every index of ``wave`` without storing anything: the run row, the result rows
    (both unsaved) and the summary. ``ComputeError`` explains a failure."""
    with _gc_paused():
        return await _computed_results(
            wave,
            username=username,
            include_non_probability=include_non_probability,
            seed=seed,
        )


async def _computed_results(
    wave: WaveRef, *, username: str, include_non_probability: bool, seed: int | None
) -> tuple[ResultRun, list[IndexResult], ComputeSummary]:
    registry = await load_registry(wave.region_id)
    responses = await load_responses(wave.id, include_non_probability=include_non_probability)
    # Interviews an analyst left out after the integrity flags (``survey.results.exclusions``).
    from survey.results import exclusions

    left_out = await exclusions.excluded_ids(wave.id)
    exclusion_note = await exclusions.method_note(wave.id, responses["id"])
    if left_out:
        responses = responses.take(
            [i for i, rid in enumerate(responses["id"]) if rid not in left_out]
        )
    # A published wave (a revision) keeps the rules it was published with.
    policy = await wave_policy(wave, recorded=wave.status == "published")
    try:
        prepared = prepare_wave(registry, responses, collapse_age_groups=policy.collapse_age_groups)
    except ValueError as exc:  # a stored answer that is not a code of its item
        raise ComputeError(f"问卷计分失败：{exc}") from exc
    try:
        stats = compute_wave_statistics(prepared.data)
    except EstimationError as exc:
        raise ComputeError(f"加权或估计失败：{exc}") from exc
    run_seed = SEED_BASE + wave.id if seed is None else seed
    # The level each index ranks: the policy's ``level`` (a city ranks its districts), else
    # the instrument's definition.
    index_levels = {
        **prepared.index_levels,
        **{spec.id: spec.level for spec in policy.indices if spec.level is not None},
    }
    history = await load_history(wave, index_levels)
    from survey.results.review import decisions_for

    decided = await decisions_for(wave.programme_id, wave.month)
    rows = rank_results(
        wave.month,
        policy,
        stats,
        index_levels,
        history,
        run_seed,
        {key: d.outcome for key, d in decided.items()},
    )
    by_whom = {
        (key[1], key[2], key[3]): (d.decided_by, d.reason)
        for key, d in decided.items()
        if key[0] == wave.month
    }
    previous, previous_dk = await load_previous_wave(wave)
    flags = integrity.wave_flags(
        integrity.FlagInput(
            estimates=stats.estimates,
            previous=previous,
            previous_dk=previous_dk,
            response_ids=prepared.response_ids,
            modes=prepared.modes,
            interviewers=prepared.interviewers,
            durations=prepared.durations,
            answer_columns=prepared.answer_columns,
            indices=prepared.data.indices,
            levels=prepared.data.levels,
        )
    )
    counts = integrity.dk_counts(prepared.data.indices, prepared.data.levels)
    main_instrument = max(prepared.instruments, key=lambda x: x["responses"])
    version = str(main_instrument["version"] or "0")
    instrument = (str(main_instrument["id"]), int(version) if version.isdigit() else 0)
    method = {
        "weighting": stats.weighting.method,
        "weighting_note": stats.weighting.note,
        "variance": "泰勒线性化（按层、以受访者为初级抽样单位、放回近似），耙权残差计入方差",
        "ci": "比例：logit 区间；均分：t 区间；0% 或 100% 的单位：Korn–Graubard（Clopper–Pearson，按有效样本量）",
        "ranking": (
            f"{policy.title}（第 {policy.version} 版）；P(后 k 位) 与 {policy.uncertainty.rank_level:.0%}"
            f" 名次区间由 {policy.uncertainty.draws} 次模拟（种子 {run_seed}）得到"
        ),
        "min_n_eff": policy.min_n_eff,
        "min_n": policy.min_n,
        "small_area": ranking.MODEL_LABEL,
        "non_probability": "计入" if include_non_probability else "不计入（开放链接等非概率样本）",
        "response_rate": await invitation_response_rate(wave.id),
        "ladder_note": await uncomputed_earlier_waves(wave),
        "instrument_note": "；".join(
            f"{i['responses']} 份回答使用问卷 {i['id']} 第 {i['version']} 版"
            f"（内容 {str(i['hash'])[:12]}），按当前第 {i['current_version']} 版的指标定义计分"
            for i in prepared.instruments
            if i["hash"] != i["current_hash"]
        ),
        "excluded": {**prepared.excluded, **_analyst_excluded(exclusion_note)},
        "exclusions": exclusion_note,
        "n_responses": len(prepared.response_ids),
        **mode_method(prepared, stats.weights),
    }
    sanctions = sum(1 for r in rows if r.outcome is not None and r.outcome.sanctions)
    praises = sum(1 for r in rows if r.outcome is not None and r.outcome.praises)
    targets = {t.index: t.at_least for t in policy.targets}
    result_rows = [
        IndexResult(**result_fields(wave.id, r, instrument, targets, counts, by_whom)) for r in rows
    ]
    run = ResultRun(
        wave=wave.id,
        computed_by=username,
        method_version=METHOD_VERSION,
        policy_id=policy.id,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        seed=run_seed,
        n_responses=len(prepared.response_ids),
        n_excluded=sum(method["excluded"].values()),
        instruments=json.dumps(list(prepared.instruments), ensure_ascii=False),
        weighting=json.dumps(diagnostics_json(stats), ensure_ascii=False),
        flags=json.dumps([asdict(f) for f in flags], ensure_ascii=False),
        method=json.dumps(method, ensure_ascii=False),
    )
    summary = ComputeSummary(
        wave_id=wave.id,
        month=wave.month,
        n_responses=len(prepared.response_ids),
        n_excluded=sum(method["excluded"].values()),
        n_results=len(result_rows),
        n_flags=len(flags),
        sanctions=sanctions,
        praises=praises,
        mode_effects=tuple(method["mode_effect"]),
    )
    return run, result_rows, summary


def _analyst_excluded(note: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The method's count of interviews analysts excluded (``survey.results.exclusions``)."""
    from survey.results.exclusions import EXCLUDED_KEY

    total = sum(int(e["n"]) for e in note)
    return {EXCLUDED_KEY: total} if total else {}
