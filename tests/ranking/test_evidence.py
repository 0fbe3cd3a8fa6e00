"""Each ranked unit's evidence in a wave evaluation: P(bottom 2), rank interval, intervals at
100 %, the cut-off test and P(below the pass score), on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from survey.ranking import UnitResult, default_policy, evaluate_wave


def run(records: list[UnitResult], draws: int = 20_000):  # type: ignore[no-untyped-def]
    return evaluate_wave(
        default_policy(), records, "2026-09", rng=np.random.default_rng(42), draws=draws
    )


def station(code: str, est: float, se: float, n_eff: float = 200.0) -> UnitResult:
    return UnitResult("2026-09", "anquangan", code, est, se, int(n_eff) + 20, n_eff, "ranked")


def test_p_bottom_2_known_answer_two_equal_units_for_one_place() -> None:
    # A is far below everyone, so it surely takes one of the two places; B and C are equal and
    # share the other: P(B in bottom 2) = P(C in bottom 2) = 1/2; D and E are far above.
    result = run(
        [
            station("A", 60.0, 1.0),
            station("B", 85.0, 2.0),
            station("C", 85.0, 2.0),
            station("D", 97.0, 0.5),
            station("E", 98.0, 0.4),
        ]
    )
    p = {o.unit_code: o.evidence.p_bottom_k for o in result.for_index("anquangan")}
    assert p["A"] == pytest.approx(1.0)
    assert p["B"] == pytest.approx(0.5, abs=0.015)
    assert p["C"] == pytest.approx(0.5, abs=0.015)
    assert p["D"] == pytest.approx(0.0, abs=0.002)
    assert sum(v for v in p.values() if v is not None) == pytest.approx(2.0)
    b = result.outcome("anquangan", "B")
    assert b.evidence.k == 2
    assert (b.evidence.rank_lower, b.evidence.rank_upper) == (3, 4)
    a = result.outcome("anquangan", "A")
    assert (a.evidence.rank_lower, a.evidence.rank_upper) == (5, 5)


def test_cut_off_flag_names_the_unit_just_outside() -> None:
    result = run(
        [
            station("A", 70.0, 1.0),
            station("B", 86.0, 2.0),
            station("C", 88.0, 2.0),
            station("D", 97.0, 0.5),
        ],
        draws=2000,
    )
    a = result.outcome("anquangan", "A").evidence
    b = result.outcome("anquangan", "B").evidence
    c = result.outcome("anquangan", "C").evidence
    # A vs C: z = 18/√(1+4) ≈ 8.05 → distinguishable; B vs C: z = 2/√8 ≈ 0.71 → not.
    assert (a.compared_with, a.distinguishable) == ("C", True)
    assert (b.compared_with, b.distinguishable) == ("C", False)
    z = 2 / np.sqrt(8)
    assert b.note == (
        f"与后两位之外的第一名（C，88.0%）差异不显著（统计上无法区分），"
        f"z = {z:.2f}，p = {2 * stats.norm.sf(z):.3f}"
    )
    # C, the first unit outside, is compared with the best unit inside (B).
    assert (c.compared_with, c.distinguishable) == ("B", False)
    d = result.outcome("anquangan", "D").evidence
    assert d.distinguishable is None and d.note == ""


def test_unit_at_100_percent_gets_a_clopper_pearson_interval() -> None:
    result = run(
        [station("A", 100.0, 0.0, n_eff=40), station("B", 90.0, 2.0), station("C", 80.0, 2.0)],
        draws=2000,
    )
    ev = result.outcome("anquangan", "A").evidence
    assert ev.ci_method == "clopper_pearson"
    assert ev.ci_lower == pytest.approx(100 * 0.025 ** (1 / 40))
    assert ev.ci_upper == 100.0
    assert ev.rank_lower == 1
    other = result.outcome("anquangan", "B").evidence
    assert other.ci_method == "logit"
    assert other.ci_level == 0.95 and other.rank_level == 0.90


def test_departments_get_p_below_the_pass_score() -> None:
    records = [
        UnitResult("2026-09", "manyidu_bumen", "gongan", 84.0, 2.0, 300, 250.0),
        UnitResult("2026-09", "manyidu_bumen", "fayuan", 92.0, 1.0, 300, 250.0),
    ]
    result = run(records, draws=500)
    gongan = result.outcome("manyidu_bumen", "gongan").evidence
    z = (np.log(0.85 / 0.15) - np.log(0.84 / 0.16)) / (0.02 / (0.84 * 0.16))
    assert gongan.threshold == 85.0
    assert gongan.p_below == pytest.approx(stats.norm.cdf(z))
    assert gongan.p_bottom_k is None  # departments are judged against the pass score
    # 84 vs 85 with SE 2: z = −0.5 → not distinguishable from the pass score.
    assert gongan.distinguishable is False
    assert gongan.note == "与达标分值 85 相比差异不显著（统计上无法区分），z = -0.50"
    fayuan = result.outcome("manyidu_bumen", "fayuan").evidence
    assert fayuan.distinguishable is True


def test_insufficient_units_carry_no_evidence_and_are_not_counted() -> None:
    records = [
        station("A", 70.0, 1.0),
        station("B", 86.0, 2.0),
        station("C", 88.0, 2.0),
        UnitResult("2026-09", "anquangan", "S", 50.0, 9.0, 12, 10.0, "ranked"),
    ]
    result = run(records, draws=1000)
    s = result.outcome("anquangan", "S")
    assert s.status == "insufficient" and s.rank is None
    assert s.evidence.p_bottom_k is None and s.evidence.ci_lower is None
    ranked = [o for o in result.for_index("anquangan") if o.status == "ranked"]
    assert sum(o.evidence.p_bottom_k or 0 for o in ranked) == pytest.approx(2.0)
