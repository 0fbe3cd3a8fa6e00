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
