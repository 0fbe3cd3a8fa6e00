"""From a wave's statistics to its stored figures (pure: no database imports): the policy's
outcomes with the ranking core (ranks, P(bottom k), rank intervals, ladder) and Fay–Herriot
estimates per estimate (``rank_results``), the fields of each stored result row
(``result_fields``), the weighting diagnostics and the mode diagnostics of the run's method.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from survey.results import modes
from survey.results import ranking_adapter as ranking
from survey.results.preparation import PreparedWave
from survey.results.statistics import METHOD_VERSION, UnitEstimate, WaveStatistics


@dataclass(frozen=True)
class RankedRow:
    """One estimate with its policy outcome (at its index's ranked level) and FH estimate."""

    estimate: UnitEstimate
    outcome: ranking.UnitOutcome | None
    fh: tuple[float, float] | None


def rank_results(
    wave_month: str,
    policy: ranking.Policy,
    stats: WaveStatistics,
    index_levels: Mapping[str, str],
    history: Sequence[ranking.UnitResult],
    seed: int,
    decisions: Mapping[tuple[str, str, str, str], str] | None = None,
) -> list[RankedRow]:
    """Policy outcomes (ranks, evidence, ladder) and Fay–Herriot estimates for each estimate."""
    ranked_ids = {spec.id for spec in policy.indices}
    current = [
        ranking.UnitResult(
            wave=wave_month,
            index=e.index_id,
            unit_code=e.unit_code,
            estimate=e.estimate,
            se=e.se,
            n=e.n,
            n_eff=e.n_eff,
            status=ranking.RANKED if e.estimate is not None else ranking.INSUFFICIENT,
            unit_name=e.unit_name,
            n_kish=e.n_kish,
        )
        for e in stats.estimates
        if e.index_id in ranked_ids and e.level == index_levels.get(e.index_id)
    ]
    evaluation = ranking.evaluate(
        policy, [*history, *current], wave_month, seed=seed, decisions=decisions
    )
    outcomes = {(o.index, o.unit_code): o for o in evaluation.outcomes}
    fh: dict[tuple[str, str, str], tuple[float, float]] = {}
    groups: dict[tuple[str, str], list[UnitEstimate]] = defaultdict(list)
    for e in stats.estimates:
        if e.level in ("station", "street", "department"):
            groups[(e.index_id, e.level)].append(e)
    for (index_id, level), members in groups.items():
        usable = [
            e
            for e in members
            if e.estimate is not None and e.se is not None and (e.se > 0 or e.scale == "%")
        ]
        shrunk = ranking.shrink(
            [float(e.estimate or 0.0) for e in usable],
            [float(e.se or 0.0) for e in usable],
            [e.n_eff for e in usable],
            share=bool(usable) and usable[0].scale == "%",
        )
        if shrunk is None:
            continue
        for e, value, rmse in zip(usable, shrunk[0], shrunk[1], strict=True):
            fh[(index_id, level, e.unit_code)] = (value, rmse)
    rows = []
    for e in stats.estimates:
        outcome = (
            outcomes.get((e.index_id, e.unit_code))
            if e.level == index_levels.get(e.index_id)
            else None
        )
        rows.append(RankedRow(e, outcome, fh.get((e.index_id, e.level, e.unit_code))))
    return rows


def display_ci(e: UnitEstimate) -> tuple[float | None, float | None, str]:
    """The stored CI; at 0 %/100 % or SE 0 the non-degenerate Clopper–Pearson/Korn–Graubard
    interval from n_eff instead of [p, p]."""
    if e.estimate is None or e.se is None:
        return None, None, ""
    if e.scale == "%" and (e.se == 0 or e.estimate in (0.0, 100.0)):
        interval = ranking.display_interval(e.estimate, e.se, max(e.n_eff, 1.0))
        return interval.lower, interval.upper, "korn_graubard"
    return e.ci_lower, e.ci_upper, e.ci_method


def result_fields(
    wave_id: int,
    row: RankedRow,
    instrument: tuple[str, int],
    targets: Mapping[str, float],
    counts: Mapping[tuple[str, str], tuple[int, int]],
    by_whom: Mapping[tuple[str, str, str], tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The fields of one stored result row (``IndexResult``)."""
    e = row.estimate
    o = row.outcome
    ci_lower, ci_upper, ci_method = display_ci(e)
    evidence: dict[str, Any] = {}
    if o is not None:
        evidence = {k: v for k, v in asdict(o.evidence).items() if v not in (None, "")}
        evidence["points"] = [asdict(p) for p in o.points]
        evidence["targets"] = [asdict(t) for t in o.targets]
        evidence["published"] = o.published
    if (e.index_id, e.unit_code) in counts:
        # unweighted (don't-know, answered) counts: next wave's don't-know collapse test
        evidence["dk_counts"] = list(counts[(e.index_id, e.unit_code)])
    status = "not_ranked"
    if o is not None:
        status = o.status
    return dict(
        wave=wave_id,
        index_id=e.index_id,
        index_name=e.index_name,
        level=e.level,
        unit_code=e.unit_code,
        unit_name=e.unit_name,
        district_code=e.district_code,
        scale=e.scale,
        estimate=e.estimate,
        se=e.se,
        ci_lower=ci_lower,
        ci_upper=ci_upper,
        ci_method=ci_method,
        n=e.n,
        n_eff=e.n_eff,
        n_kish=e.n_kish,
        dk_rate=None if e.dk_rate is None else e.dk_rate * 100.0,
        deff=e.deff,
        status=status,
        rank=o.rank if o is not None else None,
        n_ranked=o.n_ranked if o is not None else 0,
        p_bottom_k=o.evidence.p_bottom_k if o is not None else None,
        rank_lower=o.evidence.rank_lower if o is not None else None,
        rank_upper=o.evidence.rank_upper if o is not None else None,
        distinguishable=o.evidence.distinguishable if o is not None else None,
        fh_estimate=row.fh[0] if row.fh else None,
        fh_se=row.fh[1] if row.fh else None,
        target=e.target if e.target is not None else targets.get(e.index_id),
        sanctions=json.dumps(
            [
                {
                    "level": s.level,
                    "name": s.name,
                    "reason": s.reason,
                    "measure": s.measure,
                    "rule": s.rule,
                    "review": s.review,
                    **_decided_by(by_whom, e.index_id, e.unit_code, s.rule, s.review),
                }
                for s in (o.sanctions if o is not None else ())
            ],
            ensure_ascii=False,
        ),
        praises=json.dumps(
            [
                {"level": p.level, "name": p.name, "reason": p.reason, "measure": p.measure}
                for p in (o.praises if o is not None else ())
            ],
            ensure_ascii=False,
        ),
        evidence=json.dumps(evidence, ensure_ascii=False, default=str),
        instrument_id=instrument[0],
        instrument_version=instrument[1],
        method_version=METHOD_VERSION,
    )


def _decided_by(
    by_whom: Mapping[tuple[str, str, str], tuple[str, str]] | None,
    index_id: str,
    unit_code: str,
    rule: str,
    review: str,
) -> dict[str, str]:
    """Who decided a confirmed/withdrawn sanction and why (shown beside it)."""
    if review not in ("confirmed", "withdrawn", "changed") or not by_whom:
        return {}
    who = by_whom.get((index_id, unit_code, rule))
    return {} if who is None else {"review_by": who[0], "review_note": who[1]}


def diagnostics_json(stats: WaveStatistics) -> list[dict[str, Any]]:
    w = stats.weighting
    merged = "；".join(f"{code}: {text}" for code, text in w.merged.items())
    out = [{"district": "", "scope": "全部", **asdict(w.overall), "merged_age_groups": merged}]
    out.extend(
        {
            "district": code,
            "scope": code,
            **asdict(d),
            "merged_age_groups": w.merged.get(code, ""),
        }
        for code, d in w.by_district.items()
    )
    return out


def mode_method(prepared: PreparedWave, weights: Any) -> dict[str, Any]:
    """The mode mix per unit (every level) and the web − phone difference of each index at the
    programme's whole area (``survey.results.modes``: a diagnostic, nothing is corrected)."""
    data = prepared.data
    mix: dict[str, list[dict[str, Any]]] = {}
    for level_name, level in data.levels.items():
        codes = np.array([*level.codes, ""], dtype=object)  # −1 (no unit) → ""
        units = codes[np.asarray(level.row_unit, dtype=int)].tolist()
        counts = modes.mode_mix(units, prepared.modes)
        names = dict(zip(level.codes, level.names, strict=True))
        mix[level_name] = [
            {"unit_code": code, "unit_name": names.get(code, ""), **counts[code]}
            for code in sorted(counts)
            if code
        ]
    effects: list[dict[str, Any]] = []
    groups = modes.mode_groups(prepared.modes)  # once for every index
    for index in data.indices:
        if index.values is None:
            continue  # department indices: per department, not one headline value
        scale = 100.0 if index.kind == "share" else 1.0
        d = modes.mode_difference(weights, data.district, index.values, groups)

        def scaled(x: float | None, factor: float = scale) -> float | None:
            return None if x is None else x * factor

        effects.append(
            {
                "index_id": index.id,
                "index_name": index.name,
                "web": scaled(d.web),
                "phone": scaled(d.phone),
                "n_web": d.n_web,
                "n_phone": d.n_phone,
                "difference": scaled(d.difference),
                "se": scaled(d.se),
                "ci_lower": scaled(d.ci_lower),
                "ci_upper": scaled(d.ci_upper),
            }
        )
    return {"mode_mix": mix, "mode_effect": effects}
