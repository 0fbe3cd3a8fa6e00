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
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from questionnaires import Instrument, default_instruments, score_departments, score_responses
from questionnaires.scoring import composite_weights
from survey import waves
from survey.collection.tables import Invitation, Response
from survey.db import lock_row, write_transaction
from survey.db.tables import (
    AGE_GROUPS,
    SEXES,
    AuditLog,
    Unit,
    Wave,
)
from survey.estimation import EstimationError
from survey.registry.tree import load_tree
from survey.results import integrity, modes
from survey.results import ranking_adapter as ranking
from survey.results.statistics import (
    METHOD_VERSION,
    IndexValues,
    LevelUnits,
    UnitEstimate,
    WaveInput,
    WaveStatistics,
    compute_wave_statistics,
)
from survey.results.tables import IndexResult, ResultRun

# Re-exported: callers import these from here too (they live in the light ``waves`` module).
from survey.results.waves import ComputeError as ComputeError
from survey.results.waves import WaveRef as WaveRef
from survey.results.waves import resolve_wave as resolve_wave
from survey.results.waves import wave_by_id as wave_by_id

SEED_BASE = 20261124


@dataclass(frozen=True)
class Registry:
    """The registry below a programme's region, as plain lookups."""

    districts: tuple[tuple[int, str, str], ...]  # (id, code, name)
    streets: Mapping[int, tuple[str, str, int]]  # id → (code, name, district index)
    communities: Mapping[int, tuple[int, str]]  # id → (street id, station code)
    stations: tuple[tuple[str, str, str], ...]  # (code, name, district code)
    departments: tuple[tuple[str, str], ...]  # (code, name without the district prefix)
    population: np.ndarray  # (D, 2, 4)


@dataclass(frozen=True)
class PreparedWave:
    """Responses turned into the statistics' input, with what was left out and why."""

    data: WaveInput
    response_ids: tuple[int, ...]
    excluded: Mapping[str, int]
    instruments: tuple[dict[str, Any], ...]
    index_levels: Mapping[str, str]
    index_targets: Mapping[str, float | None]
    modes: tuple[str, ...]
    interviewers: tuple[int | None, ...]
    durations: tuple[int | None, ...]
    answers: tuple[tuple[Any, ...], ...]


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


# ---------------------------------------------------------------------------------------------
# Loading


async def load_registry(region_id: int) -> Registry:
    """Districts, streets, communities, stations, departments and populations of a region."""
    tree = await load_tree(region_id, population=True)
    if tree is None:
        raise ComputeError("测评方案的区域不存在")
    district_units = tree.at_level("district")
    districts = tuple((u.id, u.code, u.name) for u in district_units)
    district_index = {u.code: i for i, u in enumerate(district_units)}
    streets = {
        u.id: (u.code, u.name, district_index[u.district_code]) for u in tree.at_level("street")
    }
    community_units = tree.at_level("community")
    communities = {u.id: (u.parent_id or 0, u.station_code) for u in community_units}
    stations = tuple((s.code, s.name, s.district_code) for s in tree.stations)
    district_names = {u.code: u.name for u in district_units}
    departments: dict[str, str] = {}
    for dept in tree.departments:
        name, prefix = dept.name, district_names[dept.district_code]
        departments.setdefault(dept.code, name[len(prefix) :] if name.startswith(prefix) else name)
    population = np.zeros((len(districts), 2, 4))
    for u in community_units:
        d = district_index[u.district_code]
        for sex, age_group, persons in tree.population.get(u.id, ()):
            if sex in SEXES and age_group in AGE_GROUPS:
                population[d, SEXES.index(sex), AGE_GROUPS.index(age_group)] += persons
    return Registry(
        districts, streets, communities, stations, tuple(departments.items()), population
    )


async def source_wave_ids(wave_id: int) -> list[int]:
    """The waves whose completed responses a wave's computation reads: the wave itself and,
    when its programme's region is a city, every wave of the same month of a programme whose
    region is one of the city's districts (their interviews are not entered twice)."""
    wave = (
        await Wave.select(Wave.month, Wave.programme.region.as_alias("region"))
        .where(Wave.id == wave_id)
        .first()
    )
    if wave is None:
        return [wave_id]
    region = await Unit.select(Unit.level).where(Unit.id == wave["region"]).first()
    if region is None or region["level"] != "city":
        return [wave_id]
    districts = await Unit.select(Unit.id).where(
        (Unit.parent == wave["region"]) & (Unit.level == "district")
    )
    rows = await Wave.select(Wave.id).where(
        (Wave.month == wave["month"])
        & Wave.programme.region.is_in([r["id"] for r in districts] or [-1])
    )
    return [wave_id, *sorted(int(r["id"]) for r in rows)]


async def load_responses(wave_id: int, *, include_non_probability: bool) -> list[dict[str, Any]]:
    """The completed responses the wave's computation reads (``source_wave_ids``: a city wave
    reads its districts' waves of the month too), only the columns the computation reads."""
    query = Response.select(
        Response.id,
        Response.instrument_id,
        Response.instrument_version,
        Response.instrument_hash,
        Response.mode,
        Response.community,
        Response.sex,
        Response.age_group,
        Response.answers,
        Response.design_weight,
        Response.stratum,
        Response.interviewer,
        Response.duration_seconds,
        Response.non_probability,
    ).where(Response.wave.is_in(await source_wave_ids(wave_id)) & (Response.status == "completed"))
    if not include_non_probability:
        query = query.where(Response.non_probability == False)  # noqa: E712
    return list(await query.order_by(Response.id))


# ---------------------------------------------------------------------------------------------
# Preparing the arrays


def _instrument_for(
    instrument_id: str, registry: Registry, cache: dict[str, Instrument]
) -> Instrument:
    if instrument_id not in cache:
        known = default_instruments()
        if instrument_id not in known:
            raise ComputeError(f"回答使用的问卷 {instrument_id} 不存在")
        instrument = known[instrument_id]
        if registry.departments and any(ind.departments for ind in instrument.indices):
            instrument = instrument.with_departments(list(registry.departments))
        cache[instrument_id] = instrument
    return cache[instrument_id]


def prepare_wave(
    registry: Registry,
    responses: Sequence[Mapping[str, Any]],
    *,
    collapse_age_groups: bool = False,
) -> PreparedWave:
    """Attribute each response to its units, score every index, build the statistics' input
    (``collapse_age_groups``: the policy's setting for empty age cells, see ``build_weights``).

    Responses without a community of the region, or without sex / age group (needed for the
    raking), are left out and counted in ``excluded``; so are interviews voided by an index's
    ``dk_policy = "void_interview"``.
    """
    excluded: Counter[str] = Counter()
    kept: list[Mapping[str, Any]] = []
    for r in responses:
        if r["community"] not in registry.communities:
            excluded["居住社区不在本方案区域"] += 1
        elif r["sex"] not in SEXES or r["age_group"] not in AGE_GROUPS:
            excluded["缺少性别或年龄段"] += 1
        else:
            kept.append(r)
    if not kept:
        raise ComputeError("该测评期没有可用于计算的已完成问卷")
    n = len(kept)
    answers = [json.loads(r["answers"] or "{}") for r in kept]
    instruments: dict[str, Instrument] = {}
    by_instrument: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(kept):
        _instrument_for(r["instrument_id"], registry, instruments)
        by_instrument[r["instrument_id"]].append(i)

    # Each index id across instruments: values over all rows (NaN where another instrument).
    specs: dict[str, dict[str, Any]] = {}
    void = np.zeros(n, dtype=bool)
    for instrument_id, rows in by_instrument.items():
        instrument = instruments[instrument_id]
        idx = np.asarray(rows)
        subset = [answers[i] for i in rows]
        for definition in instrument.indices:
            if definition.kind == "composite":
                continue
            spec = specs.setdefault(
                definition.id,
                {
                    "definition": definition,
                    "kind": "share" if definition.kind == "top_box_share" else "score",
                    "values": {},
                    "dk": {},
                    "answered": {},
                    "composite": None,
                },
            )
            if definition.departments:
                scored = score_departments(instrument, definition.id, subset)
                for dept, scores in scored.items():
                    _put(spec, dept, n, idx, scores.values, scores.dk_mask)
                    void[idx] |= scores.void_mask
                composite = next(
                    (
                        c
                        for c in instrument.indices
                        if c.kind == "composite" and c.component == definition.id
                    ),
                    None,
                )
                if composite is not None:
                    spec["composite"] = (
                        composite,
                        composite_weights(instrument, composite.id),
                    )
            else:
                scores = score_responses(instrument, definition.id, subset)
                _put(spec, "", n, idx, scores.values, scores.dk_mask)
                void[idx] |= scores.void_mask
    if void.any():
        excluded["按不知道处理规则作废"] += int(void.sum())

    # Units per row.
    street_codes = {sid: s[0] for sid, s in registry.streets.items()}
    street_list = sorted(registry.streets.items(), key=lambda kv: kv[1][0])
    street_pos = {sid: i for i, (sid, _s) in enumerate(street_list)}
    station_pos = {s[0]: i for i, s in enumerate(registry.stations)}
    # Community → (district, street, station) positions once per community, then gathered.
    community_list = list(registry.communities)
    community_pos = {cid: k for k, cid in enumerate(community_list)}
    by_community = np.array(
        [
            (
                registry.streets[registry.communities[cid][0]][2],
                street_pos[registry.communities[cid][0]],
                station_pos.get(registry.communities[cid][1], -1),
            )
            for cid in community_list
        ],
        dtype=np.int64,
    ).reshape(-1, 3)
    row_community = np.fromiter(
        map(community_pos.__getitem__, (r["community"] for r in kept)), dtype=np.intp, count=n
    )
    district_of_row = by_community[row_community, 0]
    street_of_row = by_community[row_community, 1]
    station_of_row = by_community[row_community, 2]
    keep_rows = ~void
    district_codes = tuple(d[1] for d in registry.districts)
    levels = {
        "district": LevelUnits(
            "district",
            district_codes,
            tuple(d[2] for d in registry.districts),
            district_codes,
            district_of_row,
        ),
        "street": LevelUnits(
            "street",
            tuple(street_codes[sid] for sid, _s in street_list),
            tuple(s[1] for _sid, s in street_list),
            tuple(district_codes[s[2]] for _sid, s in street_list),
            street_of_row,
        ),
        "station": LevelUnits(
            "station",
            tuple(s[0] for s in registry.stations),
            tuple(s[1] for s in registry.stations),
            tuple(s[2] for s in registry.stations),
            station_of_row,
        ),
    }
    index_values: list[IndexValues] = []
    index_levels: dict[str, str] = {}
    index_targets: dict[str, float | None] = {}
    for index_id, spec in specs.items():
        definition = spec["definition"]
        index_levels[index_id] = definition.unit_level
        index_targets[index_id] = definition.target
        values = {k: np.where(keep_rows, v, np.nan) for k, v in spec["values"].items()}
        if definition.departments:
            composite = spec["composite"]
            dept_names = dict(registry.departments)
            index_values.append(
                IndexValues(
                    id=index_id,
                    name=definition.name,
                    kind=spec["kind"],
                    unit_level="department",
                    departments=tuple((d, dept_names.get(d, d)) for d in values),
                    department_values=values,
                    department_dk=spec["dk"],
                    department_answered=spec["answered"],
                    composite_id=composite[0].id if composite else None,
                    composite_name=composite[0].name if composite else "",
                    composite_weights=composite[1] if composite else {},
                    pass_score=definition.pass_score,
                )
            )
            if composite:
                index_levels[composite[0].id] = "district"
        else:
            index_values.append(
                IndexValues(
                    id=index_id,
                    name=definition.name,
                    kind=spec["kind"],
                    unit_level=definition.unit_level,
                    values=values[""],
                    dk=spec["dk"][""],
                    answered=spec["answered"][""],
                    target=definition.target,
                    pass_score=definition.pass_score,
                )
            )
    # A stratum is the file's label within its district: two districts' (a city wave's) "A"
    # are two strata, since the districts are sampled independently.
    strata_labels = [
        (int(d), r["stratum"] or "") for d, r in zip(district_of_row, kept, strict=True)
    ]
    stratum_codes = {s: i for i, s in enumerate(sorted({s for s in strata_labels if s[1]}))}
    data = WaveInput(
        districts=district_codes,
        district_names=tuple(d[2] for d in registry.districts),
        district=district_of_row,
        sex=np.fromiter(
            map({s: k for k, s in enumerate(SEXES)}.__getitem__, (r["sex"] for r in kept)),
            dtype=np.int64,
            count=n,
        ),
        age=np.fromiter(
            map(
                {a: k for k, a in enumerate(AGE_GROUPS)}.__getitem__,
                (r["age_group"] for r in kept),
            ),
            dtype=np.int64,
            count=n,
        ),
        base_weight=np.array(
            [np.nan if r["design_weight"] is None else float(r["design_weight"]) for r in kept]
        ),
        stratum=np.array([stratum_codes.get(s, -1) for s in strata_labels], dtype=np.int64),
        population=registry.population,
        levels=levels,
        indices=tuple(index_values),
        collapse_age_groups=collapse_age_groups,
    )
    versions = Counter(
        (r["instrument_id"], r["instrument_version"], r["instrument_hash"]) for r in kept
    )
    instrument_info = tuple(
        {
            "id": iid,
            "version": version,
            "hash": h,
            "responses": count,
            "current_version": instruments[iid].version,
            "current_hash": instruments[iid].content_hash,
        }
        for (iid, version, h), count in sorted(versions.items())
    )
    keys = sorted({k for a in answers for k in a if k not in ("street", "community")})
    # One answer vector per response (the integrity checks), built column by column.
    columns: list[list[Any]] = []
    for key in keys:
        column = [a.get(key) for a in answers]
        if list in set(map(type, column)):
            column = [tuple(v) if isinstance(v, list) else v for v in column]
        columns.append(column)
    vectors = tuple(zip(*columns, strict=True)) if columns else tuple(() for _a in answers)
    return PreparedWave(
        data=data,
        response_ids=tuple(r["id"] for r in kept),
        excluded=dict(excluded),
        instruments=instrument_info,
        index_levels=index_levels,
        index_targets=index_targets,
        modes=tuple(r["mode"] for r in kept),
        interviewers=tuple(r["interviewer"] for r in kept),
        durations=tuple(r["duration_seconds"] for r in kept),
        answers=vectors,
    )


def _put(
    spec: dict[str, Any],
    key: str,
    n: int,
    rows: np.ndarray,
    values: np.ndarray,
    dk: np.ndarray,
) -> None:
    full = spec["values"].setdefault(key, np.full(n, np.nan))
    dk_full = spec["dk"].setdefault(key, np.zeros(n, dtype=bool))
    answered = spec["answered"].setdefault(key, np.zeros(n, dtype=bool))
    full[rows] = values
    dk_full[rows] = dk
    answered[rows] = np.isfinite(values) | dk


# ---------------------------------------------------------------------------------------------
# Ranking and storing


@dataclass(frozen=True)
class _Row:
    estimate: UnitEstimate
    outcome: ranking.UnitOutcome | None
    fh: tuple[float, float] | None


async def _history(wave: WaveRef, levels: Mapping[str, str]) -> list[ranking.UnitResult]:
    """Stored results of the programme's earlier waves at each policy index's ranked level."""
    rows = await IndexResult.select(
        IndexResult.wave.month.as_alias("month"),
        IndexResult.index_id,
        IndexResult.level,
        IndexResult.unit_code,
        IndexResult.unit_name,
        IndexResult.estimate,
        IndexResult.se,
        IndexResult.n,
        IndexResult.n_eff,
        IndexResult.n_kish,
    ).where(
        (IndexResult.wave.programme == wave.programme_id) & (IndexResult.wave.month < wave.month)
    )
    out: list[ranking.UnitResult] = []
    for r in rows:
        if levels.get(r["index_id"]) != r["level"]:
            continue
        out.append(
            ranking.UnitResult(
                wave=r["month"],
                index=r["index_id"],
                unit_code=r["unit_code"],
                estimate=r["estimate"],
                se=r["se"],
                n=r["n"],
                n_eff=r["n_eff"],
                status=ranking.RANKED if r["estimate"] is not None else ranking.INSUFFICIENT,
                unit_name=r["unit_name"],
                n_kish=r["n_kish"],
            )
        )
    return out


def rank_results(
    wave_month: str,
    policy: ranking.Policy,
    stats: WaveStatistics,
    index_levels: Mapping[str, str],
    history: Sequence[ranking.UnitResult],
    seed: int,
    decisions: Mapping[tuple[str, str, str, str], str] | None = None,
) -> list[_Row]:
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
        rows.append(_Row(e, outcome, fh.get((e.index_id, e.level, e.unit_code))))
    return rows


def _display_ci(e: UnitEstimate) -> tuple[float | None, float | None, str]:
    """The stored CI; at 0 %/100 % or SE 0 the non-degenerate Clopper–Pearson/Korn–Graubard
    interval from n_eff instead of [p, p]."""
    if e.estimate is None or e.se is None:
        return None, None, ""
    if e.scale == "%" and (e.se == 0 or e.estimate in (0.0, 100.0)):
        interval = ranking.display_interval(e.estimate, e.se, max(e.n_eff, 1.0))
        return interval.lower, interval.upper, "korn_graubard"
    return e.ci_lower, e.ci_upper, e.ci_method


def _result_row(
    wave_id: int,
    row: _Row,
    instrument: tuple[str, int],
    targets: Mapping[str, float],
    counts: Mapping[tuple[str, str], tuple[int, int]],
    by_whom: Mapping[tuple[str, str, str], tuple[str, str]] | None = None,
) -> IndexResult:
    e = row.estimate
    o = row.outcome
    ci_lower, ci_upper, ci_method = _display_ci(e)
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
    return IndexResult(
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


def _diagnostics_json(stats: WaveStatistics) -> list[dict[str, Any]]:
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


async def wave_policy(wave: WaveRef, *, recorded: bool) -> ranking.Policy:
    """The policy for computing ``wave``: with ``recorded``, the version its latest computation
    used (so a published wave's revision, and its microdata, keep their rules), else the
    programme's current version (``survey.programmes``)."""
    from survey.programmes.service import ProgrammeError, policy_for_wave

    recorded_hash = None
    if recorded:
        run = (
            await ResultRun.select(ResultRun.policy_hash)
            .where(ResultRun.wave == wave.id)
            .order_by(ResultRun.id, ascending=False)
            .first()
        )
        recorded_hash = str(run["policy_hash"]) if run else None
    try:
        return await policy_for_wave(wave.programme_id, recorded_hash)
    except (ProgrammeError, ranking.PolicyError) as exc:
        raise ComputeError(f"测评结果运用办法无法读取：{exc}") from exc


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
        await AuditLog.insert(
            AuditLog(
                username=username,
                action="results.compute",
                detail=f"wave={wave.id} month={wave.month} results={len(result_rows)}",
            )
        )
    return summary


def _check(wave_id: int, activity: str, status: str, month: str) -> None:
    try:
        waves.check(activity, status, month)
    except waves.WaveError as exc:
        raise ComputeError(str(exc)) from exc


async def computed_results(
    wave: WaveRef, *, username: str, include_non_probability: bool = False, seed: int | None = None
) -> tuple[ResultRun, list[IndexResult], ComputeSummary]:
    """Compute every index of ``wave`` without storing anything: the run row, the result rows
    (both unsaved) and the summary. ``ComputeError`` explains a failure."""
    registry = await load_registry(wave.region_id)
    responses = await load_responses(wave.id, include_non_probability=include_non_probability)
    # Interviews an analyst left out after the integrity flags (``survey.results.exclusions``).
    from survey.results import exclusions

    left_out = await exclusions.excluded_ids(wave.id)
    exclusion_note = await exclusions.method_note(wave.id, (r["id"] for r in responses))
    responses = [r for r in responses if r["id"] not in left_out]
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
    history = await _history(wave, index_levels)
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
    previous, previous_dk = await _previous_wave(wave)
    flags = integrity.wave_flags(
        integrity.FlagInput(
            estimates=stats.estimates,
            previous=previous,
            previous_dk=previous_dk,
            response_ids=prepared.response_ids,
            modes=prepared.modes,
            interviewers=prepared.interviewers,
            durations=prepared.durations,
            answers=prepared.answers,
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
        "response_rate": await _invitation_response_rate(wave.id),
        "ladder_note": await _uncomputed_earlier_waves(wave),
        "instrument_note": "；".join(
            f"{i['responses']} 份回答使用问卷 {i['id']} 第 {i['version']} 版"
            f"（内容 {str(i['hash'])[:12]}），按当前第 {i['current_version']} 版的指标定义计分"
            for i in prepared.instruments
            if i["hash"] != i["current_hash"]
        ),
        "excluded": {**prepared.excluded, **_analyst_excluded(exclusion_note)},
        "exclusions": exclusion_note,
        "n_responses": len(prepared.response_ids),
        **_mode_method(prepared, stats.weights),
    }
    sanctions = sum(1 for r in rows if r.outcome is not None and r.outcome.sanctions)
    praises = sum(1 for r in rows if r.outcome is not None and r.outcome.praises)
    targets = {t.index: t.at_least for t in policy.targets}
    result_rows = [_result_row(wave.id, r, instrument, targets, counts, by_whom) for r in rows]
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
        weighting=json.dumps(_diagnostics_json(stats), ensure_ascii=False),
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


def _mode_method(prepared: PreparedWave, weights: Any) -> dict[str, Any]:
    """The mode mix per unit (every level) and the web − phone difference of each index at the
    programme's whole area (``survey.results.modes``: a diagnostic, nothing is corrected)."""
    data = prepared.data
    mix: dict[str, list[dict[str, Any]]] = {}
    for level_name, level in data.levels.items():
        units = [level.codes[u] if u >= 0 else "" for u in np.asarray(level.row_unit, dtype=int)]
        counts = modes.mode_mix(units, prepared.modes)
        names = dict(zip(level.codes, level.names, strict=True))
        mix[level_name] = [
            {"unit_code": code, "unit_name": names.get(code, ""), **counts[code]}
            for code in sorted(counts)
            if code
        ]
    effects: list[dict[str, Any]] = []
    for index in data.indices:
        if index.values is None:
            continue  # department indices: per department, not one headline value
        scale = 100.0 if index.kind == "share" else 1.0
        d = modes.mode_difference(weights, data.district, index.values, prepared.modes)

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


async def _uncomputed_earlier_waves(wave: WaveRef) -> str:
    """A warning naming earlier closed/published waves without results: the ladder counts
    consecutive waves from stored results, so a missing computation shortens the streaks."""
    earlier = await Wave.select(Wave.id, Wave.month).where(
        (Wave.programme == wave.programme_id)
        & (Wave.month < wave.month)
        & Wave.status.is_in(["closed", "published"])
    )
    computed = {
        r["wave"]
        for r in await ResultRun.select(ResultRun.wave).where(
            ResultRun.wave.is_in([r["id"] for r in earlier] or [-1])
        )
    }
    missing = sorted(r["month"] for r in earlier if r["id"] not in computed)
    if not missing:
        return ""
    return f"较早的测评期 {'、'.join(missing)} 尚未计算结果，连续期数可能少算：请先计算这些测评期"


async def _invitation_response_rate(wave_id: int) -> float | None:
    """Completed interviews per invitation sent (web links; open links excluded), or None when
    the wave sent no invitations. Telephone response rates (AAPOR) belong to the CATI reports."""
    sent = await Invitation.count().where(
        (Invitation.wave == wave_id) & (Invitation.open_link == False)  # noqa: E712
    )
    if not sent:
        return None
    done = await Response.count().where(
        (Response.wave == wave_id)
        & (Response.status == "completed")
        & Response.invitation.is_not_null()
        & (Response.non_probability == False)  # noqa: E712
    )
    return done / sent


async def _previous_wave(
    wave: WaveRef,
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], tuple[int, int]]]:
    """Estimates and (don't-know, answered) counts by (index, unit) of the programme's latest
    earlier wave with results (empty before the first)."""
    earlier = (
        await IndexResult.select(IndexResult.wave.month.as_alias("month"))
        .where(
            (IndexResult.wave.programme == wave.programme_id)
            & (IndexResult.wave.month < wave.month)
        )
        .order_by(IndexResult.wave.month, ascending=False)
        .first()
    )
    if earlier is None:
        return {}, {}
    rows = await IndexResult.select(
        IndexResult.index_id, IndexResult.unit_code, IndexResult.estimate, IndexResult.evidence
    ).where(
        (IndexResult.wave.programme == wave.programme_id)
        & (IndexResult.wave.month == earlier["month"])
    )
    estimates: dict[tuple[str, str], float] = {}
    dk: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        key = (r["index_id"], r["unit_code"])
        if r["estimate"] is not None:
            estimates[key] = r["estimate"]
        counts = json.loads(r["evidence"] or "{}").get("dk_counts")
        if counts:
            dk[key] = (int(counts[0]), int(counts[1]))
    return estimates, dk
