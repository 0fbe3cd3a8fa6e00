"""Policy files: the shipped default is the seed's rules; the validator reports every problem with
file, line, rule and a fix — one test per class of problem (lines computed from the text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from questionnaires import default_instruments
from survey.ranking import (
    Policy,
    PolicyError,
    Problem,
    check_policy_files,
    default_policy,
    load_policy,
    load_policy_text,
    policies_dir,
)
from survey.ranking.policy import build_policy

MINIMAL = """\
id = "t"
version = 1
title = "测试办法"

[indices.anquangan]
name = "安全感"

[[sanctions]]
id = "bottom"
index = "anquangan"
when = "bottom_k"
k = 2
ladder = [
  { waves = 1, level = "criticism" },
  { waves = 2, level = "yellow_card" },
]
"""


def line_of(text: str, fragment: str, nth: int = 0) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if fragment in line]
    return lines[nth]


def problems_of(text: str, name: str = "p.toml") -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, name)
    assert info.value.problems
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_minimal_is_valid() -> None:
    policy = load_policy_text(MINIMAL, "p.toml")
    assert isinstance(policy, Policy)
    assert policy.sanctions[0].step_for(1).level == "criticism"  # type: ignore[union-attr]
    assert policy.sanctions[0].step_for(5).level == "yellow_card"  # type: ignore[union-attr]
    assert policy.sanctions[0].step_for(0) is None
    # Defaults stated in docs/policy-format.md.
    assert (policy.consecutive, policy.gap, policy.ties, policy.decimals) == (
        "waves",
        "break",
        "include",
        1,
    )
    assert policy.min_n_eff == 30.0
    assert len(policy.content_hash) == 64


def test_default_policy_is_the_seed_rules() -> None:
    policy = default_policy()
    rules = {r.index: r for r in policy.sanctions}
    for index in ("anquangan", "zhixiaolv"):
        rule = rules[index]
        assert (rule.condition.kind, rule.condition.k) == ("bottom_k", 2)
        assert [(s.waves, s.level) for s in rule.ladder] == [
            (1, "criticism"),
            (2, "yellow_card"),
            (3, "veto"),
        ]
    dept = rules["manyidu_bumen"]
    assert (dept.condition.kind, dept.condition.threshold) == ("below", 85.0)
    assert [(s.waves, s.level) for s in dept.ladder] == [
        (1, "criticism"),
        (2, "yellow_card"),
        (3, "veto"),
    ]
    assert "重点管理（挂牌整治）" in rules["anquangan"].ladder[0].measure
    assert "诫勉谈话" in rules["anquangan"].ladder[1].measure
    praises = {
        (p.index, p.condition.kind, p.condition.k, p.condition.threshold, p.waves)
        for p in policy.praises
    }
    assert praises == {
        ("anquangan", "top_k", 3, None, 2),
        ("zhixiaolv", "top_k", 3, None, 2),
        ("manyidu_bumen", "at_least", None, 85.0, 2),
    }
    assert [(t.index, t.at_least) for t in policy.targets] == [("anquangan", 90.0)]


def test_default_policy_indices_exist_in_the_shipped_instruments() -> None:
    index_ids = {ix.id for inst in default_instruments().values() for ix in inst.indices}
    assert {spec.id for spec in default_policy().indices} <= index_ids
    pass_scores = {
        ix.id: ix.pass_score for inst in default_instruments().values() for ix in inst.indices
    }
    assert pass_scores["manyidu_bumen"] == 85  # the policy's threshold is the instrument's


def test_every_shipped_policy_loads() -> None:
    paths = sorted(policies_dir().glob("*.toml"))
    assert len(paths) >= 2
    assert check_policy_files(paths) == []


# --- one test per class of problem -------------------------------------------------------------


def test_toml_syntax_error_names_the_line() -> None:
    text = MINIMAL.replace("k = 2", "k = = 2")
    problem = only(problems_of(text))
    assert problem.message.startswith("TOML 语法错误")
    assert problem.line == line_of(text, "k = = 2")


def test_missing_id_version_and_title_reported_together() -> None:
    text = (
        MINIMAL.replace('id = "t"\n', "")
        .replace("version = 1\n", "")
        .replace('title = "测试办法"\n', "")
    )
    messages = [p.message for p in problems_of(text)]
    assert "办法缺少 id" in messages
    assert any(m.startswith("缺少 version") for m in messages)
    assert "缺少字段 title" in messages


def test_bad_version() -> None:
    problem = only(problems_of(MINIMAL.replace("version = 1", "version = 0")))
    assert "version = 0 无效：应为正整数" in problem.message
    assert problem.line == 2


def test_unknown_top_level_key() -> None:
    text = MINIMAL.replace('title = "测试办法"', 'title = "测试办法"\nthreshhold = 3')
    problem = only(problems_of(text))
    assert "未知字段 'threshhold'" in problem.message
    assert problem.line == line_of(text, "threshhold")


def test_unknown_key_in_rule() -> None:
    text = MINIMAL.replace("k = 2", "k = 2\nwaves = 3")
    problem = only(problems_of(text))
    assert problem.item == "sanctions:bottom"
    assert "未知字段 'waves'" in problem.message


def test_rule_on_undeclared_index() -> None:
    text = MINIMAL.replace('index = "anquangan"', 'index = "anquangan2"')
    problem = only(problems_of(text))
    assert "未声明的指标 'anquangan2'" in problem.message
    assert "[indices.anquangan2]" in problem.message
    assert problem.line == line_of(text, 'index = "anquangan2"')
    assert str(problem).startswith(f"p.toml:{problem.line}: sanctions:bottom: 规则引用了")


def test_missing_indices() -> None:
    start = MINIMAL.index("[indices.anquangan]")
    end = MINIMAL.index("[[sanctions]]")
    text = MINIMAL[:start] + MINIMAL[end:]
    messages = [p.message for p in problems_of(text)]
    assert any(m.startswith("缺少 [indices]") for m in messages)


def test_index_without_name_and_bad_unit() -> None:
    text = MINIMAL.replace('name = "安全感"', 'unit = "percent"')
    messages = [p.message for p in problems_of(text)]
    assert "缺少字段 name" in messages
    assert "unit = 'percent' 无效；可用: %, 分" in messages


def test_bad_condition_kind() -> None:
    text = MINIMAL.replace('when = "bottom_k"', 'when = "bottom"')
    problem = only(problems_of(text))
    assert "when = 'bottom' 无效；可用: bottom_k, top_k, below" in problem.message
    assert problem.line == line_of(text, 'when = "bottom"')


def test_missing_or_bad_k() -> None:
    assert "缺少 k" in only(problems_of(MINIMAL.replace("k = 2\n", ""))).message
    assert "k = 0 无效" in only(problems_of(MINIMAL.replace("k = 2", "k = 0"))).message
    assert "k = 2.5 无效" in only(problems_of(MINIMAL.replace("k = 2", "k = 2.5"))).message


def test_threshold_given_as_fraction_is_refused_with_the_fix() -> None:
    text = MINIMAL.replace('when = "bottom_k"\nk = 2', 'when = "below"\nthreshold = 0.85')
    problem = only(problems_of(text))
    assert "threshold = 0.85 像是比例" in problem.message
    assert "90% 写 90" in problem.message
    assert problem.line == line_of(text, "threshold = 0.85")


def test_threshold_out_of_range_and_missing() -> None:
    text = MINIMAL.replace('when = "bottom_k"\nk = 2', 'when = "below"\nthreshold = 150')
    assert "threshold = 150 超出 0–100 范围" in only(problems_of(text)).message
    text = MINIMAL.replace('when = "bottom_k"\nk = 2', 'when = "below"')
    assert "below 规则缺少 threshold" in only(problems_of(text)).message


def test_k_on_threshold_rule_and_threshold_on_rank_rule() -> None:
    text = MINIMAL.replace('when = "bottom_k"', 'when = "below"\nthreshold = 85')
    assert "below 规则不使用 k" in only(problems_of(text)).message
    text = MINIMAL.replace("k = 2", "k = 2\nthreshold = 85")
    assert "bottom_k 规则不使用 threshold" in only(problems_of(text)).message


def test_missing_ladder() -> None:
    start = MINIMAL.index("ladder = [")
    problem = only(problems_of(MINIMAL[:start]))
    assert problem.message.startswith("缺少 ladder（预警阶梯）")


def test_ladder_level_unknown() -> None:
    text = MINIMAL.replace('level = "yellow_card"', 'level = "yellow"')
    problem = only(problems_of(text))
    assert "阶梯第 2 级的 level = 'yellow' 无效" in problem.message
    assert "yellow_card（黄牌警告）" in problem.message
    assert problem.line == line_of(text, 'level = "yellow"')


def test_ladder_waves_not_increasing() -> None:
    text = MINIMAL.replace('{ waves = 2, level = "yellow_card" }', '{ waves = 1, level = "veto" }')
    problem = only(problems_of(text))
    assert "阶梯第 2 级的 waves = 1 应大于上一级的 1" in problem.message
    assert problem.line == line_of(text, 'level = "veto"')


def test_ladder_getting_milder() -> None:
    text = MINIMAL.replace('level = "criticism"', 'level = "veto"')
    problem = only(problems_of(text))
    assert "阶梯第 2 级 黄牌警告 比上一级 一票否决 轻" in problem.message


def test_ladder_bad_waves() -> None:
    text = MINIMAL.replace("{ waves = 2,", "{ waves = 0,")
    assert "阶梯第 2 级的 waves = 0 无效" in only(problems_of(text)).message


def test_duplicate_rule_id() -> None:
    second = MINIMAL[MINIMAL.index("[[sanctions]]") :]
    text = MINIMAL + "\n" + second
    problem = only(problems_of(text))
    assert "规则 id 'bottom' 重复" in problem.message
    assert problem.line == line_of(text, 'id = "bottom"', 1)


def test_bad_rule_id() -> None:
    text = MINIMAL.replace('id = "bottom"', 'id = "Bottom 2"')
    assert "预警规则的 id 'Bottom 2' 无效" in only(problems_of(text)).message


def test_praise_problems() -> None:
    text = (
        MINIMAL
        + '\n[[praises]]\nid = "top"\nindex = "anquangan"\nwhen = "bottom_k"\nk = 3\nwaves = 0\n'
    )
    messages = [p.message for p in problems_of(text)]
    assert any("when = 'bottom_k' 无效；可用: top_k, at_least" in m for m in messages)
    assert any(m.startswith("waves = 0 无效") for m in messages)


def test_points_problems() -> None:
    bands = (
        '\n[[points]]\nid = "kou"\nindex = "anquangan"\nkind = "per_point_below"\n'
        "bands = [{ below = 90, per_point = 0.5 }, { below = 96, per_point = 0.25 }]\n"
    )
    problem = only(problems_of(MINIMAL + bands))
    assert "第 2 段的 below = 96 应小于上一段的 90" in problem.message
    assert problem.item == "points:kou"
    negative = bands.replace("per_point = 0.5", "per_point = -0.5").replace(
        "below = 96", "below = 80"
    )
    assert "第 1 段的 per_point 应为正数" in only(problems_of(MINIMAL + negative)).message
    fixed = (
        '\n[[points]]\nid = "kou"\nindex = "anquangan"\nkind = "fixed"\nwhen = "bottom_k"\nk = 2\n'
    )
    assert "fixed 规则需要非零的 points" in only(problems_of(MINIMAL + fixed)).message
    kind = '\n[[points]]\nid = "kou"\nindex = "anquangan"\nkind = "bonus"\n'
    assert (
        "kind = 'bonus' 无效；可用: per_point_below, fixed"
        in only(problems_of(MINIMAL + kind)).message
    )
    mixed = bands.replace("kind =", 'when = "bottom_k"\nkind =').replace("below = 96", "below = 80")
    assert "per_point_below 规则不使用 when" in only(problems_of(MINIMAL + mixed)).message


def test_target_problems() -> None:
    text = MINIMAL + '\n[[targets]]\nid = "goal"\nindex = "anquangan"\n'
    assert "目标缺少 at_least" in only(problems_of(text)).message
    text = MINIMAL + '\n[[targets]]\nid = "goal"\nindex = "anquangan"\nat_least = 0.9\n'
    assert "at_least = 0.9 像是比例" in only(problems_of(text)).message


def test_bad_choices_at_top_level() -> None:
    for key, bad, choices in (
        ("consecutive", "calendar", "waves, months"),
        ("gap", "ignore", "break, skip"),
        ("ties", "random", "include, exclude"),
    ):
        text = MINIMAL.replace('title = "测试办法"', f'title = "测试办法"\n{key} = "{bad}"')
        problem = only(problems_of(text))
        assert problem.message == f"{key} = '{bad}' 无效；可用: {choices}"
        assert problem.line == line_of(text, f'{key} = "{bad}"')


def test_bad_numbers_at_top_level() -> None:
    text = MINIMAL.replace('title = "测试办法"', 'title = "测试办法"\ndecimals = 7\nmin_n_eff = -1')
    messages = [p.message for p in problems_of(text)]
    assert "decimals 应为 0 到 4 之间的整数（公布时保留的小数位）" in messages
    assert "min_n_eff 不能为负数" in messages


def test_uncertainty_settings() -> None:
    text = MINIMAL + "\n[uncertainty]\nrank_level = 90\ndraws = 5\nalpha = 0.05\n"
    messages = [p.message for p in problems_of(text)]
    assert "rank_level = 90 应在 0 与 1 之间（如 0.90）" in messages
    assert "draws 应为 100 到 1000000 之间的整数" in messages


def test_policy_without_rules() -> None:
    start = MINIMAL.index("[[sanctions]]")
    problem = only(problems_of(MINIMAL[:start]))
    assert problem.message.startswith("办法中没有任何规则")


def test_every_problem_is_reported_in_file_order() -> None:
    text = (
        MINIMAL.replace("version = 1", "version = -2")
        .replace('when = "bottom_k"', 'when = "lowest"')
        .replace('level = "yellow_card"', 'level = "red"')
    )
    problems = problems_of(text)
    assert len(problems) == 3
    lines = [p.line or 0 for p in problems]
    assert lines == sorted(lines)


def test_files_not_utf8_missing_and_many(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL, encoding="utf-8")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(MINIMAL.replace("测试办法", "x").encode() + b"\n# \xff\n")
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace("k = 2", "k = 0"), encoding="utf-8")
    assert load_policy(good).id == "t"
    problems = check_policy_files([good, latin, bad, tmp_path / "missing.toml"])
    assert [Path(p.file).name for p in problems] == ["latin.toml", "bad.toml", "missing.toml"]
    assert problems[0].message == "文件不是 UTF-8 编码"
    assert problems[0].line == MINIMAL.count("\n") + 2
    assert problems[2].message.startswith("无法读取文件")


def test_index_level_names_the_ranked_units() -> None:
    """``level`` is optional (None: the questionnaire's level); a city's ``district`` is one of
    station/street/district/department; anything else is named with the choices; thresholds of
    an index with a level are checked against the codes of that level (``@district``)."""
    assert load_policy_text(MINIMAL, "p.toml").indices[0].level is None
    city = MINIMAL.replace('name = "安全感"', 'name = "安全感"\nlevel = "district"')
    assert load_policy_text(city, "p.toml").indices[0].level == "district"
    problem = only(
        problems_of(MINIMAL.replace('name = "安全感"', 'name = "安全感"\nlevel = "city"'))
    )
    assert problem.message == "level = 'city' 无效；可用: station, street, district, department"
    below = city.replace('when = "bottom_k"\nk = 2', 'when = "below"\nthreshold = 80\nthresholds = { "990199" = 85 }')  # fmt: skip
    known = {"anquangan": frozenset({"990102P01"}), "@district": frozenset({"990102", "990103"})}
    with pytest.raises(PolicyError) as info:
        build_policy(below, "p.toml", known)
    assert "990199" in str(info.value)
    build_policy(below.replace("990199", "990103"), "p.toml", known)  # a district: accepted


def test_shipped_city_policy_ranks_districts() -> None:
    policy = load_policy(policies_dir() / "city.toml")
    assert {spec.id: spec.level for spec in policy.indices} == {
        "anquangan": "district",
        "zhixiaolv": "district",
        "manyidu": "district",
    }
