"""AAPOR rates against worked examples computed by hand from the Standard Definitions formulas.

The expected values are written out here with exact fractions from the category counts; the
code under test is only asked for its answer.
"""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from survey.cati.outcomes import (
    OutcomeError,
    aapor_category,
    case_disposition,
    default_outcomes,
    parse_outcomes,
)
from survey.estimation.aapor import DispositionCounts, estimate_e, rates_by_group, response_rates

# Worked example 1 (a month of RDD calling): counts per category.
I, P, R, NC, O, UH, UO, NE = 400, 50, 300, 150, 50, 500, 50, 500  # noqa: E741 - AAPOR names


def _close(value: float | None, expected: F) -> None:
    assert value is not None
    assert value == pytest.approx(float(expected), rel=1e-12)


def test_worked_example_unweighted_estimated_e() -> None:
    counts = DispositionCounts(i=I, p=P, r=R, nc=NC, o=O, uh=UH, uo=UO, ne=NE)
    # e = eligible among resolved = (400+50+300+150+50) / (950 + 500) = 950/1450 = 19/29
    e = F(19, 29)
    rates = response_rates(counts)
    assert rates.e_estimated
    _close(rates.e, e)
    d_all = F(450 + 500 + 550)  # (I+P)+(R+NC+O)+(UH+UO) = 1500
    d_e = 450 + 500 + e * 550  # (I+P)+(R+NC+O)+e(UH+UO)
    d_known = F(950)
    contacts = F(450 + 300 + 50)
    expected = {
        "rr1": 400 / d_all, "rr2": 450 / d_all, "rr3": 400 / d_e, "rr4": 450 / d_e,
        "rr5": 400 / d_known, "rr6": 450 / d_known,
        "coop1": F(400, 800), "coop2": F(450, 800), "coop3": F(400, 750), "coop4": F(450, 750),
        "ref1": 300 / d_all, "ref2": 300 / d_e, "ref3": 300 / d_known,
        "con1": contacts / d_all, "con2": contacts / d_e, "con3": contacts / d_known,
    }  # fmt: skip
    got = rates.as_dict()
    for name, value in expected.items():
        _close(got[name], value)
    # Spot values by hand: RR1 = 400/1500, RR3 = 400/(950 + 19/29·550) = 11600/38000.
    _close(rates.rr1, F(4, 15))
    _close(rates.rr3, F(400 * 29, 950 * 29 + 19 * 550))


def test_e_set_by_hand() -> None:
    counts = DispositionCounts(i=I, p=P, r=R, nc=NC, o=O, uh=UH, uo=UO, ne=NE)
    rates = response_rates(counts, e=0.25)
    assert not rates.e_estimated and rates.e == 0.25
    _close(rates.rr3, F(400) / (950 + F(1, 4) * 550))
    _close(rates.con2, F(800) / (950 + F(1, 4) * 550))
    # e = 1 makes RR3 = RR1; e = 0 makes RR3 = RR5.
    assert response_rates(counts, e=1.0).rr3 == pytest.approx(response_rates(counts).rr1)
    assert response_rates(counts, e=0.0).rr3 == pytest.approx(response_rates(counts).rr5)
    with pytest.raises(ValueError):
        response_rates(counts, e=1.5)


# Worked example 2: ten cases with design weights (disposition, weight).
CASES = [
    ("1.1", 2.0), ("1.1", 1.5), ("1.2", 1.0), ("2.11", 3.0), ("2.21", 2.0),
    ("2.33", 1.0), ("3.13", 4.0), ("3.21", 1.0), ("4.31", 2.5), ("4.70", 0.5),
]  # fmt: skip


def test_weighted_and_unweighted_from_dispositions() -> None:
    codes = [c for c, _ in CASES]
    weights = [w for _, w in CASES]
    # By hand, unweighted: I=2 P=1 R=1 NC=1 O=1 UH=1 UO=1 NE=2; e = 6/8.
    un = response_rates(DispositionCounts.from_dispositions(codes))
    _close(un.e, F(6, 8))
    _close(un.rr1, F(2, 8))
    _close(un.rr2, F(3, 8))
    _close(un.rr3, F(2) / (6 + F(6, 8) * 2))
    _close(un.rr4, F(3) / (6 + F(6, 8) * 2))
    _close(un.rr5, F(2, 6))
    _close(un.coop1, F(2, 5))  # I / ((I+P)+R+O) = 2/(3+1+1)
    _close(un.coop3, F(2, 4))
    _close(un.ref1, F(1, 8))
    _close(un.con1, F(5, 8))
    _close(un.con3, F(5, 6))
    # By hand, weighted: I=3.5 P=1 R=3 NC=2 O=1 UH=4 UO=1 NE=3; e = 10.5/13.5 = 7/9.
    w = response_rates(DispositionCounts.from_dispositions(codes, weights))
    e = F(7, 9)
    _close(w.e, e)
    d_all = F(21, 2) + 5  # 15.5
    d_e = F(21, 2) + e * 5
    _close(w.rr1, F(7, 2) / d_all)
    _close(w.rr2, F(9, 2) / d_all)
    _close(w.rr3, F(7, 2) / d_e)
    _close(w.rr4, F(9, 2) / d_e)
    _close(w.rr5, F(7, 2) / F(21, 2))
    _close(w.rr6, F(9, 2) / F(21, 2))
    _close(w.coop2, F(9, 2) / (F(9, 2) + 3 + 1))
    _close(w.coop4, F(9, 2) / (F(9, 2) + 3))
    _close(w.ref2, 3 / d_e)
    _close(w.ref3, 3 / F(21, 2))
    _close(w.con2, (F(9, 2) + 3 + 1) / d_e)


def test_rates_by_group_and_undefined() -> None:
    records = [("A", "1.1", 1.0), ("A", "2.11", 1.0), ("B", "4.31", 2.0)]
    groups = rates_by_group(records)
    assert groups["A"][0].rr1 == pytest.approx(0.5)
    # Stratum B has no eligible case: every rate's denominator is zero.
    assert groups["B"][1].rr1 is None and groups["B"][1].e == 0.0
    assert estimate_e(DispositionCounts(uh=3)) is None
    assert response_rates(DispositionCounts(uh=3)).rr3 is None


def test_categories_and_case_disposition() -> None:
    assert [aapor_category(c) for c in ("1.1", "1.2", "2.12", "2.21", "2.33", "3.13", "3.21", "4.31")] == [
        "I", "P", "R", "NC", "O", "UH", "UO", "NE",
    ]  # fmt: skip
    assert case_disposition([]) == "3.11"
    assert case_disposition(["3.13", "2.11", "3.12"]) == "2.11"  # contact beats a later ring
    assert case_disposition(["3.13", "3.12"]) == "3.12"
    assert case_disposition(["3.13"], final="4.31") == "4.31"


def test_outcome_file() -> None:
    outcomes = default_outcomes()
    assert {o.code for o in outcomes} >= {"complete", "no_answer", "busy", "refusal"}
    keys = [o.key for o in outcomes if o.key]
    assert len(keys) == len(set(keys))
    assert all(o.label for o in outcomes)
    by = {o.code: o for o in outcomes}
    assert (by["no_answer"].action, by["no_answer"].retry_minutes) == ("retry", 180)
    assert (by["busy"].retry_minutes, by["soft_refusal"].retry_minutes) == (15, 7 * 24 * 60)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = 1", "缺少 [[outcomes]]"),
        ('[[outcomes]]\ncode = "a"\nlabel = "甲"\naapor = "9.9"\naction = "final"', "字段 aapor"),
        (
            '[[outcomes]]\ncode = "a"\nlabel = "甲"\naapor = "3.13"\naction = "retry"',
            "retry_minutes",
        ),
        ('[[outcomes]]\ncode = "a"\nlabel = "甲"\naapor = "3.13"\naction = "later"', "字段 action"),
        (
            '[[outcomes]]\ncode = "a"\nlabel = "甲"\naapor = "4.31"\naction = "final"\nkey = "N"\n'
            '[[outcomes]]\ncode = "b"\nlabel = "乙"\naapor = "4.32"\naction = "final"\nkey = "n"',
            "t.toml:7: 第 2 个结果（b）: 字段 key",
        ),
        ('[[outcomes]]\ncode = "a"\nlabel = 甲', "t.toml:3: TOML 语法错误"),
    ],
)
def test_outcome_file_errors(text: str, message: str) -> None:
    with pytest.raises(OutcomeError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_outcomes(text, "t.toml")
