"""Rankings as the results service applies them: known answers for P(bottom k), intervals at
100 %, 样本不足 below the minimum effective n, Fay–Herriot beside the direct estimates."""

from __future__ import annotations

import numpy as np
import pytest

from survey.estimation import weight_diagnostics
from survey.ranking import default_policy
from survey.results.compute import _display_ci, rank_results
from survey.results.statistics import UnitEstimate, WaveStatistics, WeightingSummary

LEVELS = {"anquangan": "station"}


def _estimate(code: str, value: float, se: float, n_eff: float = 200.0) -> UnitEstimate:
    return UnitEstimate(
        index_id="anquangan",
        index_name="公众安全感",
        level="station",
        unit_code=code,
        unit_name=code,
        district_code="D1",
        scale="%",
        estimate=value,
        se=se,
        ci_lower=None,
        ci_upper=None,
        ci_method="logit",
        n=int(n_eff),
        n_eff=n_eff,
        dk_rate=0.0,
        deff=1.0,
    )


def _stats(*estimates: UnitEstimate) -> WaveStatistics:
    diag = weight_diagnostics(np.ones(4))
    return WaveStatistics(
        tuple(estimates), np.ones(4), WeightingSummary("", True, "", diag, {"D1": diag})
    )


def test_two_units_with_equal_estimates_share_the_last_bottom_2_place() -> None:
    # C is surely last; A and B are identical, so each is the other bottom-2 unit half the time.
    stats = _stats(
        _estimate("A", 85.0, 2.0),
        _estimate("B", 85.0, 2.0),
        _estimate("C", 60.0, 2.0),
        _estimate("D", 98.0, 0.8),
    )
    policy = default_policy()
    rows = rank_results("2026-10", policy, stats, LEVELS, [], seed=1)
    p = {r.estimate.unit_code: r.outcome.evidence.p_bottom_k for r in rows if r.outcome}
    assert p["A"] == pytest.approx(0.5, abs=0.05)
    assert p["B"] == pytest.approx(0.5, abs=0.05)
    assert p["A"] + p["B"] == pytest.approx(1.0, abs=0.01)
    assert p["C"] == pytest.approx(1.0, abs=1e-9) and p["D"] == pytest.approx(0.0, abs=1e-9)
    c = next(r for r in rows if r.estimate.unit_code == "C")
    assert (c.outcome.evidence.rank_lower, c.outcome.evidence.rank_upper) == (4, 4)
    # Fay–Herriot estimates are offered beside every direct estimate.
    assert all(r.fh is not None for r in rows)


def test_small_sample_is_not_ranked_and_100_percent_gets_a_real_interval() -> None:
    stats = _stats(
        _estimate("A", 92.0, 2.0),
        _estimate("B", 100.0, 0.0, n_eff=40.0),
        _estimate("C", 80.0, 6.0, n_eff=12.0),  # under the policy's minimum n_eff of 30
        _estimate("D", 95.0, 1.5),
    )
    policy = default_policy()
    rows = {
        r.estimate.unit_code: r for r in rank_results("2026-10", policy, stats, LEVELS, [], seed=2)
    }
    assert rows["C"].outcome.status == "insufficient" and rows["C"].outcome.rank is None
    assert rows["C"].outcome.sanctions == ()
    assert rows["A"].outcome.rank == 3 and rows["A"].outcome.n_ranked == 3
    lower, upper, method = _display_ci(rows["B"].estimate)
    # Clopper–Pearson at 40/40: lower bound (0.025)^(1/40) = 91.2 %
    assert lower == pytest.approx(100 * 0.025 ** (1 / 40), rel=1e-9)
    assert upper == 100.0 and method == "korn_graubard"


def test_eligibility_uses_the_kish_size_of_the_weights_not_the_answers() -> None:
    """A unit at 100 % and one at 80 % with the same 40 weights (1, 3, 1, 3, …) have the same
    Kish effective size (Σw)²/Σw² = 80² / (20·1 + 20·9) = 32 and are treated alike: ranked
    under min_n_eff = 30, both 样本不足 under 33, both 样本不足 under min_n = 41."""
    from dataclasses import replace

    from survey import estimation as est
    from survey.results.statistics import (
        IndexValues,
        LevelUnits,
        _kish_n_eff,
        _unit_rows,
    )

    w = np.tile([1.0, 3.0], 20)
    weights = np.concatenate([w, w, np.full(200, 1.0), np.full(200, 1.0)])
    groups = np.repeat([0, 1, 2, 3], [40, 40, 200, 200]).astype(np.int64)
    values = np.concatenate(
        [
            np.ones(40),  # A: 100 %
            np.r_[np.ones(32), np.zeros(8)],  # B: weighted (16·1 + 16·3) / 80 = 80 %
            np.r_[np.ones(170), np.zeros(30)],  # C: 85 %
            np.r_[np.ones(190), np.zeros(10)],  # D: 95 %
        ]
    )
    design = est.Design.from_arrays(weights, strata=np.zeros(weights.size, dtype=np.int64))
    result = est.proportion_by(design, values, groups, n_groups=4, level=0.95)
    level = LevelUnits("station", ("A", "B", "C", "D"), ("A", "B", "C", "D"), ("D1",) * 4, groups)
    index = IndexValues("anquangan", "公众安全感", "share", "station", values=values)
    kish = _kish_n_eff(weights, np.isfinite(values), groups, 4)
    rows = _unit_rows(index, level, result, np.zeros(4), kish, 100.0)
    a, b = rows[0], rows[1]
    assert a.estimate == pytest.approx(100.0) and b.estimate == pytest.approx(80.0)
    assert a.n_kish == pytest.approx(32.0) and b.n_kish == pytest.approx(32.0)
    assert (a.n, b.n) == (40, 40)
    # The design-based n/deff of B (its deff, about 2.5, estimated from its answers: n/deff
    # about 16) would have left B alone 样本不足 while A at 100 % (no deff there) was ranked on
    # 32: the old, unequal treatment.
    assert b.n_eff < 20

    def statuses(policy: object) -> dict[str, str]:
        out = rank_results("2026-10", policy, _stats(*rows), LEVELS, [], seed=3)  # type: ignore[arg-type]
        return {r.estimate.unit_code: r.outcome.status for r in out if r.outcome}

    policy = default_policy()
    assert policy.min_n_eff == 30 and policy.min_n == 0  # the shipped rule: Kish ≥ 30
    got = statuses(policy)
    assert got["A"] == got["B"] == "ranked"
    got = statuses(replace(policy, min_n_eff=33.0))
    assert got["A"] == got["B"] == "insufficient" and got["C"] == "ranked"
    got = statuses(replace(policy, min_n=41.0))
    assert got["A"] == got["B"] == "insufficient" and got["D"] == "ranked"
