"""Per-department pass scores written with the plain department code (``jianchayuan = 95``)
apply to the stored department units ``<district>/jianchayuan``; an unknown key is a problem."""

from __future__ import annotations

import numpy as np
import pytest

from survey.ranking import PolicyError, UnitResult, evaluate_wave, load_policy_text
from tests.ranking.test_policy import line_of

POLICY = """\
id = "bumen"
version = 1
title = "部门达标"

[indices.manyidu_bumen]
name = "满意度"
unit = "分"

[[sanctions]]
id = "weidabiao"
index = "manyidu_bumen"
when = "below"
threshold = 85
thresholds = { jianchayuan = 95, "990102/fayuan" = 70 }
ladder = [{ waves = 1, level = "criticism", measure = "通报批评" }]
"""


def _unit(code: str, estimate: float) -> UnitResult:
    return UnitResult("2026-11", "manyidu_bumen", code, estimate, 1.0, 200, 200.0)


def test_plain_department_code_sets_the_pass_score_of_every_district() -> None:
    policy = load_policy_text(POLICY)
    # Hand-worked: 检察院 90 < 95 (its own score) in both districts → criticised; 法院 80 is
    # below the common 85 in 990101 but passes in 990102, whose 法院 must reach only 70; 公安 90
    # passes the common 85.
    units = [
        _unit("990101/jianchayuan", 90.0),
        _unit("990102/jianchayuan", 90.0),
        _unit("990101/fayuan", 80.0),
        _unit("990102/fayuan", 80.0),
        _unit("990101/gongan", 90.0),
    ]
    evaluation = evaluate_wave(policy, units, "2026-11", rng=np.random.default_rng(1))
    criticised = {o.unit_code: [s.reason for s in o.sanctions] for o in evaluation.outcomes}
    assert criticised == {
        "990101/jianchayuan": ["本月满意度低于达标分值95分 → 通报批评"],
        "990102/jianchayuan": ["本月满意度低于达标分值95分 → 通报批评"],
        "990101/fayuan": ["本月满意度低于达标分值85分 → 通报批评"],
        "990102/fayuan": [],
        "990101/gongan": [],
    }


def test_an_unknown_threshold_key_is_a_problem_naming_the_known_codes() -> None:
    known = {"manyidu_bumen": frozenset({"gongan", "jianchayuan", "fayuan", "990102/fayuan"})}
    text = POLICY.replace("jianchayuan = 95", "jiancha = 95")
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "p.toml", known)
    (problem,) = caught.value.problems
    assert problem.line == line_of(text, "thresholds =")
    assert problem.item == "sanctions:weidabiao"
    assert "'jiancha' 不是已知的单位代码" in problem.message
    assert "可用: fayuan、gongan、jianchayuan" in problem.message
    assert load_policy_text(POLICY, "p.toml", known).sanctions[0].condition.thresholds == (
        ("jianchayuan", 95.0),
        ("990102/fayuan", 70.0),
    )


def test_collapse_age_groups_is_a_boolean_defaulting_to_off() -> None:
    assert load_policy_text(POLICY).collapse_age_groups is False
    on = load_policy_text("collapse_age_groups = true\n" + POLICY)
    assert on.collapse_age_groups is True
    assert on.content_hash != load_policy_text(POLICY).content_hash
    with pytest.raises(PolicyError, match="collapse_age_groups 应为 true 或 false"):
        load_policy_text('collapse_age_groups = "yes"\n' + POLICY)


def test_policy_check_reports_an_unknown_department_key(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    from survey.cli import main

    path = Path(str(tmp_path)) / "bumen.toml"
    path.write_text(POLICY.replace("jianchayuan = 95", "jiancha = 95"), encoding="utf-8")
    assert main(["policy", "check", str(path)]) == 1
    out = capsys.readouterr().out
    # without --region: the departments of the installation's instruments
    assert "'jiancha' 不是已知的单位代码" in out and "gongan、jianchayuan、sifa" in out
