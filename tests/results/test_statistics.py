"""The wave statistics over arrays, checked against closed forms written here.

Fixture: one district, two stations. The sample's sex × age counts are in product form
(n_sa = m·α_s·β_a) and so are the population counts (N_sa = c·a_s·b_a), so raking to the sex and
age margins converges to exactly w = N_sa / n_sa in each cell (no trimming bound is reached).
Given those weights the estimates are weighted means; the SE of a domain share after raking is
that of the linearised score u_i = 1[i in g](y_i − p̂)/N̂_g, residualised on the raking margins
(OLS of w·u on sex and age dummies: backfitting of a balanced two-way layout converges in one
sweep), with the with-replacement variance n/(n−1)·Σ(r_i − r̄)².
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as stats_t

from survey.results.statistics import (
    IndexValues,
    LevelUnits,
    WaveInput,
    compute_wave_statistics,
)

SAMPLE_SEX = np.array([2, 3])  # α: 40 % men, 60 % women in the sample (× 10 per age group)
SAMPLE_AGE = np.array([2, 3, 3, 4])  # β
POP_SEX = np.array([1.0, 1.0])
POP_AGE = np.array([3.0, 3.0, 2.0, 2.0])  # adjustment factors stay inside the trimming bounds
POP_SCALE = 1000.0


def _fixture(
    seed: int = 7, pop_age: np.ndarray = POP_AGE, pop_sex: np.ndarray = POP_SEX
) -> tuple[WaveInput, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    sex: list[int] = []
    age: list[int] = []
    for s, a_s in enumerate(SAMPLE_SEX):
        for a, b_a in enumerate(SAMPLE_AGE):
            count = int(a_s * b_a * 3)  # n_sa = 3·α_s·β_a
            sex += [s] * count
            age += [a] * count
    n = len(sex)
    sex_arr = np.array(sex, dtype=np.int64)
    age_arr = np.array(age, dtype=np.int64)
    station = rng.integers(0, 2, n).astype(np.int64)
    # 安全感 share: 1/0, with don't-knows (NaN in the base, dk mask set).
    safe = (rng.random(n) < np.where(station == 0, 0.9, 0.7)).astype(float)
    dk = rng.random(n) < 0.1
    safe[dk] = np.nan
    # 满意度 scores for two departments, some "不了解".
    scores = {d: rng.choice([100.0, 80.0, 60.0, 30.0, 0.0], n) for d in ("gongan", "fayuan")}
    dept_dk = {d: rng.random(n) < 0.15 for d in scores}
    for d in scores:
        scores[d][dept_dk[d]] = np.nan
    population = np.zeros((1, 2, 4))
    for s in range(2):
        for a in range(4):
            population[0, s, a] = POP_SCALE * pop_sex[s] * pop_age[a]
    levels = {
        "district": LevelUnits("district", ("D1",), ("一区",), ("D1",), np.zeros(n, np.int64)),
        "station": LevelUnits("station", ("P1", "P2"), ("一所", "二所"), ("D1", "D1"), station),
        "street": LevelUnits("street", ("S1",), ("一街",), ("D1",), np.zeros(n, np.int64)),
    }
    indices = (
        IndexValues(
            id="anquangan",
            name="安全感",
            kind="share",
            unit_level="station",
            values=safe,
            dk=dk,
            answered=np.ones(n, dtype=bool),
            target=0.9,
        ),
        IndexValues(
            id="manyidu_bumen",
            name="满意度",
            kind="score",
            unit_level="department",
            departments=(("gongan", "公安"), ("fayuan", "法院")),
            department_values=scores,
            department_dk=dept_dk,
            department_answered={d: np.ones(n, dtype=bool) for d in scores},
            composite_id="manyidu",
            composite_name="综合满意度",
            composite_weights={"gongan": 0.75, "fayuan": 0.25},
            pass_score=85.0,
        ),
    )
    data = WaveInput(
        districts=("D1",),
        district_names=("一区",),
        district=np.zeros(n, np.int64),
        sex=sex_arr,
        age=age_arr,
        base_weight=np.full(n, np.nan),
        stratum=np.full(n, -1, np.int64),
        population=population,
        levels=levels,
        indices=indices,
    )
    extra = {"safe": safe, "dk": dk, "station": station, **scores}
    extra.update({f"dk_{d}": m for d, m in dept_dk.items()})
    return data, extra


def _closed_form_weights(data: WaveInput) -> np.ndarray:
    n_cell = np.zeros((2, 4))
    np.add.at(n_cell, (data.sex, data.age), 1.0)
    return data.population[0][data.sex, data.age] / n_cell[data.sex, data.age]


def _raked_share_se(y: np.ndarray, inside: np.ndarray, w: np.ndarray, data: WaveInput) -> float:
    valid = inside & np.isfinite(y)
    p = np.sum(w[valid] * y[valid]) / np.sum(w[valid])
    u = np.where(valid, (np.nan_to_num(y) - p) / np.sum(w[valid]), 0.0)
    x = np.column_stack(
        [np.ones(y.size), data.sex == 1, data.age == 1, data.age == 2, data.age == 3]
    ).astype(float)
    wu = w * u
    coef, *_ = np.linalg.lstsq(x, wu, rcond=None)
    r = wu - x @ coef
    n = y.size
    return math.sqrt(n / (n - 1) * np.sum((r - r.mean()) ** 2))


def test_raked_weights_are_the_cell_ratios() -> None:
    data, _ = _fixture()
    stats = compute_wave_statistics(data)
    np.testing.assert_allclose(stats.weights, _closed_form_weights(data), rtol=1e-9)
    assert stats.weights.sum() == pytest.approx(data.population.sum(), rel=1e-12)


def test_trimming_bounds_the_adjustment_factors_and_keeps_the_margins() -> None:
    # Population 6:3:2:1 by age against a sample 2:3:3:4: raking alone gives factors below 1/4.
    data, _ = _fixture(pop_age=np.array([6.0, 3.0, 2.0, 1.0]))
    raw = _closed_form_weights(data) / (data.population.sum() / data.sex.size)
    assert raw.min() < 0.25
    stats = compute_wave_statistics(data)
    base = data.population.sum() / data.sex.size
    factors = stats.weights / base
    assert factors.max() <= 4.0 * (1 + 1e-6) and factors.min() >= 0.25 * (1 - 1e-6)
    assert stats.weighting.trimmed and stats.weighting.overall.n_trimmed > 0
    for s in range(2):
        assert stats.weights[data.sex == s].sum() == pytest.approx(
            data.population[0, s].sum(), rel=1e-8
        )
    for a in range(4):
        assert stats.weights[data.age == a].sum() == pytest.approx(
            data.population[0, :, a].sum(), rel=1e-8
        )


def test_infeasible_trimming_falls_back_to_raking_with_a_note() -> None:
    # 18–29 year olds: 16/22 of the population, 2/12 of the sample → a factor ≥ 4.4 is needed.
    data, _ = _fixture(pop_age=np.array([16.0, 3.0, 2.0, 1.0]))
    stats = compute_wave_statistics(data)
    assert not stats.weighting.trimmed
    assert "未修剪" in stats.weighting.note
    np.testing.assert_allclose(stats.weights, _closed_form_weights(data), rtol=1e-9)


def test_station_and_district_shares_match_closed_forms() -> None:
    data, extra = _fixture()
    stats = compute_wave_statistics(data)
    w = _closed_form_weights(data)
    safe, dk, station = extra["safe"], extra["dk"], extra["station"]
    by_key = {(e.index_id, e.level, e.unit_code): e for e in stats.estimates}
    for g, code in enumerate(("P1", "P2")):
        inside = station == g
        valid = inside & np.isfinite(safe)
        p = np.sum(w[valid] * safe[valid]) / np.sum(w[valid])
        e = by_key[("anquangan", "station", code)]
        assert e.estimate == pytest.approx(100 * p, rel=1e-10)
        assert e.n == int(valid.sum())
        assert e.dk_rate == pytest.approx(np.sum(w[inside & dk]) / np.sum(w[inside]), rel=1e-10)
        # R's rake residualises with sweeps at the intermediate weights; with unequal weights
        # that differs from the one-step projection by well under 1 % (exact case: below).
        assert e.se == pytest.approx(100 * _raked_share_se(safe, inside, w, data), rel=1e-2)
        # logit interval as svyciprop: expit(logit p ± t·se/(p(1−p))), df = the domain's PSUs
        # with a valid answer minus one stratum
        z = float(stats_t.ppf(0.975, int(valid.sum()) - 1))
        half = z * (float(e.se or 0.0) / 100) / (p * (1 - p))
        lo = 1 / (1 + math.exp(-(math.log(p / (1 - p)) - half)))
        assert e.ci_lower == pytest.approx(100 * lo, rel=1e-6)
        assert e.target == 90.0
    district = by_key[("anquangan", "district", "D1")]
    valid = np.isfinite(safe)
    assert district.estimate == pytest.approx(
        100 * np.sum(w[valid] * safe[valid]) / np.sum(w[valid]), rel=1e-10
    )


def test_share_se_is_the_calibration_residual_variance_when_the_sample_is_balanced() -> None:
    # Population proportional to the sample: equal weights, raking changes nothing, and the SE
    # is exactly that of the score residualised on the sex and age margins.
    data, extra = _fixture(pop_age=SAMPLE_AGE.astype(float), pop_sex=SAMPLE_SEX.astype(float))
    stats = compute_wave_statistics(data)
    w = _closed_form_weights(data)
    assert np.ptp(w) == pytest.approx(0.0, abs=1e-9)
    for g, code in enumerate(("P1", "P2")):
        e = next(x for x in stats.estimates if x.unit_code == code)
        expected = 100 * _raked_share_se(extra["safe"], extra["station"] == g, w, data)
        assert e.se == pytest.approx(expected, rel=1e-8)


def test_department_means_and_composite_match_closed_forms() -> None:
    data, extra = _fixture()
    stats = compute_wave_statistics(data)
    w = _closed_form_weights(data)
    by_key = {(e.index_id, e.level, e.unit_code): e for e in stats.estimates}
    means = {}
    for d in ("gongan", "fayuan"):
        y = extra[d]
        valid = np.isfinite(y)
        means[d] = np.sum(w[valid] * y[valid]) / np.sum(w[valid])
        e = by_key[("manyidu_bumen", "department", f"D1/{d}")]
        assert e.estimate == pytest.approx(means[d], rel=1e-10)
        assert e.scale == "分"
        assert e.dk_rate == pytest.approx(np.sum(w[extra[f"dk_{d}"]]) / np.sum(w), rel=1e-10)
        assert e.target == 85.0
    composite = by_key[("manyidu", "district", "D1")]
    assert composite.estimate == pytest.approx(
        0.75 * means["gongan"] + 0.25 * means["fayuan"], rel=1e-12
    )
    assert composite.se is not None and composite.se > 0
    assert composite.ci_lower < composite.estimate < composite.ci_upper  # type: ignore[operator]


def test_share_of_exactly_100_percent_has_a_zero_se_to_be_widened_later() -> None:
    data, extra = _fixture()
    safe = extra["safe"].copy()
    safe[(extra["station"] == 1) & np.isfinite(safe)] = 1.0
    index = data.indices[0]
    patched = WaveInput(
        **{
            **data.__dict__,
            "indices": (
                IndexValues(**{**index.__dict__, "values": safe}),
                data.indices[1],
            ),
        }
    )
    stats = compute_wave_statistics(patched)
    e = next(x for x in stats.estimates if x.unit_code == "P2" and x.index_id == "anquangan")
    assert e.estimate == 100.0
    assert e.se == 0.0
    assert e.n_eff > 0  # Kish n_eff from the weights: the basis of the Korn–Graubard interval


def test_computing_twice_gives_identical_numbers() -> None:
    data, _ = _fixture()
    first = compute_wave_statistics(data)
    second = compute_wave_statistics(data)
    assert first.estimates == second.estimates


def test_a_district_without_interviews_gets_no_estimate_and_does_not_block_the_wave() -> None:
    data, _extra = _fixture()
    n = data.sex.size
    two = np.concatenate([data.population, data.population * 2])
    levels = dict(data.levels)
    levels["district"] = LevelUnits(
        "district", ("D1", "D2"), ("一区", "二区"), ("D1", "D2"), np.zeros(n, np.int64)
    )
    patched = WaveInput(
        **{
            **data.__dict__,
            "districts": ("D1", "D2"),
            "district_names": ("一区", "二区"),
            "population": two,
            "levels": levels,
        }
    )
    stats = compute_wave_statistics(patched)
    by_key = {(e.index_id, e.level, e.unit_code): e for e in stats.estimates}
    assert by_key[("anquangan", "district", "D2")].estimate is None
    assert by_key[("anquangan", "district", "D2")].n == 0
    np.testing.assert_allclose(stats.weights, _closed_form_weights(data), rtol=1e-9)
    assert by_key[("anquangan", "district", "D1")].estimate is not None


def test_an_empty_weighting_cell_is_named_by_district_and_group() -> None:
    """No respondent aged 60+ in a district whose registry has adults of that age: the error
    names the district and the group (not a cell position), for every empty cell."""
    from survey.db.tables import AGE_GROUPS, SEXES
    from survey.estimation import EstimationError
    from survey.results.statistics import AGE_LABELS

    assert AGE_LABELS == AGE_GROUPS and len(SEXES) == 2  # WaveInput codes follow the registry
    data, _ = _fixture()
    keep = data.age != 3
    patched = WaveInput(
        **{
            **data.__dict__,
            "sex": data.sex[keep],
            "age": data.age[keep],
            "district": data.district[keep],
            "base_weight": data.base_weight[keep],
            "stratum": data.stratum[keep],
        }
    )
    with pytest.raises(EstimationError) as caught:
        compute_wave_statistics(patched)
    message = str(caught.value)
    adults_60 = data.population[0, :, 3].sum()
    assert message.startswith(
        f"一区（区县 D1）的60岁及以上人群（登记人口 {adults_60:,.0f} 人） 没有受访者"
    )
    # what to do: more sample in that group, or the policy's merge of empty age groups
    assert "请补充这些人群的样本" in message
    assert "collapse_age_groups = true" in message


def test_collapse_age_groups_merges_an_empty_age_cell_with_its_neighbour() -> None:
    """With ``collapse_age_groups``, a district without respondents aged 60+ rakes 45–59 and 60+
    as one group. Sample and population are both products of a sex and an age factor, so the
    raked weight is the closed form N_sg / n_sg over the merged groups g; the merge is named in
    the diagnostics."""
    data, _ = _fixture()
    keep = data.age != 3
    patched = WaveInput(
        **{
            **data.__dict__,
            "sex": data.sex[keep],
            "age": data.age[keep],
            "district": data.district[keep],
            "base_weight": data.base_weight[keep],
            "stratum": data.stratum[keep],
            "collapse_age_groups": True,
        }
    )
    from survey.results.statistics import build_weights

    _design, summary = build_weights(patched)
    weights = np.asarray(_design.weights)
    merged_age = np.minimum(patched.age, 2)  # 45–59 and 60+ together
    pop = data.population[0]
    merged_pop = np.column_stack([pop[:, 0], pop[:, 1], pop[:, 2] + pop[:, 3]])
    n_cell = np.zeros((2, 3))
    np.add.at(n_cell, (patched.sex, merged_age), 1.0)
    expected = merged_pop[patched.sex, merged_age] / n_cell[patched.sex, merged_age]
    np.testing.assert_allclose(weights, expected, rtol=1e-9)
    assert weights.sum() == pytest.approx(pop.sum(), rel=1e-12)
    assert summary.merged == {"D1": "45～59岁、60岁及以上 合并为一个年龄段加权"}
    assert "collapse_age_groups" in summary.note and "一区（区县 D1）" in summary.note


def test_pure_labels_follow_the_registry_and_pure_modules_import_no_database() -> None:
    """The sex and age labels the pure modules use are the registry's; importing the pure
    parts of results (preparation, statistics, evaluation) loads no database module."""
    import subprocess
    import sys

    from survey.db.tables import AGE_GROUPS, SEXES
    from survey.results.statistics import AGE_LABELS, SEX_LABELS

    assert (SEX_LABELS, AGE_LABELS) == (SEXES, AGE_GROUPS)
    code = (
        "import sys\n"
        "import survey.results.preparation, survey.results.evaluation\n"
        "print(sorted(m for m in sys.modules if m.startswith(('piccolo', 'survey.db', "
        "'survey.collection', 'survey.results.tables', 'survey.results.waves'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
