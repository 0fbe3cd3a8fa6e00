"""Points rules (deductions per point under a threshold, fixed deductions/awards), targets and a
per-index minimum effective n, from the shipped example policy survey/policies/example_points.toml:
安全感 under 96 % −0.25 per point, under 90 % −0.5 per point (marginal bands, cap 5), −1 each
wave in the bottom 2, +0.5 at ≥ 93 %; 满意度 under 85 (法院 88) −2; 满意度 needs n_eff ≥ 50."""

from __future__ import annotations

import pytest

from survey.ranking import Policy, UnitResult, load_policy, load_policy_text, policies_dir
from tests.ranking._helpers import evaluate, history

STATIONS = {"A": 80, "B": 88, "C": 93, "D": 95.96, "E": 97, "F": 89.95}


def example() -> Policy:
    return load_policy(policies_dir() / "example_points.toml")


def whole_banding() -> Policy:
    text = (policies_dir() / "example_points.toml").read_text(encoding="utf-8")
    return load_policy_text(text.replace('banding = "marginal"', 'banding = "whole"'), "w.toml")


def points_by_rule(policy: Policy, unit: str) -> dict[str, float]:
    result = evaluate(policy, history("anquangan", {"2026-09": STATIONS}), "2026-09")
    return {p.rule: p.points for p in result.outcome("anquangan", unit).points}


# Hand computation, marginal bands: shortfall inside [90, 96) at 0.25, below 90 at 0.5.
#   A 80.0: 6×0.25 + 10×0.5 = 6.5 → cap 5;  B 88.0: 1.5 + 2×0.5 = 2.5;  C 93.0: 3×0.25 = 0.75
#   D 96.0 (95.96 published): 0;  E 97.0: 0;  F 90.0 (89.95 published): 6×0.25 = 1.5
# Whole shortfall at the lowest band reached: B 8×0.5 = 4, C 3×0.25, F 6×0.25, A 16×0.5 → cap 5.
@pytest.mark.parametrize(
    ("unit", "marginal", "whole"),
    [("A", -5.0, -5.0), ("B", -2.5, -4.0), ("C", -0.75, -0.75), ("F", -1.5, -1.5)],
)
def test_per_point_deduction(unit: str, marginal: float, whole: float) -> None:
    assert points_by_rule(example(), unit)["anquangan_fenduan_koufen"] == pytest.approx(marginal)
    assert points_by_rule(whole_banding(), unit)["anquangan_fenduan_koufen"] == pytest.approx(whole)


def test_no_deduction_at_or_above_the_top_band() -> None:
    assert "anquangan_fenduan_koufen" not in points_by_rule(example(), "D")
    assert "anquangan_fenduan_koufen" not in points_by_rule(example(), "E")


def test_fixed_deduction_in_bottom_2_and_award_at_93() -> None:
    expected = {
        "A": {"anquangan_fenduan_koufen": -5.0, "anquangan_houliangwei_koufen": -1.0},
        "B": {"anquangan_fenduan_koufen": -2.5, "anquangan_houliangwei_koufen": -1.0},
        "C": {"anquangan_fenduan_koufen": -0.75, "anquangan_93_jiafen": 0.5},
        "D": {"anquangan_93_jiafen": 0.5},
        "E": {"anquangan_93_jiafen": 0.5},
        "F": {"anquangan_fenduan_koufen": -1.5},
    }
    for unit, rules in expected.items():
        assert points_by_rule(example(), unit) == pytest.approx(rules), unit


def test_point_reasons_and_total() -> None:
    result = evaluate(example(), history("anquangan", {"2026-09": STATIONS}), "2026-09")
    b = result.outcome("anquangan", "B")
    assert [p.reason for p in b.points] == [
        "安全感88.0%，低于96%，扣2.5分",
        "本月安全感排名后两位，扣1分",
    ]
    assert b.points_total == pytest.approx(-3.5)
    c = result.outcome("anquangan", "C")
    assert "本月安全感达到93%，加0.5分" in [p.reason for p in c.points]
    assert b.sanctions == () and b.praises == ()  # this policy has no ladder


def test_per_unit_threshold_and_per_index_minimum_n_eff() -> None:
    records = [
        UnitResult("2026-09", "manyidu_bumen", "gongan", 86.0, 1.0, 300, 250.0),
        UnitResult("2026-09", "manyidu_bumen", "fayuan", 87.0, 1.0, 300, 250.0),
        UnitResult("2026-09", "manyidu_bumen", "sifa", 60.0, 3.0, 45, 40.0),
        UnitResult("2026-09", "anquangan", "A", 80.0, 3.0, 45, 40.0),
    ]
    result = evaluate(example(), records, "2026-09")
    assert result.outcome("manyidu_bumen", "gongan").points == ()
    fayuan = result.outcome("manyidu_bumen", "fayuan")
    assert [(p.points, p.reason) for p in fayuan.points] == [
        (-2.0, "本月满意度低于达标分值88分，扣2分")
    ]
    # 满意度 needs n_eff ≥ 50: 司法局 (40) is 样本不足; a station with 40 is ranked (≥ 30).
    assert result.outcome("manyidu_bumen", "sifa").status == "insufficient"
    assert result.outcome("manyidu_bumen", "sifa").points == ()
    assert result.outcome("anquangan", "A").status == "ranked"
    # P(below the department's own threshold) uses 88 for 法院.
    assert fayuan.evidence.threshold == 88.0
