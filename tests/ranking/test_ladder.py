"""Table-driven tests of the warning ladder, praise and ranks under the shipped default policy
(the seed district's rules, read from survey/policies/default.toml).

Each row: a small history (published values per wave and unit), the wave evaluated, and the
sanction level every unit must get — worked out by hand from the seed's rules:
安全感/知晓率 bottom 2 → 通报批评, 2 waves in a row → 黄牌警告, 3 → 一票否决; 满意度 under the pass
score 85 → the same ladder; 通报表扬 for top 3 twice in a row / passing twice in a row.
"""

from __future__ import annotations

from typing import Any

import pytest

from survey.ranking import (
    Policy,
    default_policy,
    default_policy_path,
    load_policy_text,
)
from tests.ranking._helpers import evaluate, history, levels, reasons

C, Y, V = "criticism", "yellow_card", "veto"
BASE = {"A": 80, "B": 85, "C": 90, "D": 92, "E": 95, "F": 99}  # bottom 2: A, B


def variant(old: str, new: str) -> Policy:
    text = default_policy_path().read_text(encoding="utf-8")
    assert old in text
    return load_policy_text(text.replace(old, new), "variant.toml")


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = dict(base)
    for unit, value in changes.items():
        if value is None:
            row.pop(unit)
        else:
            row[unit] = value
    return row


LADDER_CASES = [
    pytest.param(
        "default",
        "anquangan",
        {"2026-09": BASE},
        "2026-09",
        {"A": C, "B": C, "C": None, "D": None, "E": None, "F": None},
        {"A": ["本月安全感排名后两位 → 通报批评"]},
        id="bottom-2-once-criticism",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-08": with_(BASE, B=91, C=85), "2026-09": BASE},
        "2026-09",
        {"A": Y, "B": C, "C": None, "D": None, "E": None, "F": None},
        {"A": ["连续2个月安全感排名后两位 → 黄牌警告"], "B": ["本月安全感排名后两位 → 通报批评"]},
        id="two-in-a-row-yellow-card",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-07": BASE, "2026-08": BASE, "2026-09": BASE},
        "2026-09",
        {"A": V, "B": V, "C": None, "D": None, "E": None, "F": None},
        {"A": ["连续3个月安全感排名后两位 → 一票否决"]},
        id="three-in-a-row-veto",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-06": BASE, "2026-07": BASE, "2026-08": BASE, "2026-09": BASE},
        "2026-09",
        {"A": V, "B": V, "C": None, "D": None, "E": None, "F": None},
        {"A": ["连续4个月安全感排名后两位 → 一票否决"]},
        id="four-in-a-row-stays-veto",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-07": BASE, "2026-08": with_(BASE, A=None, C=86), "2026-09": BASE},
        "2026-09",
        {"A": C, "B": V, "C": None, "D": None, "E": None, "F": None},
        {"A": ["本月安全感排名后两位 → 通报批评"], "B": ["连续3个月安全感排名后两位 → 一票否决"]},
        id="gap-no-result-breaks-the-run",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-07": BASE, "2026-08": with_(BASE, A="insufficient", C=86), "2026-09": BASE},
        "2026-09",
        {"A": C, "B": V, "C": None, "D": None, "E": None, "F": None},
        {},
        id="gap-insufficient-sample-breaks-the-run",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-07": BASE, "2026-08": with_(BASE, A=("small", 70), C=86), "2026-09": BASE},
        "2026-09",
        {"A": C, "B": V, "C": None, "D": None, "E": None, "F": None},
        {},
        id="gap-n-eff-under-minimum-breaks-the-run",
    ),
    pytest.param(
        "skip",
        "anquangan",
        {"2026-07": BASE, "2026-08": with_(BASE, A=None, C=86), "2026-09": BASE},
        "2026-09",
        {"A": Y, "B": V, "C": None, "D": None, "E": None, "F": None},
        {"A": ["连续2个月安全感排名后两位 → 黄牌警告"]},
        id="gap-skip-policy-passes-over-the-gap",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-07": BASE, "2026-09": BASE},
        "2026-09",
        {"A": Y, "B": Y, "C": None, "D": None, "E": None, "F": None},
        {},
        id="consecutive-waves-of-the-programme-not-months",
    ),
    pytest.param(
        "months",
        "anquangan",
        {"2026-07": BASE, "2026-09": BASE},
        "2026-09",
        {"A": C, "B": C, "C": None, "D": None, "E": None, "F": None},
        {},
        id="consecutive-months-policy-breaks-on-missing-month",
    ),
    pytest.param(
        "months",
        "anquangan",
        {"2026-11": BASE, "2026-12": BASE, "2027-01": BASE},
        "2027-01",
        {"A": V, "B": V, "C": None, "D": None, "E": None, "F": None},
        {},
        id="consecutive-months-across-new-year",
    ),
    pytest.param(
        "default",
        "anquangan",
        {
            "2026-07": BASE,
            "2026-08": BASE,
            "2026-09": with_(BASE, A=96),
            "2026-10": BASE,
        },
        "2026-10",
        {"A": C, "B": V, "C": None, "D": None, "E": None, "F": None},
        {"A": ["本月安全感排名后两位 → 通报批评"], "B": ["连续4个月安全感排名后两位 → 一票否决"]},
        id="leaves-and-re-enters-bottom-2",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-09": with_(BASE, C=85)},
        "2026-09",
        {"A": C, "B": C, "C": C, "D": None, "E": None, "F": None},
        {},
        id="tie-at-cut-off-all-included",
    ),
    pytest.param(
        "exclude",
        "anquangan",
        {"2026-09": with_(BASE, C=85)},
        "2026-09",
        {"A": C, "B": None, "C": None, "D": None, "E": None, "F": None},
        {},
        id="tie-at-cut-off-all-excluded-under-exclude-rule",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-09": with_(BASE, B=84.96, C=85.04)},
        "2026-09",
        {"A": C, "B": C, "C": C, "D": None, "E": None, "F": None},
        {},
        id="tie-judged-on-published-figure",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-09": with_(BASE, B=84.94, C=85.04)},
        "2026-09",
        {"A": C, "B": C, "C": None, "D": None, "E": None, "F": None},
        {},
        id="no-tie-when-published-figures-differ",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-08": BASE, "2026-09": with_(BASE, A="insufficient")},
        "2026-09",
        {"A": None, "B": Y, "C": C, "D": None, "E": None, "F": None},
        {"A": []},
        id="insufficient-sample-not-ranked-nor-sanctioned",
    ),
    pytest.param(
        "default",
        "anquangan",
        {"2026-09": with_(BASE, A=("small", 50))},
        "2026-09",
        {"A": None, "B": C, "C": C, "D": None, "E": None, "F": None},
        {},
        id="n-eff-under-minimum-not-ranked",
    ),
    pytest.param(
        "default",
        "zhixiaolv",
        {"2026-08": BASE, "2026-09": with_(BASE, B=91, C=70)},
        "2026-09",
        {"A": Y, "B": None, "C": C, "D": None, "E": None, "F": None},
        {"A": ["连续2个月知晓率排名后两位 → 黄牌警告"], "C": ["本月知晓率排名后两位 → 通报批评"]},
        id="zhixiaolv-same-ladder-for-streets",
    ),
    pytest.param(
        "default",
        "zhixiaolv",
        {"2026-07": BASE, "2026-08": BASE, "2026-09": BASE},
        "2026-09",
        {"A": V, "B": V, "C": None, "D": None, "E": None, "F": None},
        {"B": ["连续3个月知晓率排名后两位 → 一票否决"]},
        id="zhixiaolv-three-in-a-row",
    ),
]

DEPTS = {"gongan": 84.9, "jianchayuan": 90, "fayuan": 85.0, "sifa": 70}

DEPARTMENT_CASES = [
    pytest.param(
        {"2026-09": DEPTS},
        {"gongan": C, "jianchayuan": None, "fayuan": None, "sifa": C},
        {"gongan": ["本月满意度低于达标分值85分 → 通报批评"], "fayuan": []},
        id="under-pass-score-criticism-at-pass-score-none",
    ),
    pytest.param(
        {"2026-09": with_(DEPTS, gongan=84.95, sifa=84.94)},
        {"gongan": None, "jianchayuan": None, "fayuan": None, "sifa": C},
        {},
        id="pass-score-judged-on-published-figure",
    ),
    pytest.param(
        {"2026-07": DEPTS, "2026-08": DEPTS, "2026-09": DEPTS},
        {"gongan": V, "jianchayuan": None, "fayuan": None, "sifa": V},
        {"sifa": ["连续3个月满意度低于达标分值85分 → 一票否决"]},
        id="three-waves-under-pass-score-veto",
    ),
    pytest.param(
        {"2026-08": with_(DEPTS, gongan=88), "2026-09": DEPTS},
        {"gongan": C, "jianchayuan": None, "fayuan": None, "sifa": Y},
        {
            "sifa": ["连续2个月满意度低于达标分值85分 → 黄牌警告"],
            "jianchayuan": ["连续2个月满意度达到85分 → 通报表扬"],
            "fayuan": ["连续2个月满意度达到85分 → 通报表扬"],
        },
        id="two-waves-under-yellow-card-and-passing-twice-praised",
    ),
    pytest.param(
        {"2026-08": with_(DEPTS, fayuan=80), "2026-09": DEPTS},
        {"gongan": Y, "jianchayuan": None, "fayuan": None, "sifa": Y},
        {"fayuan": [], "jianchayuan": ["连续2个月满意度达到85分 → 通报表扬"]},
        id="passing-once-not-praised",
    ),
    pytest.param(
        {"2026-09": with_(DEPTS, sifa="insufficient")},
        {"gongan": C, "jianchayuan": None, "fayuan": None, "sifa": None},
        {"sifa": []},
        id="department-with-insufficient-sample-not-judged",
    ),
]


def _policy(name: str) -> Policy:
    if name == "default":
        return default_policy()
    if name == "skip":
        return variant('gap = "break"', 'gap = "skip"')
    if name == "exclude":
        return variant('ties = "include"', 'ties = "exclude"')
    if name == "months":
        return variant('consecutive = "waves"', 'consecutive = "months"')
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("policy_name", "index", "table", "wave", "expected", "expected_reasons"), LADDER_CASES
)
def test_ladder(
    policy_name: str,
    index: str,
    table: dict[str, dict[str, Any]],
    wave: str,
    expected: dict[str, str | None],
    expected_reasons: dict[str, list[str]],
) -> None:
    result = evaluate(_policy(policy_name), history(index, table), wave)
    assert levels(result, index) == expected
    got = reasons(result, index)
    for unit, texts in expected_reasons.items():
        sanctions = [r for r in got[unit] if "表扬" not in r]
        assert sanctions == texts


@pytest.mark.parametrize(("table", "expected", "expected_reasons"), DEPARTMENT_CASES)
def test_department_ladder_and_praise(
    table: dict[str, dict[str, Any]],
    expected: dict[str, str | None],
    expected_reasons: dict[str, list[str]],
) -> None:
    result = evaluate(default_policy(), history("manyidu_bumen", table), "2026-09")
    assert levels(result, "manyidu_bumen") == expected
    got = reasons(result, "manyidu_bumen")
    for unit, texts in expected_reasons.items():
        assert got[unit] == texts


PRAISE_CASES = [
    pytest.param(
        {"2026-08": BASE, "2026-09": BASE},
        {"D", "E", "F"},
        id="top-3-twice-praised",
    ),
    pytest.param(
        {"2026-08": with_(BASE, C=96), "2026-09": BASE},
        {"E", "F"},
        id="top-3-once-not-praised",
    ),
    pytest.param(
        {"2026-07": BASE, "2026-08": with_(BASE, D=50), "2026-09": BASE},
        {"E", "F"},
        id="praise-run-broken-by-a-bad-wave",
    ),
    pytest.param(
        {"2026-09": BASE},
        set(),
        id="first-wave-no-praise",
    ),
    pytest.param(
        {"2026-08": with_(BASE, D=95), "2026-09": with_(BASE, D=95)},
        {"D", "E", "F"},
        id="tie-inside-top-3",
    ),
    pytest.param(
        {"2026-08": with_(BASE, C=92), "2026-09": with_(BASE, C=92)},
        {"C", "D", "E", "F"},
        id="tie-at-top-3-cut-off-included",
    ),
]


@pytest.mark.parametrize("index", ["anquangan", "zhixiaolv"])
@pytest.mark.parametrize(("table", "praised"), PRAISE_CASES)
def test_praise_top_3_twice_in_a_row(
    index: str, table: dict[str, dict[str, Any]], praised: set[str]
) -> None:
    result = evaluate(default_policy(), history(index, table), "2026-09")
    got = {o.unit_code for o in result.for_index(index) if o.praises}
    assert got == praised
    name = "安全感" if index == "anquangan" else "知晓率"
    for o in result.for_index(index):
        for p in o.praises:
            assert p.reason == f"连续{p.streak}个月{name}排名前三位 → 通报表扬"
            assert p.name == "通报表扬"


def test_ranks_are_competition_ranks_on_published_figures() -> None:
    table = {"2026-09": {"A": 80, "B": 85.04, "C": 84.96, "D": 92, "E": 99, "F": ("small", 10)}}
    result = evaluate(default_policy(), history("anquangan", table), "2026-09")
    outcomes = result.for_index("anquangan")
    # Rank order: E 99 (1), D 92 (2), B and C both 85.0 (3, 3), A 80 (5); F 样本不足 last.
    assert [(o.unit_code, o.rank) for o in outcomes] == [
        ("E", 1),
        ("D", 2),
        ("B", 3),
        ("C", 3),
        ("A", 5),
        ("F", None),
    ]
    assert [o.status for o in outcomes][-1] == "insufficient"
    assert outcomes[-1].status_name == "样本不足"
    assert all(o.n_ranked == 5 for o in outcomes)
    assert outcomes[-1].evidence.p_bottom_k is None
    assert [o.published for o in outcomes][:5] == [99.0, 92.0, 85.0, 85.0, 80.0]


def test_streak_counts_are_derived_from_history_not_typed() -> None:
    table = {"2026-07": BASE, "2026-08": BASE, "2026-09": with_(BASE, B=91, C=85)}
    result = evaluate(default_policy(), history("anquangan", table), "2026-09")
    a = result.outcome("anquangan", "A")
    c = result.outcome("anquangan", "C")
    b = result.outcome("anquangan", "B")
    assert {s.rule: s.streak for s in a.conditions}["anquangan_houliangwei"] == 3
    assert {s.rule: s.streak for s in c.conditions}["anquangan_houliangwei"] == 1
    assert {s.rule: s.met for s in b.conditions}["anquangan_houliangwei"] is False
    assert a.sanctions[0].measure == "一票否决，取消年度评优评先资格"
    assert c.sanctions[0].measure == "通报批评，列为重点管理（挂牌整治）"


def test_later_waves_do_not_change_an_earlier_evaluation() -> None:
    table = {"2026-08": BASE, "2026-09": BASE, "2026-10": BASE}
    result = evaluate(default_policy(), history("anquangan", table), "2026-08")
    assert levels(result, "anquangan")["A"] == C


def test_unordered_history_gives_the_same_result() -> None:
    table = {"2026-07": BASE, "2026-08": BASE, "2026-09": BASE}
    records = history("anquangan", table)
    first = evaluate(default_policy(), records, "2026-09")
    second = evaluate(default_policy(), list(reversed(records)), "2026-09")
    assert first == second


def test_duplicate_record_is_refused() -> None:
    records = history("anquangan", {"2026-09": BASE})
    with pytest.raises(ValueError, match="重复"):
        evaluate(default_policy(), [*records, records[0]], "2026-09")


def test_undeclared_index_is_ignored_and_empty_wave_gives_no_outcomes() -> None:
    records = history("other_index", {"2026-09": BASE})
    assert evaluate(default_policy(), records, "2026-09").outcomes == ()


def test_target_check() -> None:
    result = evaluate(default_policy(), history("anquangan", {"2026-09": BASE}), "2026-09")
    c = result.outcome("anquangan", "C")
    b = result.outcome("anquangan", "B")
    assert c.targets[0].met is True  # 90.0 ≥ 90
    assert c.targets[0].reason == "安全感90.0%，达到安全感目标（≥ 90%）"
    assert b.targets[0].met is False
    assert b.targets[0].reason == "安全感85.0%，未达到安全感目标（≥ 90%）"


def test_wave_label_checked_in_months_mode() -> None:
    records = history("anquangan", {"2026-9": BASE})
    with pytest.raises(ValueError, match="YYYY-MM"):
        evaluate(_policy("months"), records, "2026-9")


def test_policy_identity_is_carried() -> None:
    policy = default_policy()
    result = evaluate(policy, history("anquangan", {"2026-09": BASE}), "2026-09")
    assert (result.policy_id, result.policy_version, result.policy_hash) == (
        "default",
        1,
        policy.content_hash,
    )
