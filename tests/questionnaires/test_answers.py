"""Visibility, answer validation, screening and form parsing — pure, on inline and shipped instruments."""

from __future__ import annotations

import pytest

from questionnaires import (
    AnswerError,
    Instrument,
    Item,
    default_instruments,
    drop_hidden,
    load_instrument_text,
    parse_form_answer,
    screening_outcome,
    validate_answers,
    visible_items,
    visible_pages,
)
from questionnaires.conditions import AllOf, Answered, AnyOf, ItemIn, Not, evaluate
from tests.questionnaires._texts import MINIMAL

ELIGIBLE = {"s_age": 1, "s_resident": 1}
UNIT = {"street": "110105001", "community": "110105001001"}

CASCADE = (
    MINIMAL
    + """
[[pages]]
id = "p2"
[[pages.items]]
id = "q2"
text = "是否报警？"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
show_if = { item = "q1", in = [2] }

[[pages]]
id = "p3"
[[pages.items]]
id = "q3"
type = "text"
text = "为什么没有报警？"
max_length = 10
show_if = { all = [{ item = "q2", in = [2] }, { not = { item = "q1", in = [8] } }] }

[[pages.items]]
id = "q4"
type = "multiple"
text = "您希望加强哪些方面？"
min_choices = 1
max_choices = 2
options = [
  { code = 1, label = "巡逻" },
  { code = 2, label = "照明" },
  { code = 3, label = "监控" },
  { code = 7, label = "以上都不需要", exclusive = true },
  { code = 8, label = "说不清", dont_know = true },
]

[[pages.items]]
id = "r1"
type = "rating_0_10"
text = "请给本地治安打分（0–10 分）"
options = [{ code = 98, label = "说不清", dont_know = true }]
"""
)


@pytest.fixture(scope="module")
def cascade() -> Instrument:
    return load_instrument_text(CASCADE, "cascade.toml")


@pytest.fixture(scope="module")
def anquangan() -> Instrument:
    return default_instruments()["anquangan"]


def ids(items: list[Item]) -> list[str]:
    return [it.id for it in items]


def errors_by_item(errors: list[AnswerError]) -> dict[str, str]:
    return {e.item: e.message_zh for e in errors}


def test_condition_evaluation() -> None:
    answers = {"a": 2, "m": [1, 3], "t": "", "n": None}
    assert evaluate(ItemIn("a", (1, 2)), answers)
    assert not evaluate(ItemIn("a", (1,)), answers)
    assert evaluate(ItemIn("m", (3,)), answers)  # multiple: any selected code
    assert not evaluate(ItemIn("missing", (1,)), answers)
    assert evaluate(Answered("t", False), answers)  # empty text = not answered
    assert evaluate(Answered("n", False), answers)
    assert evaluate(Answered("a", True), answers)
    assert evaluate(AllOf((ItemIn("a", (2,)), Not(ItemIn("m", (2,))))), answers)
    assert not evaluate(AnyOf((ItemIn("a", (1,)), ItemIn("m", (2,)))), answers)


def test_visible_items_follow_conditions_and_cascade(cascade: Instrument) -> None:
    assert ids(visible_items(cascade, {"q1": 1})) == ["q1", "q4", "r1"]
    assert ids(visible_items(cascade, {"q1": 2})) == ["q1", "q2", "q4", "r1"]
    assert ids(visible_items(cascade, {"q1": 2, "q2": 2})) == ["q1", "q2", "q3", "q4", "r1"]
    # q2 hidden again → its stale answer no longer shows q3
    assert ids(visible_items(cascade, {"q1": 1, "q2": 2})) == ["q1", "q4", "r1"]


def test_drop_hidden_removes_stale_answers(cascade: Instrument) -> None:
    answers = {"q1": 1, "q2": 2, "q3": "太远", "q4": [1]}
    assert drop_hidden(cascade, answers) == {"q1": 1, "q4": [1]}


def test_shipped_follow_up_only_for_unsafe(anquangan: Instrument) -> None:
    base = {**ELIGIBLE, **UNIT}
    assert "q_bu_anquan_yuanyin" not in ids(visible_items(anquangan, {**base, "q_anquan": 3}))
    assert "q_bu_anquan_yuanyin" in ids(visible_items(anquangan, {**base, "q_anquan": 4}))


def test_screening_outcomes(anquangan: Instrument) -> None:
    assert screening_outcome(anquangan, {}).status == "incomplete"
    assert screening_outcome(anquangan, {"s_age": 1}).item == "s_resident"
    assert screening_outcome(anquangan, ELIGIBLE).eligible
    minor = screening_outcome(anquangan, {"s_age": 2, "s_resident": 1})
    assert minor.status == "not_eligible" and not minor.eligible
    assert minor.item == "s_age" and minor.action == "ask_other_adult"
    assert minor.message == anquangan.screening.message("ask_other_adult")
    assert "其他成员" in minor.message
    # Not eligible: only the screening is shown, nothing else is required.
    assert ids(visible_items(anquangan, {"s_age": 2})) == ["s_age", "s_resident"]
    assert validate_answers(anquangan, {"s_age": 2, "s_resident": 1}, partial=False) == []


def test_per_item_screening_action() -> None:
    text = """
id = "s"
version = 1
title = "筛选"
[screening]
on_fail = "ask_other_adult"
[screening.messages]
ask_other_adult = "请家中其他成年人回答。"
end = "谢谢，再见。"
[[screening.items]]
id = "s_age"
text = "是否年满18周岁？"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
eligible = [1]
[[screening.items]]
id = "s_local"
text = "是否本地居民？"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
eligible = [1]
on_fail = "end"
[[pages]]
id = "p"
[[pages.items]]
id = "q"
type = "text"
text = "意见"
"""
    inst = load_instrument_text(text, "s.toml")
    outcome = screening_outcome(inst, {"s_age": 1, "s_local": 2})
    assert (outcome.action, outcome.message) == ("end", "谢谢，再见。")
    outcome = screening_outcome(inst, {"s_age": 2, "s_local": 2})
    assert (outcome.action, outcome.item) == ("ask_other_adult", "s_age")


def test_complete_valid_response_has_no_errors(anquangan: Instrument) -> None:
    answers = {**ELIGIBLE, **UNIT, "q_anquan": 2, "d_sex": 1, "d_age_group": 3}
    assert validate_answers(anquangan, answers, partial=False) == []


def test_missing_required_answers(anquangan: Instrument) -> None:
    answers = {**ELIGIBLE, "q_anquan": 5, "d_sex": 2}
    errors = errors_by_item(validate_answers(anquangan, answers, partial=False))
    assert errors == {
        "q_bu_anquan_yuanyin": "此题为必答题，请作答",
        "d_age_group": "此题为必答题，请作答",
        "street": "请选择您居住的街道（乡镇）",
        "community": "请选择您居住的社区（村）",
    }
    # A partial save reports nothing missing…
    assert validate_answers(anquangan, answers, partial=True) == []
    # …except on the page being submitted.
    page_errors = validate_answers(anquangan, answers, partial=True, page="about_you")
    assert errors_by_item(page_errors) == {"d_age_group": "此题为必答题，请作答"}
    unit_errors = validate_answers(anquangan, {**ELIGIBLE, "street": "1"}, True, page="unit")
    assert errors_by_item(unit_errors) == {"community": "请选择您居住的社区（村）"}


def test_out_of_range_and_tampered_answers(cascade: Instrument) -> None:
    answers: dict[str, object] = {
        "q1": 2,
        "q2": 2,
        "q3": "太远了，而且没有人管这件事",
        "q4": [1, 7],
        "r1": 11,
        "hacked": 1,
    }
    errors = errors_by_item(validate_answers(cascade, answers, partial=True))
    assert errors == {
        "hacked": "提交了问卷中不存在的题目，请刷新页面后重试",
        "q3": "回答不能超过 10 个字（现在 13 个字）",
        "q4": "“以上都不需要”不能与其他选项同时选择",
        "r1": "请选择 0 到 10 之间的分数",
    }
    assert errors_by_item(validate_answers(cascade, {"q1": 5}, True)) == {
        "q1": "请从列出的选项中选择一项"
    }
    assert errors_by_item(validate_answers(cascade, {"q1": True}, True)) == {
        "q1": "请从列出的选项中选择一项"
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2, 3], "最多只能选择 2 项"),
        ([1, 1], "同一选项不能重复选择"),
        ([1, 9], "所选内容不在本题的选项中，请重新选择"),
        ([8, 2], "“说不清”不能与其他选项同时选择"),
        ("1", "请从列出的选项中选择"),
    ],
)
def test_multiple_choice_rules(cascade: Instrument, value: object, message: str) -> None:
    errors = validate_answers(cascade, {"q1": 1, "q4": value}, partial=True)
    assert errors == [AnswerError("q4", message)]


def test_rating_accepts_0_to_10_and_dont_know(cascade: Instrument) -> None:
    for value in (0, 7, 10, 98):
        assert validate_answers(cascade, {"q1": 1, "r1": value}, partial=True) == []
    bad: tuple[object, ...] = (-1, 11, 97, 5.5)
    for wrong in bad:
        errors = validate_answers(cascade, {"q1": 1, "r1": wrong}, partial=True)
        assert [e.item for e in errors] == ["r1"]


def test_answers_to_hidden_items_are_ignored(cascade: Instrument) -> None:
    # q3 is hidden (q1 = 1), so its over-long answer is not an error; drop_hidden removes it.
    assert validate_answers(cascade, {"q1": 1, "q3": "x" * 50}, partial=True) == []


def test_parse_form_answer(cascade: Instrument) -> None:
    q1, q4, q3 = cascade.item("q1"), cascade.item("q4"), cascade.item("q3")
    assert parse_form_answer(q1, " 2 ") == 2
    assert parse_form_answer(q1, "") is None
    assert parse_form_answer(q4, ["1", "3"]) == (1, 3)
    assert parse_form_answer(q3, "  很好 ") == "很好"
    for bad in ("二", "1_0", "２", "1.0"):
        assert isinstance(parse_form_answer(q1, bad), AnswerError)
    assert isinstance(parse_form_answer(q1, ["1", "2"]), AnswerError)


def test_visible_pages_skip_empty_pages(anquangan: Instrument) -> None:
    safe = {**ELIGIBLE, "q_anquan": 2}
    assert visible_pages(anquangan, safe) == ["screening", "unit", "security", "about_you"]
    unsafe = {**ELIGIBLE, "q_anquan": 5}
    assert visible_pages(anquangan, unsafe) == [
        "screening",
        "unit",
        "security",
        "security_reasons",
        "about_you",
    ]
    assert visible_pages(anquangan, {"s_age": 2}) == ["screening"]


def test_screening_page_requires_its_questions(anquangan: Instrument) -> None:
    errors = validate_answers(anquangan, {"s_age": 1}, partial=True, page="screening")
    assert errors == [AnswerError("s_resident", "此题为必答题，请作答")]
