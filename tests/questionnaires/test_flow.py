"""The interview engine (``questionnaires.flow``) and the one demographic coding
(``questionnaires.demographics``) — pure, on an inline instrument whose option codes are not the
weighting codes' order (女 is code 1, the age bands are 11–14)."""

from __future__ import annotations

import subprocess
import sys

from questionnaires import load_instrument_text
from questionnaires.demographics import demographic_answer, demographic_codes
from questionnaires.flow import NOT_IN_LIST, NOT_IN_STREET, apply_screen, screens

TEXT = """\
id = "flowtest"
version = 1
title = "测试问卷"

[screening]
on_fail = "ask_other_adult"
[screening.messages]
ask_other_adult = "请其他成年人回答。"

[[screening.items]]
id = "s_age"
text = "您是否已年满18周岁？"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
eligible = [1]

[[unit.levels]]
id = "street"
level = "street"
prompt = "哪个街道？"

[[unit.levels]]
id = "community"
level = "community"
prompt = "哪个社区？"

[[pages]]
id = "p1"
[[pages.items]]
id = "q1"
text = "您感觉安全吗？"
options = [{ code = 1, label = "安全" }, { code = 2, label = "不安全" }]
[[pages.items]]
id = "q2"
type = "multiple"
text = "哪些方面需要加强？"
required = false
max_choices = 2
options = [{ code = 1, label = "巡逻" }, { code = 2, label = "照明" }, { code = 3, label = "监控" }]

[[pages]]
id = "p2"
[[pages.items]]
id = "q3"
text = "是否报警？"
options = [{ code = 1, label = "是" }, { code = 2, label = "否" }]
show_if = { item = "q1", in = [2] }

[[pages]]
id = "about"
[[pages.items]]
id = "d_sex"
text = "您的性别是？"
weighting = "sex"
options = [{ code = 1, label = "女" }, { code = 2, label = "男" }, { code = 9, label = "不愿回答", refused = true }]
[[pages.items]]
id = "d_age"
text = "您的年龄？"
weighting = "age_group"
options = [
  { code = 11, label = "18～29岁" }, { code = 12, label = "30～44岁" },
  { code = 13, label = "45～59岁" }, { code = 14, label = "60岁及以上" },
  { code = 99, label = "不愿回答", refused = true },
]
"""
INSTRUMENT = load_instrument_text(TEXT, "flowtest.toml")
UNITS = {"S1": ["C11", "C12"], "S2": ["C21"]}
BEFORE_ABOUT = {"s_age": 1, "street": "S1", "community": "C11", "q1": 1}


def test_demographic_codes_follow_labels_and_band_order_not_codes() -> None:
    # 女 is code 1 here, 男 code 2; the third band (code 13) is the third group, 45–59.
    assert demographic_codes(INSTRUMENT, {"d_sex": 1, "d_age": 13}) == ("F", "45-59")
    assert demographic_codes(INSTRUMENT, {"d_sex": 2, "d_age": 11}) == ("M", "18-29")
    assert demographic_codes(INSTRUMENT, {"d_sex": 9, "d_age": 99}) == ("", "")  # refused
    assert demographic_codes(INSTRUMENT, {}) == ("", "")
    assert demographic_codes(INSTRUMENT, {"d_sex": "1", "d_age": 5}) == ("", "")  # not codes


def test_demographic_answer_is_the_inverse() -> None:
    assert demographic_answer(INSTRUMENT, "d_sex", "sex", "M") == 2
    assert demographic_answer(INSTRUMENT, "d_sex", "sex", "F") == 1
    assert demographic_answer(INSTRUMENT, "d_age", "age_group", "60+") == 14
    assert demographic_answer(INSTRUMENT, "d_age", "age_group", "70+") is None
    assert demographic_answer(INSTRUMENT, "q1", "education", "M") is None


def test_screen_layouts() -> None:
    answers = {"s_age": 1}
    assert screens(INSTRUMENT, answers, unit_per_level=False) == [
        "screening", "unit", "p1", "about"
    ]  # fmt: skip
    assert screens(INSTRUMENT, {**answers, "q1": 2}, unit_per_level=True) == [
        "screening", "unit:street", "unit:community", "p1", "p2", "about"
    ]  # fmt: skip
    assert screens(INSTRUMENT, {"s_age": 2}, unit_per_level=True) == ["screening"]


def test_valid_answers_are_kept_and_a_wrong_one_is_not() -> None:
    stored = {"s_age": 1, "street": "S1", "community": "C11", "q2": [3]}
    form = {"q1": ["2"], "q2": ["1", "2", "3"]}  # three choices where two are allowed
    result = apply_screen(INSTRUMENT, stored, "p1", form, units=UNITS, unit_per_level=False)
    assert result.errors == {"q2": "最多只能选择 2 项"}
    assert result.answers == {"s_age": 1, "street": "S1", "community": "C11", "q1": 2}
    assert result.next_screen is None and not result.done
    ok = apply_screen(
        INSTRUMENT, stored, "p1", {"q1": ["2"], "q2": ["1", "3"]}, units=UNITS, unit_per_level=False
    )
    assert ok.errors == {} and ok.answers["q2"] == [1, 3]  # stored as JSON: a list
    assert ok.next_screen == "p2"  # 不安全: the follow-up page is asked


def test_missing_answers_are_errors_except_going_back() -> None:
    stored = {"s_age": 1, "street": "S1", "community": "C11"}
    result = apply_screen(INSTRUMENT, stored, "p1", {}, units=UNITS, unit_per_level=False)
    assert result.errors == {"q1": "此题为必答题，请作答"}
    back = apply_screen(INSTRUMENT, stored, "p1", {}, units=UNITS, unit_per_level=False, back=True)
    assert back.errors == {} and back.next_screen is None
    wrong = apply_screen(
        INSTRUMENT, stored, "p1", {"q1": ["x"]}, units=UNITS, unit_per_level=False, back=True
    )
    assert wrong.errors == {"q1": "请从列出的选项中选择"}  # a wrong answer still is one


def test_unit_screens_in_both_layouts() -> None:
    eligible = {"s_age": 1}
    together = apply_screen(
        INSTRUMENT, eligible, "unit", {"street": ["S1"], "community": ["C21"]},
        units=UNITS, unit_per_level=False,
    )  # fmt: skip
    assert together.errors == {"community": NOT_IN_STREET}
    assert together.answers == {"s_age": 1, "street": "S1"}
    unknown = apply_screen(
        INSTRUMENT, eligible, "unit", {"street": ["S9"], "community": ["C11"]},
        units=UNITS, unit_per_level=False,
    )  # fmt: skip
    assert unknown.errors["street"] == NOT_IN_LIST
    # One level per screen: the community screen offered only the chosen street's communities.
    chosen = {"s_age": 1, "street": "S1"}
    alone = apply_screen(
        INSTRUMENT, chosen, "unit:community", {"community": ["C21"]},
        units=UNITS, unit_per_level=True,
    )  # fmt: skip
    assert alone.errors == {"community": NOT_IN_LIST}
    # Another street drops the community picked under the old one.
    moved = apply_screen(
        INSTRUMENT, {**chosen, "community": "C11"}, "unit:street", {"street": ["S2"]},
        units=UNITS, unit_per_level=True,
    )  # fmt: skip
    assert moved.answers == {"s_age": 1, "street": "S2"}
    assert moved.next_screen == "unit:community"


def test_the_last_screen_completes_with_hidden_answers_dropped() -> None:
    # q3 was answered while q1 was 不安全; q1 is now 安全, so q3 is hidden and not stored.
    stored = {**BEFORE_ABOUT, "q3": 1}
    form = {"d_sex": ["1"], "d_age": ["13"]}
    result = apply_screen(INSTRUMENT, stored, "about", form, units=UNITS, unit_per_level=False)
    assert result.done and result.next_screen is None
    assert result.final == {**BEFORE_ABOUT, "d_sex": 1, "d_age": 13}
    assert "q3" in result.answers  # kept while in progress: changing q1 back shows it again


def test_the_last_screen_names_an_earlier_missing_answer() -> None:
    stored = {"s_age": 1, "street": "S1", "q1": 1}  # the community was never stored
    form = {"d_sex": ["1"], "d_age": ["13"]}
    result = apply_screen(INSTRUMENT, stored, "about", form, units=UNITS, unit_per_level=True)
    assert not result.done and result.errors == {}
    assert result.missing is not None and result.missing.item == "community"
    assert result.missing_screen == "unit:community"


def test_engine_and_coding_are_pure() -> None:
    code = (
        "import sys, questionnaires.flow, questionnaires.demographics\n"
        "print(','.join(m for m in ('litestar', 'piccolo', 'jinja2', 'survey', 'asyncpg')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
