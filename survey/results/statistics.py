"""The statistics of a wave, over plain arrays (no database): weights, then every index per unit.

``compute_wave_statistics(data)`` takes one row per completed interview (district, sex, age group,
base weight, stratum, the unit of each level) and each index's per-respondent values from the
questionnaires' scoring core, and returns one ``UnitEstimate`` per index × unit plus the
weighting diagnostics. The database layer (``survey.results.compute``) builds the input and stores
the output; the benchmark times this function.

Method (``METHOD_VERSION``):

1. base weight = the design weight where the sample has one, else 1; scaled within each district
   so that it sums to the district's adult population (registry);
2. raking of the base weights to two margins per district — sex and age group, from the
   registry's sex × age counts — then trimming of the adjustment factors to
   [``TRIM_FACTOR_LOWER``, ``TRIM_FACTOR_UPPER``] with re-raking (falls back to plain raking, with
   a note, when both cannot hold);
3. the design: strata = the sample's strata (else districts), PSU = respondent, with-replacement
   variance (no finite population correction), Taylor linearisation with the raking residuals
   (``survey.estimation``);
4. shares (安全感, 知晓率): ``proportion_by`` with the logit interval; scores (满意度):
   ``mean_by`` with the t interval on the design's df; the composite over departments:
   Σ a_d·mean_d with its linearised SE (see ``_composite``);
5. figures on the published 0–100 scale; don't-know rate = weighted share of don't-know/refused
   answers among everyone who answered the item (whatever the index's policy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from survey import estimation as est
from survey.results.records import UnitEstimate as UnitEstimate

METHOD_VERSION = "results-1.0"
TRIM_FACTOR_LOWER = 0.25
TRIM_FACTOR_UPPER = 4.0
CI_LEVEL = 0.95

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: Age groups in ``WaveInput.age`` order — the registry's ``survey.db.tables.AGE_GROUPS`` (kept
#: here so that this module needs no database import; a test checks they agree).
AGE_LABELS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")
#: Sexes in ``WaveInput.sex`` order — ``survey.db.tables.SEXES``, likewise.
SEX_LABELS: tuple[str, ...] = ("M", "F")
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class LevelUnits:
    """The units of one level (station, street, district) and each respondent's unit.

    ``row_unit`` is an index into ``codes`` per respondent (−1 = none); ``districts`` is the
    district code of each unit.
    """

    level: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    districts: tuple[str, ...]
    row_unit: IntArray


@dataclass(frozen=True)
class IndexValues:
    """One index's per-respondent values (NaN = not in the base) and don't-know masks.

    ``kind`` is ``share`` (values 0/1, published as percent) or ``score`` (points). Department
    indices give ``departments`` ((code, name), …) and one values/dk array per department;
    ``composite_weights`` (department code → weight summing to 1) adds the composite index
    ``composite_id`` per district.
    """

    id: str
    name: str
    kind: str
    unit_level: str
    values: FloatArray | None = None
    dk: BoolArray | None = None
    answered: BoolArray | None = None
    departments: tuple[tuple[str, str], ...] = ()
    department_values: Mapping[str, FloatArray] = field(default_factory=dict)
    department_dk: Mapping[str, BoolArray] = field(default_factory=dict)
    department_answered: Mapping[str, BoolArray] = field(default_factory=dict)
    composite_id: str | None = None
    composite_name: str = ""
    composite_weights: Mapping[str, float] = field(default_factory=dict)
    target: float | None = None
    pass_score: float | None = None


@dataclass(frozen=True)
class WaveInput:
    """Everything the statistics need, as arrays of one row per interview.

    ``district``: index into ``districts``; ``sex`` 0 = M, 1 = F; ``age`` 0..3 (registry age
    groups); ``base_weight`` the design weight or NaN; ``stratum`` an integer stratum code
    (−1 = none: the district is used); ``population`` (D, 2, 4) adults by district × sex × age.
    """

    districts: tuple[str, ...]
    district_names: tuple[str, ...]
    district: IntArray
    sex: IntArray
    age: IntArray
    base_weight: FloatArray
    stratum: IntArray
    population: FloatArray
    levels: Mapping[str, LevelUnits]
    indices: Sequence[IndexValues]
    collapse_age_groups: bool = False


@dataclass(frozen=True)
class WeightingSummary:
    """Diagnostics of the final weights (overall and per district) and how they were made."""

    method: str
    trimmed: bool
    note: str
    overall: est.WeightingDiagnostics
    by_district: Mapping[str, est.WeightingDiagnostics]
    merged: Mapping[str, str] = field(default_factory=dict)  # district code → merged age groups


@dataclass(frozen=True)
class WaveStatistics:
    """The output: ``estimates`` in index order then level then unit, the final ``weights`` per
    respondent (for the microdata export) and the weighting summary."""

    estimates: tuple[UnitEstimate, ...]
    weights: FloatArray
    weighting: WeightingSummary


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


#: Age groups in words, for messages (``AGE_LABELS`` order).
AGE_WORDS: tuple[str, ...] = ("18～29岁", "30～44岁", "45～59岁", "60岁及以上")


def _district_words(data: WaveInput, d: int) -> str:
    code = data.districts[d]
    name = data.district_names[d] if d < len(data.district_names) else ""
    return f"{name}（区县 {code}）" if name and name != code else f"区县 {code}"


def _check_cells(
    data: WaveInput, present: IntArray, age_cell: IntArray, population: FloatArray
) -> None:
    """Every sex and age cell of a district with interviews needs at least one respondent where
    the registry has adults: say which cells are empty, by district and group in words, and
    what to do (the raking core would name only the cell's position). ``age_cell`` is each
    respondent's age cell and ``population`` (present districts × 2 × 4) the adults per cell
    after merging (a merged group counts in its first age group's cell)."""
    empty: list[str] = []
    age_empty = False
    for k, d in enumerate(present):
        in_district = data.district == d
        where = _district_words(data, d)
        for s, name in enumerate(("男性", "女性")):
            if population[k, s].sum() > 0 and not np.any(in_district & (data.sex == s)):
                empty.append(f"{where}的{name}")
        for a, group in enumerate(AGE_WORDS):
            cell_pop = population[k, :, a].sum()
            if cell_pop > 0 and not np.any(in_district & (age_cell == a)):
                empty.append(f"{where}的{group}人群（登记人口 {cell_pop:,.0f} 人）")
                age_empty = True
    if empty:
        collapse = (
            "；或在测评结果运用办法中设置 collapse_age_groups = true，把没有受访者的年龄段与"
            "相邻年龄段合并加权（合并情况写入加权诊断）"
            if age_empty and not data.collapse_age_groups
            else ""
        )
        raise est.EstimationError(
            "、".join(empty) + " 没有受访者，无法按区县×性别、区县×年龄段加权。"
            "请补充这些人群的样本（如释放备用批次、继续电话访问）后再计算" + collapse
        )


def _merge_empty_ages(
    data: WaveInput, present: IntArray
) -> tuple[IntArray, FloatArray, dict[str, str]]:
    """With ``collapse_age_groups``: per district, each age group with adults but no respondent
    joins its neighbour (the next older group; the oldest joins the next younger), repeatedly,
    until every group with adults has respondents. Returns each respondent's age cell (the
    first age group of its merged group), the adults per present district × sex × age cell
    (a merged group's adults in its first group's cell) and, per district, the merges in words."""
    age_cell = data.age.copy()
    population = data.population[present].copy()
    merged: dict[str, str] = {}
    if not data.collapse_age_groups:
        return age_cell, population, merged
    for k, d in enumerate(present):
        in_district = data.district == d
        counts = np.bincount(data.age[in_district], minlength=len(AGE_LABELS))
        pop = data.population[d].sum(axis=0)
        groups: list[list[int]] = [[a] for a in range(len(AGE_LABELS))]
        while len(groups) > 1:
            empty = next(
                (i for i, g in enumerate(groups) if pop[g].sum() > 0 and counts[g].sum() == 0),
                None,
            )
            if empty is None:
                break
            other = empty + 1 if empty + 1 < len(groups) else empty - 1
            low, high = sorted((empty, other))
            groups[low : high + 1] = [groups[low] + groups[high]]
        joined = [g for g in groups if len(g) > 1]
        if not joined:
            continue
        for g in joined:
            for a in g[1:]:
                age_cell[in_district & (data.age == a)] = g[0]
                population[k, :, g[0]] += population[k, :, a]
                population[k, :, a] = 0.0
        merged[data.districts[d]] = "；".join(
            "、".join(AGE_WORDS[a] for a in g) + " 合并为一个年龄段加权" for g in joined
        )
    return age_cell, population, merged


def build_weights(data: WaveInput) -> tuple[est.Design, WeightingSummary]:
    """Base weights scaled to the districts' populations, raked to sex and age per district,
    trimmed; returns the calibrated design and its diagnostics."""
    design, margins, merged = _base_design(data)
    return _calibrate(data, design, margins, merged)


@dataclass(frozen=True)
class WeightStages:
    """Each respondent's weight at every step of ``build_weights``: ``base`` (design weight
    scaled to the district's adults), ``raked`` (raked from ``base``, before trimming) and
    ``final`` (trimmed and re-raked: the weights of every published figure)."""

    base: FloatArray
    raked: FloatArray
    final: FloatArray
    design: est.Design
    summary: WeightingSummary


def weight_stages(data: WaveInput) -> WeightStages:
    """The weights of ``build_weights`` at each step (for the microdata export)."""
    design, margins, merged = _base_design(data)
    final, summary = _calibrate(data, design, margins, merged)
    raked = est.rake(design, margins).design.weights
    return WeightStages(
        base=np.asarray(design.weights, dtype=np.float64),
        raked=np.asarray(raked, dtype=np.float64),
        final=np.asarray(final.weights, dtype=np.float64),
        design=final,
        summary=summary,
    )


def _base_design(data: WaveInput) -> tuple[est.Design, list[est.Margin], dict[str, str]]:
    """The design with the base weights (scaled to each district's adults), the margins and,
    per district, the age groups merged by ``collapse_age_groups`` (in words)."""
    n_districts = len(data.districts)
    district = data.district
    base = np.where(np.isfinite(data.base_weight), data.base_weight, 1.0).astype(np.float64)
    pop_total = data.population.sum(axis=(1, 2))
    sums = np.bincount(district, weights=base, minlength=n_districts)
    scale = np.divide(pop_total, sums, out=np.ones(n_districts), where=sums > 0)
    base = base * scale[district]
    strata = np.where(data.stratum >= 0, data.stratum, -1 - district)
    codes, _labels = est.factorize(strata)
    design = est.Design.from_arrays(base, strata=codes)
    # Districts without a single interview this wave cannot be weighted: they are left out of
    # the margins (their units get no estimate) instead of failing the whole wave.
    present = np.flatnonzero(np.bincount(district, minlength=n_districts) > 0)
    position = np.full(n_districts, -1, dtype=np.int64)
    position[present] = np.arange(present.size)
    local = position[district]
    age_cell, population, merged = _merge_empty_ages(data, present)
    _check_cells(data, present, age_cell, population)
    margins = [
        est.Margin(
            est.cross_cells(local, data.sex, sizes=(present.size, 2)),
            population.sum(axis=2).reshape(-1),
            "区县×性别",
        ),
        est.Margin(
            est.cross_cells(local, age_cell, sizes=(present.size, 4)),
            population.sum(axis=1).reshape(-1),
            "区县×年龄段",
        ),
    ]
    return design, margins, merged


def _calibrate(
    data: WaveInput, design: est.Design, margins: list[est.Margin], merged: Mapping[str, str]
) -> tuple[est.Design, WeightingSummary]:
    n_districts = len(data.districts)
    district = data.district
    base = np.asarray(design.weights)
    note = ""
    trimmed = True
    try:
        weighting = est.trim(
            design, margins, factor_lower=TRIM_FACTOR_LOWER, factor_upper=TRIM_FACTOR_UPPER
        )
    except est.EstimationError as exc:
        trimmed = False
        note = f"修剪未能与边际同时满足（{exc}），采用未修剪的耙权"
        weighting = est.rake(design, margins)
    weights = np.asarray(weighting.design.weights)
    by_district = {
        data.districts[d]: est.weight_diagnostics(weights[district == d], base[district == d])
        for d in range(n_districts)
        if np.any(district == d)
    }
    if merged:
        words = "；".join(
            f"{_district_words(data, data.districts.index(code))}: {text}"
            for code, text in merged.items()
        )
        note = (note + "；" if note else "") + f"按办法 collapse_age_groups 合并空年龄段：{words}"
    summary = WeightingSummary(
        method=(
            "基础权重（抽样设计权重，无则等权）按区县人口定标；按区县×性别、区县×年龄段耙权"
            f"（raking，收敛到 1e-10）；调整系数修剪到 [{TRIM_FACTOR_LOWER:g}, "
            f"{TRIM_FACTOR_UPPER:g}] 后再耙权"
        ),
        trimmed=trimmed,
        note=note,
        overall=weighting.diagnostics,
        by_district=by_district,
        merged=dict(merged),
    )
    return weighting.design, summary


def _dk_rates(
    weights: FloatArray, dk: BoolArray, answered: BoolArray, groups: IntArray, count: int
) -> FloatArray:
    inside = groups >= 0
    g = groups[inside]
    w = weights[inside]
    num = np.bincount(g, weights=w * dk[inside], minlength=count)
    den = np.bincount(g, weights=w * answered[inside], minlength=count)
    return np.divide(num, den, out=np.full(count, np.nan), where=den > 0)


def _kish_n_eff(weights: FloatArray, valid: BoolArray, groups: IntArray, count: int) -> FloatArray:
    inside = (groups >= 0) & valid
    g = groups[inside]
    w = weights[inside]
    s1 = np.bincount(g, weights=w, minlength=count)
    s2 = np.bincount(g, weights=w * w, minlength=count)
    return np.divide(s1 * s1, s2, out=np.zeros(count), where=s2 > 0)


def _unit_rows(
    index: IndexValues,
    level: LevelUnits,
    result: est.DomainEstimates,
    dk_rate: FloatArray,
    kish: FloatArray,
    scale: float,
    *,
    index_id: str | None = None,
    index_name: str | None = None,
    codes: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    target: float | None = None,
) -> list[UnitEstimate]:
    out: list[UnitEstimate] = []
    unit_codes = list(codes if codes is not None else level.codes)
    unit_names = list(names if names is not None else level.names)
    for g, code in enumerate(unit_codes):
        n = int(result.n[g])
        estimate = _finite(float(result.estimate[g]))
        n_eff_design = float(result.n_eff[g])
        n_eff = n_eff_design if math.isfinite(n_eff_design) else float(kish[g])
        out.append(
            UnitEstimate(
                index_id=index_id or index.id,
                index_name=index_name or index.name,
                level=level.level,
                unit_code=code,
                unit_name=unit_names[g],
                district_code=level.districts[g],
                scale="%" if index.kind == "share" else "分",
                estimate=None if estimate is None or n == 0 else estimate * scale,
                se=None if n == 0 else _scaled(result.se[g], scale),
                ci_lower=None if n == 0 else _scaled(result.ci_lower[g], scale),
                ci_upper=None if n == 0 else _scaled(result.ci_upper[g], scale),
                ci_method=result.method,
                n=n,
                n_eff=float(n_eff) if n else 0.0,
                dk_rate=_finite(float(dk_rate[g])),
                deff=_finite(float(result.deff[g])),
                target=target,
                n_kish=float(kish[g]) if n else 0.0,
            )
        )
    return out


def _scaled(x: float, scale: float) -> float | None:
    value = _finite(float(x))
    return None if value is None else value * scale


def _estimate_index(
    design: est.Design,
    values: FloatArray,
    kind: str,
    groups: IntArray,
    count: int,
) -> est.DomainEstimates:
    if kind == "share":
        return est.proportion_by(design, values, groups, n_groups=count, level=CI_LEVEL)
    return est.mean_by(design, values, groups, n_groups=count, ci="t", level=CI_LEVEL)


def _composite(
    design: est.Design,
    index: IndexValues,
    level: LevelUnits,
) -> list[UnitEstimate]:
    """The composite Σ_d a_d·m_d per district, m_d the weighted mean score of department d.

    Linearisation: z_i = Σ_d a_d·1[i answered d]·(y_di − m_d)/Ŵ_d with Ŵ_d the weight total of
    department d's valid answers in the respondent's district; the SE is that of the weighted
    total of z in the district domain (raking residuals included by the estimation core).
    """
    weights = np.asarray(design.weights)
    groups = level.row_unit
    count = len(level.codes)
    z = np.zeros(weights.size)
    estimate = np.zeros(count)
    any_valid = np.zeros(weights.size, dtype=bool)
    dk_any = np.zeros(weights.size, dtype=bool)
    answered_any = np.zeros(weights.size, dtype=bool)
    inside = groups >= 0
    for code, a in index.composite_weights.items():
        y = index.department_values[code]
        valid = np.isfinite(y) & inside
        w_valid = np.where(valid, weights, 0.0)
        g_safe = np.where(inside, groups, 0)
        w_tot = np.bincount(g_safe, weights=w_valid, minlength=count)
        wy = np.bincount(
            g_safe, weights=np.where(valid, weights * np.nan_to_num(y), 0.0), minlength=count
        )
        mean_d = np.divide(wy, w_tot, out=np.full(count, np.nan), where=w_tot > 0)
        estimate += a * mean_d
        contrib = np.divide(
            np.where(valid, np.nan_to_num(y) - mean_d[g_safe], 0.0),
            w_tot[g_safe],
            out=np.zeros(weights.size),
            where=valid & (w_tot[g_safe] > 0),
        )
        z += a * contrib
        any_valid |= valid
        dk_any |= index.department_dk[code] & inside
        answered_any |= index.department_answered[code] & inside
    totals = est.total_by(design, np.where(inside, z, np.nan), groups, n_groups=count)
    n = np.bincount(
        np.where(any_valid, groups, 0), weights=any_valid.astype(float), minlength=count
    )
    kish = _kish_n_eff(weights, any_valid, groups, count)
    dk_rate = _dk_rates(weights, dk_any, answered_any, groups, count)
    quantile = float(stats.t.ppf(0.5 + CI_LEVEL / 2, design.df)) if design.df > 0 else 1.96
    out: list[UnitEstimate] = []
    for g, code in enumerate(level.codes):
        value = _finite(float(estimate[g]))
        se = _finite(float(totals.se[g]))
        n_g = int(n[g])
        out.append(
            UnitEstimate(
                index_id=index.composite_id or index.id,
                index_name=index.composite_name or index.name,
                level=level.level,
                unit_code=code,
                unit_name=level.names[g],
                district_code=level.districts[g],
                scale="分",
                estimate=value if n_g else None,
                se=se if n_g else None,
                ci_lower=None if value is None or se is None or not n_g else value - quantile * se,
                ci_upper=None if value is None or se is None or not n_g else value + quantile * se,
                ci_method="t",
                n=n_g,
                # No design effect is estimated for the composite: its effective size is the
                # Kish one of the weights (kept in n_kish; n_eff repeats it for the rank
                # uncertainty) and its deff stays empty rather than holding a weighting effect.
                n_eff=float(kish[g]),
                dk_rate=_finite(float(dk_rate[g])),
                deff=None,
                target=index.pass_score,
                n_kish=float(kish[g]),
            )
        )
    return out


def compute_wave_statistics(data: WaveInput) -> WaveStatistics:
    """Weights, then every index for every unit of its level (and per district)."""
    design, summary = build_weights(data)
    weights = np.asarray(design.weights)
    district_level = data.levels["district"]
    estimates: list[UnitEstimate] = []
    for index in data.indices:
        if index.departments:
            estimates.extend(_department_estimates(design, weights, index, district_level))
            if index.composite_weights:
                estimates.extend(_composite(design, index, district_level))
            continue
        assert index.values is not None and index.dk is not None and index.answered is not None
        scale = 100.0 if index.kind == "share" else 1.0
        target = None
        if index.kind == "share" and index.target is not None:
            target = index.target * 100.0
        elif index.kind == "score":
            target = index.pass_score
        level_names = [index.unit_level]
        if index.unit_level != "district":
            level_names.append("district")
        for level_name in level_names:
            level = data.levels[level_name]
            count = len(level.codes)
            result = _estimate_index(design, index.values, index.kind, level.row_unit, count)
            dk_rate = _dk_rates(weights, index.dk, index.answered, level.row_unit, count)
            kish = _kish_n_eff(weights, np.isfinite(index.values), level.row_unit, count)
            estimates.extend(_unit_rows(index, level, result, dk_rate, kish, scale, target=target))
    return WaveStatistics(tuple(estimates), weights, summary)


def _department_estimates(
    design: est.Design, weights: FloatArray, index: IndexValues, district_level: LevelUnits
) -> list[UnitEstimate]:
    out: list[UnitEstimate] = []
    count = len(district_level.codes)
    dept_level = LevelUnits(
        level="department",
        codes=district_level.codes,
        names=district_level.names,
        districts=district_level.districts,
        row_unit=district_level.row_unit,
    )
    for code, name in index.departments:
        values = index.department_values[code]
        result = _estimate_index(design, values, index.kind, district_level.row_unit, count)
        dk_rate = _dk_rates(
            weights,
            index.department_dk[code],
            index.department_answered[code],
            district_level.row_unit,
            count,
        )
        kish = _kish_n_eff(weights, np.isfinite(values), district_level.row_unit, count)
        out.extend(
            _unit_rows(
                index,
                dept_level,
                result,
                dk_rate,
                kish,
                100.0 if index.kind == "share" else 1.0,
                codes=[f"{d}/{code}" for d in district_level.codes],
                names=[
                    f"{dn}{name}" if not name.startswith(dn) else name
                    for dn in district_level.names
                ],
                target=index.pass_score,
            )
        )
    return out
