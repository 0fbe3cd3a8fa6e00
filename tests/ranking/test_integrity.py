"""Integrity flags on small constructed data where the answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from survey.ranking import (
    flag_dk_collapse,
    flag_group_outliers,
    flag_identical_answers,
    flag_jumps,
    flag_short_interviews,
)


def test_jumps_and_reaching_100() -> None:
    previous = {"A": 80.0, "B": 90.0, "C": 95.0, "D": 70.0}
    current = {"A": 92.0, "B": 91.0, "C": 100.0, "D": 59.9, "E": 100.0}
    flags = flag_jumps(previous, current, max_change=10.0, names={"A": "城关所"})
    got = {(f.kind, f.subject) for f in flags}
    # A +12 > 10, D −10.1 > 10; C reaches 100 from 95 (+5 is no jump); E has no previous wave.
    assert got == {("jump", "A"), ("jump", "D"), ("to_full", "C")}
    a = next(f for f in flags if f.subject == "A")
    assert a.message == "城关所：比上期上升12.0个点（80.0 → 92.0），超过 10 个点"
    assert a.value == pytest.approx(12.0)
    assert flag_jumps({"A": 80.0}, {"A": 90.0}, max_change=10.0) == []  # exactly 10: no flag


def test_dk_collapse_needs_a_big_and_significant_fall() -> None:
    previous = {"A": (30, 200), "B": (30, 200), "C": (3, 20)}
    current = {"A": (4, 200), "B": (20, 200), "C": (0, 20)}
    flags = flag_dk_collapse(previous, current, max_ratio=0.5, alpha=0.01)
    # A: 15 % → 2 % (ratio 0.13, z ≈ −4.7) flagged; B: 15 % → 10 % is not a collapse;
    # C: 15 % → 0 % but only 20 interviews: pooled z = −1.8, p ≈ 0.036 ≥ 0.01.
    assert [f.subject for f in flags] == ["A"]
    pooled = 34 / 400
    z = (0.02 - 0.15) / np.sqrt(pooled * (1 - pooled) * (2 / 200))
    assert f"p = {stats.norm.cdf(z):.4f}" in flags[0].message
    assert "15.0% 降到 2.0%" in flags[0].message


def test_short_interviews_and_interviewers_with_many() -> None:
    durations = [300, 320, 280, 310, 90, 95, 80, 305, 290, 85]
    ids = [f"r{i}" for i in range(10)]
    groups = ["w1"] * 4 + ["w2"] * 4 + ["w1"] * 2
    flags = flag_short_interviews(durations, ids, ratio=1 / 3, groups=groups)
    median = float(np.median(durations))  # 285 → limit 95
    short = {f.subject for f in flags if f.kind == "short_interview"}
    assert short == {ids[i] for i, d in enumerate(durations) if d < median / 3}
    assert short == {"r4", "r6", "r9"}
    # w2 has 2 short of 4 (< 3 needed); nobody is flagged as a group … until w2 has 3.
    assert [f for f in flags if f.kind == "short_group"] == []
    durations[5] = 50
    flags = flag_short_interviews(durations, ids, ratio=1 / 3, groups=groups)
    assert [(f.subject, f.value) for f in flags if f.kind == "short_group"] == [("w2", 0.75)]


def test_identical_answer_strings_beyond_chance() -> None:
    rng = np.random.default_rng(5)
    honest = [tuple(int(v) for v in rng.integers(1, 6, size=6)) for _ in range(300)]
    copied = [(1, 2, 3, 2, 1, 4)] * 6
    answers = honest + copied
    ids = [f"r{i}" for i in range(len(answers))]
    flags = flag_identical_answers(answers, ids)
    assert [f.subject for f in flags] == ["1|2|3|2|1|4"]
    assert flags[0].value >= 6
    assert flag_identical_answers(honest, ids[:300]) == []


def test_identical_answers_common_pattern_is_not_flagged() -> None:
    # 90 % answer "1" on each of 3 items: (1,1,1) is expected 0.729·n times, not suspicious.
    rng = np.random.default_rng(9)
    answers = [tuple(1 if u < 0.9 else 2 for u in rng.random(3)) for _ in range(400)]
    assert flag_identical_answers(answers, [str(i) for i in range(400)]) == []


def test_one_interviewer_far_from_the_others() -> None:
    rng = np.random.default_rng(11)
    values, groups = [], []
    for name, p in (("w1", 0.85), ("w2", 0.86), ("w3", 0.84), ("w4", 1.0)):
        values += list((rng.random(80) < p).astype(float))
        groups += [name] * 80
    flags = flag_group_outliers(values, groups, kind="interviewer")
    assert [f.subject for f in flags] == ["w4"]
    assert flags[0].message.startswith("访员 w4：80 次访问的平均 1")
    # Two modes with the same true rate: nothing.
    modes = ["web" if i % 2 else "phone" for i in range(len(values))]
    assert flag_group_outliers(values[:240], modes[:240], kind="mode") == []


def test_group_outlier_closed_form_welch() -> None:
    values = [1.0] * 30 + [0.0, 1.0] * 15 + [0.0, 1.0] * 15
    groups = ["a"] * 30 + ["b"] * 30 + ["c"] * 30
    # a: mean 1, var 0; rest: mean 0.5, var 60/59/4 → z = 0.5/√(0.25·60/59/60) ≈ 7.68.
    flags = flag_group_outliers(values, groups, alpha=0.01, min_n=20)
    a = next(f for f in flags if f.subject == "a")
    z = 0.5 / np.sqrt(np.var([0.0, 1.0] * 30, ddof=1) / 60)
    assert f"z = {z:.2f}" in a.message


def test_length_mismatch_refused() -> None:
    with pytest.raises(ValueError):
        flag_short_interviews([1.0, 2.0], ["a"])
    with pytest.raises(ValueError):
        flag_identical_answers([(1,), (1, 2)], ["a", "b"])
    with pytest.raises(ValueError):
        flag_group_outliers([1.0], ["a", "b"])


def test_identical_answers_column_by_column_by_hand() -> None:
    """Ten interviews, two items: (1, 1) five times, then (2, 2) five times. Each item's
    marginals are 5/10 and 5/10, so E = 10 · ½ · ½ = 2.5 for each pattern and
    P(X ≥ 5 | Poisson 2.5) = 1 − e^−2.5 (1 + 2.5 + 3.125 + 2.6042 + 1.6276) = 0.1088; with
    alpha 0.5 (Bonferroni over 2 patterns: 0.25) both are flagged, in order of first row."""
    from survey.ranking import flag_identical_columns

    columns = [[1] * 5 + [2] * 5, [1] * 5 + [2] * 5]
    ids = [f"r{i}" for i in range(10)]
    flags = flag_identical_columns(columns, ids, alpha=0.5)
    assert [(f.subject, f.value) for f in flags] == [("1|1", 5.0), ("2|2", 5.0)]
    assert flags[0].threshold == pytest.approx(2.5)
    assert flags[0].message == (
        "5 份问卷答案完全相同（r0、r1、r2、r3、r4），按各题答案比例预计约 2.5 份（p = 0.11）"
    )
    rows = list(zip(*columns, strict=True))
    assert flag_identical_answers(rows, ids, alpha=0.5) == flags
    assert flag_identical_columns(columns, ids) == []  # p 0.109 is not below 0.001 / 2
