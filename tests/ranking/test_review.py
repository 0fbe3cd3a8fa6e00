"""Review of uncertain sanctions (``review = "off" | "flag" | "hold"``) and decisions on them.

Scenario (one wave, four 派出所, 安全感, bottom 2 sanctioned): D 60 % (SE 1) is surely last; C
80 % (SE 3) is second to last but indistinguishable from B 81 % (SE 3), the first unit outside
(difference 1 point, SE √(3² + 3²) = 4.24, z = 0.24): C's 通报批评 rests on an uncertain
figure, D's does not (P(bottom 2) = 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from survey.ranking import (
    PolicyError,
    UnitResult,
    default_policy,
    default_policy_path,
    evaluate_wave,
    load_policy,
    load_policy_text,
)
from survey.ranking.policy import Policy

RULE = "anquangan_houliangwei"
SHIPPED_REVIEW = default_policy_path().with_name("default-review.toml")
WAVE = {"A": (95.0, 1.0), "B": (81.0, 3.0), "C": (80.0, 3.0), "D": (60.0, 1.0)}


def _records(month: str, values: dict[str, tuple[float, float]]) -> list[UnitResult]:
    return [
        UnitResult(month, "anquangan", code, est, se, 300, 300.0, unit_name=code)
        for code, (est, se) in values.items()
    ]


def _sanctions(
    policy: Policy,
    history: list[UnitResult],
    month: str,
    decisions: dict[tuple[str, str, str, str], str] | None = None,
) -> dict[str, list[tuple[str, str]]]:
    evaluation = evaluate_wave(
        policy, history, month, rng=np.random.default_rng(7), decisions=decisions
    )
    return {
        o.unit_code: [(s.level, s.review) for s in o.sanctions]
        for o in evaluation.outcomes
        if o.index == "anquangan"
    }


def _variant(review: str) -> Policy:
    text = default_policy_path().read_text(encoding="utf-8")
    old = 'when = "bottom_k"\nk = 2\n'
    assert old in text
    return load_policy_text(text.replace(old, old + f'review = "{review}"\n', 1), "v.toml")


def test_off_keeps_the_rule_literal() -> None:
    got = _sanctions(default_policy(), _records("2026-10", WAVE), "2026-10")
    assert got == {"A": [], "B": [], "C": [("criticism", "")], "D": [("criticism", "")]}


def test_flag_marks_only_the_uncertain_sanction() -> None:
    got = _sanctions(_variant("flag"), _records("2026-10", WAVE), "2026-10")
    # C: indistinguishable from B → 提请复核; D: P(bottom 2) = 1 → stands unmarked.
    assert got["C"] == [("criticism", "flagged")]
    assert got["D"] == [("criticism", "")]


def test_hold_and_the_decisions() -> None:
    policy = load_policy(SHIPPED_REVIEW)
    assert policy.id == "default_review" and set(policy.reviewers) == {"committee", "admin"}
    assert {r.review for r in policy.sanctions} == {"hold"}
    assert default_policy().sanctions[0].review == "off"
    records = _records("2026-10", WAVE)
    got = _sanctions(policy, records, "2026-10")
    assert got["C"] == [("criticism", "held")] and got["D"] == [("criticism", "")]
    decided = _sanctions(
        policy, records, "2026-10", {("2026-10", "anquangan", "C", RULE): "withdrawn"}
    )
    assert decided["C"] == [("criticism", "withdrawn")]
    decided = _sanctions(
        policy, records, "2026-10", {("2026-10", "anquangan", "C", RULE): "confirmed"}
    )
    assert decided["C"] == [("criticism", "confirmed")]


def test_a_withdrawn_sanction_does_not_count_toward_the_next_step() -> None:
    # C is in the bottom 2 in August, September and October. The rules: 1st time 通报批评,
    # 2 in a row 黄牌警告, 3 in a row 一票否决. September's 黄牌警告 is withdrawn (on review or
    # appeal), so in October only August and October count: 2 in a row → 黄牌警告, not 一票否决.
    history = [
        *_records("2026-08", WAVE),
        *_records("2026-09", WAVE),
        *_records("2026-10", WAVE),
    ]
    policy = default_policy()
    assert _sanctions(policy, history, "2026-10")["C"] == [("veto", "")]
    withdrawn = {("2026-09", "anquangan", "C", RULE): "withdrawn"}
    assert _sanctions(policy, history, "2026-10", withdrawn)["C"] == [("yellow_card", "")]
    assert _sanctions(policy, history, "2026-10", withdrawn)["D"] == [("veto", "")]
    # A confirmed sanction counts as before.
    confirmed = {("2026-09", "anquangan", "C", RULE): "confirmed"}
    assert _sanctions(policy, history, "2026-10", confirmed)["C"] == [("veto", "")]


def test_bad_review_settings_are_refused_with_the_line() -> None:
    text = default_policy_path().read_text(encoding="utf-8")
    old = 'when = "bottom_k"\nk = 2\n'
    bad = text.replace(old, old + 'review = "maybe"\nreview_below = 1.5\n', 1)
    with pytest.raises(PolicyError) as caught:
        load_policy_text(bad, "bad.toml")
    messages = [str(p) for p in caught.value.problems]
    assert any("review = 'maybe'" in m and "off, flag, hold" in m for m in messages)
    assert any("review_below = 1.5" in m for m in messages)
    assert all(m.startswith("bad.toml:") for m in messages)
