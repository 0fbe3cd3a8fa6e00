"""One test per class of validation problem: message, item and line (line computed from the text)."""

from __future__ import annotations

import pytest

from questionnaires import InstrumentError, Problem, load_instrument, load_instrument_text
from questionnaires.model import Instrument
from tests.questionnaires._texts import HEAD, MINIMAL, PAGE1, line_of


def problems_of(text: str, name: str = "t.toml") -> list[Problem]:
    with pytest.raises(InstrumentError) as info:
        load_instrument_text(text, name)
    assert info.value.problems, "InstrumentError without problems"
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_minimal_text_is_valid() -> None:
    instrument = load_instrument_text(MINIMAL, "t.toml")
    assert isinstance(instrument, Instrument)
    assert [it.id for it in instrument.items] == ["q1"]


def test_duplicate_option_codes() -> None:
    text = MINIMAL.replace('{ code = 8, label = "说不清"', '{ code = 2, label = "说不清"')
    problem = only(problems_of(text))
    assert problem.item == "q1"
    assert "选项代码 2 重复" in problem.message
    assert "'不安全' 与 '说不清'" in problem.message
    assert problem.line == line_of(text, 'code = 2, label = "说不清"')  # the repeat
    assert str(problem).startswith(f"t.toml:{problem.line}: q1: 选项代码 2 重复")


def test_condition_on_unknown_item() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "q2"
type = "text"
text = "原因"
show_if = { item = "q9", in = [1] }
"""
    )
    problem = only(problems_of(text))
    assert problem.item == "q2"
    assert "条件引用了不存在的题目 'q9'" in problem.message
    assert problem.line == line_of(text, 'id = "q2"')


def test_score_missing_for_scored_option() -> None:
    text = MINIMAL.replace(
        '{ code = 2, label = "不安全", score = 0 }', '{ code = 2, label = "不安全" }'
    )
    problem = only(problems_of(text))
    assert problem.item == "q1"
    assert "选项 2 '不安全' 缺少分值 score" in problem.message
    assert problem.line == line_of(text, 'label = "不安全"')


def test_dont_know_option_with_a_score() -> None:
    text = MINIMAL.replace("dont_know = true", "dont_know = true, score = 50")
    problem = only(problems_of(text))
    assert "选项 8 '说不清' 是说不清/拒答，不应有分值" in problem.message


def test_index_over_missing_item() -> None:
    text = (
        MINIMAL
        + """
[[indices]]
id = "anquan"
name = "安全感"
kind = "top_box_share"
item = "q7"
positive = [1]
"""
    )
    problem = only(problems_of(text))
    assert problem.item == "index:anquan"
    assert "指标引用了不存在的题目 'q7'" in problem.message
    assert problem.line == line_of(text, 'item = "q7"')


def test_composite_over_missing_index() -> None:
    text = (
        MINIMAL
        + """
[[indices]]
id = "zonghe"
name = "综合"
kind = "composite"
of = "nope"
"""
    )
    problem = only(problems_of(text))
    assert "composite 引用了不存在的指标 'nope'" in problem.message


def test_cycle_in_conditions() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "q2"
text = "二"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
show_if = { item = "q3", in = [1] }

[[pages]]
id = "p3"
[[pages.items]]
id = "q3"
text = "三"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
show_if = { any = [{ item = "q1", in = [1] }, { item = "q2", in = [2] }] }
"""
    )
    problem = only(problems_of(text))
    assert problem.item == "q2"
    assert "条件形成循环: q2 → q3 → q2" in problem.message
    assert problem.line == line_of(text, 'id = "q2"')


def test_self_reference_is_a_cycle() -> None:
    text = MINIMAL.replace(
        'text = "您感觉安全吗？"',
        'text = "您感觉安全吗？"\nshow_if = { item = "q1", answered = false }',
    )
    problem = only(problems_of(text))
    assert "条件形成循环: q1 → q1" in problem.message


def test_condition_on_same_page_item_is_rejected() -> None:
    text = (
        MINIMAL
        + """
[[pages.items]]
id = "q2"
type = "text"
text = "为什么？"
show_if = { item = "q1", in = [2] }
"""
    )
    problem = only(problems_of(text))
    assert problem.item == "q2"
    assert "条件引用的题目 'q1' 在本题所在页面或之后" in problem.message


def test_condition_code_not_an_option() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "q2"
type = "text"
text = "为什么？"
show_if = { item = "q1", in = [2, 7] }
"""
    )
    problem = only(problems_of(text))
    assert "条件中的代码 7 不是题目 'q1' 的选项" in problem.message


def test_malformed_condition() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "q2"
type = "text"
text = "为什么？"
show_if = { item = "q1", equals = 2 }
"""
    )
    problem = only(problems_of(text))
    assert "需要且只能有 in 或 answered 之一" in problem.message


def test_missing_id_and_version() -> None:
    text = 'title = "无编号"\n' + PAGE1
    problems = problems_of(text)
    messages = [p.message for p in problems]
    assert "问卷缺少 id" in messages
    assert any(m.startswith("缺少 version") for m in messages)


def test_bad_version() -> None:
    text = MINIMAL.replace("version = 1", 'version = "v2"')
    problem = only(problems_of(text))
    assert "version = 'v2' 无效：应为正整数" in problem.message
    assert problem.line == line_of(text, "version =")


def test_unknown_item_type() -> None:
    text = MINIMAL.replace('type = "single"', 'type = "dropdown"')
    problem = only(problems_of(text))
    assert problem.item == "q1"
    assert "未知题型 'dropdown'" in problem.message
    assert "single, rating_0_10, multiple, text" in problem.message


def test_duplicate_item_ids() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "q1"
type = "text"
text = "又一个 q1"
"""
    )
    problem = only(problems_of(text))
    assert problem.item == "q1"
    first = line_of(text, 'id = "q1"')
    assert f"题目 id 'q1' 重复（第一次出现在第 {first} 行）" in problem.message
    assert problem.line == line_of(text, 'id = "q1"', nth=1)


def test_bad_toml_syntax_reports_tomllib_line() -> None:
    text = MINIMAL + '\n[[pages]]\nid = "p2\n'
    problem = only(problems_of(text))
    assert problem.message.startswith("TOML 语法错误")
    assert problem.line == line_of(text, 'id = "p2')


def test_unknown_field_is_reported() -> None:
    text = MINIMAL.replace('type = "single"', 'type = "single"\nrequird = false')
    problem = only(problems_of(text))
    assert "未知字段 'requird'" in problem.message


def test_unknown_top_level_key_has_its_line() -> None:
    text = MINIMAL.replace('title = "测试问卷"', 'title = "测试问卷"\ntitel = "拼错"')
    problem = only(problems_of(text))
    assert problem.message.startswith("未知字段 'titel'")
    assert problem.line == line_of(text, "titel")


def test_positive_code_must_be_substantive() -> None:
    text = (
        MINIMAL
        + """
[[indices]]
id = "anquan"
name = "安全感"
kind = "top_box_share"
item = "q1"
positive = [1, 8]
"""
    )
    problem = only(problems_of(text))
    assert "positive 中的代码 8 不是题目 'q1' 的实质性选项" in problem.message


def test_share_target_must_be_a_proportion() -> None:
    text = (
        MINIMAL
        + """
[[indices]]
id = "anquan"
name = "安全感"
kind = "top_box_share"
item = "q1"
positive = [1]
target = 90
"""
    )
    problem = only(problems_of(text))
    assert "target = 90 超出范围" in problem.message
    assert "0.90 表示 90%" in problem.message


def test_mean_score_needs_scores() -> None:
    text = (
        MINIMAL.replace(", score = 100", "").replace(", score = 0", "")
        + """
[[indices]]
id = "anquan"
name = "安全感"
kind = "mean_score"
item = "q1"
"""
    )
    problem = only(problems_of(text))
    assert "mean_score 指标要求题目 'q1' 的实质性选项都有分值" in problem.message


def test_unknown_dk_policy() -> None:
    text = (
        MINIMAL
        + """
[[indices]]
id = "anquan"
name = "安全感"
kind = "top_box_share"
item = "q1"
positive = [1]
dk_policy = "ignore"
"""
    )
    problem = only(problems_of(text))
    assert (
        "dk_policy = 'ignore' 无效；可用: exclude, not_positive, void_interview" in problem.message
    )


def test_department_template_needs_placeholder_and_departments() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "sat"
text = "您对政法机关满意吗？"
per_department = true
options = [{ code = 1, label = "满意" }, { code = 2, label = "不满意" }]
"""
    )
    messages = [p.message for p in problems_of(text)]
    assert any("text 必须包含 {department}" in m for m in messages)
    assert any("按部门生成的题目需要部门列表" in m for m in messages)


def test_rating_item_may_only_add_dont_know_codes_outside_range() -> None:
    text = (
        MINIMAL
        + """
[[pages]]
id = "p2"
[[pages.items]]
id = "r1"
type = "rating_0_10"
text = "打分"
options = [{ code = 10, label = "说不清", dont_know = true }]
"""
    )
    problem = only(problems_of(text))
    assert problem.item == "r1"
    assert "代码不能在 0–10 之间" in problem.message


def test_every_problem_is_reported_in_file_order() -> None:
    text = (
        HEAD
        + """
[[pages]]
id = "p1"

[[pages.items]]
id = "q1"
type = "dropdown"
text = "一"

[[pages.items]]
id = "q2"
text = "二"
options = [
  { code = 1, label = "是", score = 1 },
  { code = 1, label = "否" },
]

[[indices]]
id = "bad"
name = "坏指标"
kind = "top_box_share"
item = "q5"
positive = [1]
"""
    )
    problems = problems_of(text)
    assert len(problems) == 4, [str(p) for p in problems]
    assert [p.item for p in problems] == ["q1", "q2", "q2", "index:bad"]
    assert "未知题型" in problems[0].message
    assert "选项代码 1 重复" in problems[1].message
    assert "缺少分值" in problems[2].message
    assert "不存在的题目 'q5'" in problems[3].message
    lines = [p.line for p in problems]
    assert lines == sorted(lines)  # type: ignore[type-var]


def test_unreadable_file(tmp_path: pytest.TempPathFactory) -> None:
    missing = f"{tmp_path}/none.toml"
    with pytest.raises(InstrumentError) as info:
        load_instrument(missing)
    assert info.value.problems[0].file == missing
    assert info.value.problems[0].message.startswith("无法读取文件")


def test_not_utf8(tmp_path: pytest.TempPathFactory) -> None:
    path = f"{tmp_path}/gbk.toml"
    with open(path, "wb") as fh:
        fh.write(MINIMAL.encode("gbk"))
    with pytest.raises(InstrumentError) as info:
        load_instrument(path)
    assert info.value.problems[0].message == "文件不是 UTF-8 编码"
    assert info.value.problems[0].line == 3  # first non-ASCII character: the title line


def test_with_departments_rejects_bad_list() -> None:
    from questionnaires import default_instruments

    manyidu = default_instruments()["manyidu"]
    with pytest.raises(InstrumentError) as info:
        manyidu.with_departments([("gongan", "公安机关"), ("gongan", "公安局")])
    assert any("部门代码 gongan 重复" in p.message for p in info.value.problems)
    with pytest.raises(InstrumentError) as info:
        manyidu.with_departments([])
    assert any("部门列表不能为空" in p.message for p in info.value.problems)


def test_reserved_page_id() -> None:
    text = MINIMAL.replace('id = "p1"', 'id = "unit"')
    problem = only(problems_of(text))
    assert problem.message == "页面 id 'unit' 是保留字（筛选页和居住地页），请换一个"
    assert problem.line == line_of(text, 'id = "unit"')


def test_check_files_collects_problems_of_every_file(tmp_path: pytest.TempPathFactory) -> None:
    from questionnaires import check_files

    good, bad1, bad2 = (f"{tmp_path}/{n}.toml" for n in ("good", "bad1", "bad2"))
    with open(good, "w", encoding="utf-8") as fh:
        fh.write(MINIMAL)
    with open(bad1, "w", encoding="utf-8") as fh:
        fh.write(MINIMAL.replace('type = "single"', 'type = "dropdown"'))
    with open(bad2, "w", encoding="utf-8") as fh:
        fh.write(MINIMAL.replace("version = 1", "version = -1"))
    problems = check_files([good, bad1, bad2])
    assert [p.file for p in problems] == [bad1, bad2]


def test_problem_text_format() -> None:
    assert str(Problem("a.toml", 3, "q1", "说明")) == "a.toml:3: q1: 说明"
    assert str(Problem("a.toml", None, "q1", "说明")) == "a.toml: q1: 说明"
    assert str(Problem("a.toml", 7, None, "说明")) == "a.toml:7: 说明"
    error = InstrumentError([Problem("a.toml", 1, None, "一"), Problem("a.toml", 2, None, "二")])
    assert str(error) == "a.toml:1: 一（另有 1 个问题）"
