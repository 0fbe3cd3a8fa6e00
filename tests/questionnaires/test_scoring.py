"""Scoring against hand-computed values from the definitions in DESIGN.md §3 (no pasted output)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from questionnaires import (
    Instrument,
    composite_weights,
    default_instruments,
    load_instrument_text,
    score_departments,
    score_responses,
)
from tests.questionnaires._texts import HEAD

NAN = np.nan


@pytest.fixture(scope="module")
def shipped() -> dict[str, Instrument]:
    return default_instruments()


def responses(item: str, codes: list[object]) -> list[dict[str, object]]:
    return [{item: c} if c is not None else {} for c in codes]


def test_anquangan_share_counts_top_three_among_valid(shipped: dict[str, Instrument]) -> None:
    inst = shipped["anquangan"]
    # codes: 很安全 安全 基本安全 不太安全 不安全 说不清 不愿回答 (unanswered)
    scores = score_responses(inst, "anquangan", responses("q_anquan", [1, 2, 3, 4, 5, 8, 9, None]))
    assert_array_equal(scores.values, [1, 1, 1, 0, 0, NAN, NAN, NAN])
    assert_array_equal(scores.dk_mask, [0, 0, 0, 0, 0, 1, 1, 0])
    assert not scores.void_mask.any()
    assert scores.values.dtype == np.float64
    # the national headline: share of 安全或基本安全 among valid answers = 3/5
    assert np.nanmean(scores.values) == pytest.approx(3 / 5)


def test_anquangan_mean_score(shipped: dict[str, Instrument]) -> None:
    inst = shipped["anquangan"]
    scores = score_responses(inst, "anquangan_score", responses("q_anquan", [1, 4, 8, 5, 3]))
    assert_array_equal(scores.values, [100, 30, NAN, 0, 60])
    assert np.nanmean(scores.values) == pytest.approx((100 + 30 + 0 + 60) / 4)


def test_zhixiaolv_share(shipped: dict[str, Instrument]) -> None:
    scores = score_responses(
        shipped["zhixiaolv"], "zhixiaolv", responses("q_zhixiao", [1, 2, 1, 9])
    )
    assert_array_equal(scores.values, [1, 0, 1, NAN])
    assert_array_equal(scores.dk_mask, [0, 0, 0, 1])


def test_manyidu_per_department_excludes_bu_liaojie(shipped: dict[str, Instrument]) -> None:
    inst = shipped["manyidu"]
    answers = [
        {"q_manyi_gongan": 1, "q_manyi_fayuan": 8},
        {"q_manyi_gongan": 3, "q_manyi_fayuan": 2},
        {"q_manyi_gongan": 8, "q_manyi_fayuan": 4},
    ]
    gongan = score_responses(inst, "manyidu_bumen", answers, department="gongan")
    assert_array_equal(gongan.values, [100, 60, NAN])
    assert_array_equal(gongan.dk_mask, [0, 0, 1])
    by_dept = score_departments(inst, "manyidu", answers)
    assert list(by_dept) == ["gongan", "jianchayuan", "fayuan", "sifa"]
    assert_array_equal(by_dept["fayuan"].values, [NAN, 80, 30])
    assert_array_equal(by_dept["jianchayuan"].values, [NAN, NAN, NAN])
    assert np.nanmean(by_dept["gongan"].values) == pytest.approx(80.0)


def test_composite_weights_default_equal_and_explicit(shipped: dict[str, Instrument]) -> None:
    inst = shipped["manyidu"]
    assert composite_weights(inst, "manyidu") == pytest.approx(
        {"gongan": 0.25, "jianchayuan": 0.25, "fayuan": 0.25, "sifa": 0.25}
    )
    assert composite_weights(inst, "manyidu", ["gongan", "fayuan"]) == pytest.approx(
        {"gongan": 0.5, "fayuan": 0.5}
    )
    text = inst.source_text.replace("default_weight = 1.0", "weights = { gongan = 2.0 }")
    weighted = load_instrument_text(text, "weighted.toml").with_departments(
        [("gongan", "公安机关"), ("fayuan", "法院"), ("jiaojing", "交警")]
    )
    # gongan 2, the others the default 1: 2/4, 1/4, 1/4
    assert composite_weights(weighted, "manyidu") == pytest.approx(
        {"gongan": 0.5, "fayuan": 0.25, "jiaojing": 0.25}
    )


DEPT_POLICY = (
    HEAD
    + """
[departments]
default = [{ code = "a", name = "甲" }, { code = "b", name = "乙" }]

[[pages]]
id = "p"
[[pages.items]]
id = "sat"
per_department = true
text = "您对{department}满意吗？"
options = [
  { code = 1, label = "满意", score = 100 },
  { code = 2, label = "不满意", score = 0 },
  { code = 8, label = "不了解", dont_know = true },
]

[[indices]]
id = "share"
name = "满意率"
kind = "top_box_share"
item = "sat"
positive = [1]
dk_policy = "POLICY"
"""
)


@pytest.mark.parametrize(
    ("policy", "a_values", "b_values", "void"),
    [
        ("exclude", [1, NAN, 0], [NAN, 1, 1], [0, 0, 0]),
        ("not_positive", [1, 0, 0], [0, 1, 1], [0, 0, 0]),
        # a don't-know on either department voids the whole interview (rows 0 and 1)
        ("void_interview", [NAN, NAN, 0], [NAN, NAN, 1], [1, 1, 0]),
    ],
)
def test_dont_know_policies(
    policy: str, a_values: list[float], b_values: list[float], void: list[int]
) -> None:
    inst = load_instrument_text(DEPT_POLICY.replace("POLICY", policy), "p.toml")
    answers = [{"sat_a": 1, "sat_b": 8}, {"sat_a": 8, "sat_b": 1}, {"sat_a": 2, "sat_b": 1}]
    scores = score_departments(inst, "share", answers)
    assert_array_equal(scores["a"].values, a_values)
    assert_array_equal(scores["b"].values, b_values)
    assert_array_equal(scores["a"].void_mask, void)
    assert_array_equal(scores["a"].dk_mask, [0, 1, 0])
    assert_array_equal(scores["b"].dk_mask, [1, 0, 0])


GRADED_ZHIXIAO = (
    HEAD
    + """
[[pages]]
id = "p"
[[pages.items]]
id = "q_zhixiao"
text = "您是否知道本地正在开展平安建设（平安创建）活动？"
options = [
  { code = 1, label = "知道", score = 1.0 },
  { code = 2, label = "听说过", score = 0.5 },
  { code = 3, label = "不知道", score = 0.0 },
]

[[indices]]
id = "zhixiaolv_graded"
name = "平安建设知晓率（分级）"
kind = "mean_score"
item = "q_zhixiao"
unit_level = "street"
target = 0.9
"""
)


def test_graded_awareness_is_expressible() -> None:
    inst = load_instrument_text(GRADED_ZHIXIAO, "graded.toml")
    scores = score_responses(inst, "zhixiaolv_graded", responses("q_zhixiao", [1, 2, 3, 1]))
    assert_array_equal(scores.values, [1.0, 0.5, 0.0, 1.0])
    assert np.mean(scores.values) == pytest.approx((1 + 0.5 + 0 + 1) / 4)


RATING_ANQUAN = (
    HEAD
    + """
[[pages]]
id = "p"
[[pages.items]]
id = "q_anquan10"
type = "rating_0_10"
text = "在目前的社会治安环境下，您感觉安全吗？请用 0 到 10 分打分，10 分表示非常安全。"
options = [
  { code = 98, label = "说不清", dont_know = true },
  { code = 99, label = "拒答", refused = true },
]

[[indices]]
id = "anquan_share"
name = "安全感（6 分及以上）"
kind = "top_box_share"
item = "q_anquan10"
positive = [6, 7, 8, 9, 10]
unit_level = "station"

[[indices]]
id = "anquan_mean"
name = "安全感（平均分）"
kind = "mean_score"
item = "q_anquan10"
dk_policy = "not_positive"
"""
)


def test_rating_0_10_variant_is_expressible() -> None:
    inst = load_instrument_text(RATING_ANQUAN, "rating.toml")
    answers = responses("q_anquan10", [10, 6, 5, 0, 98, 99])
    share = score_responses(inst, "anquan_share", answers)
    assert_array_equal(share.values, [1, 1, 0, 0, NAN, NAN])
    mean = score_responses(inst, "anquan_mean", answers)
    assert_array_equal(mean.values, [10, 6, 5, 0, 0, 0])
    assert_array_equal(mean.dk_mask, [0, 0, 0, 0, 1, 1])


def test_scoring_errors_name_row_and_item(shipped: dict[str, Instrument]) -> None:
    inst = shipped["anquangan"]
    with pytest.raises(ValueError, match=r"第 2 份回答中题目 q_anquan 的代码 7 不是该题的选项"):
        score_responses(inst, "anquangan", responses("q_anquan", [1, 7]))
    with pytest.raises(ValueError, match=r"第 1 份回答中题目 q_anquan 的值 '1' 不是整数代码"):
        score_responses(inst, "anquangan", responses("q_anquan", ["1"]))
    with pytest.raises(ValueError, match="没有指标 'nope'"):
        score_responses(inst, "nope", [])
    manyidu = shipped["manyidu"]
    with pytest.raises(ValueError, match="请给出 department"):
        score_responses(manyidu, "manyidu_bumen", [])
    with pytest.raises(ValueError, match="composite_weights"):
        score_responses(manyidu, "manyidu", [])
    assert score_responses(inst, "anquangan", []).values.shape == (0,)


def test_answers_given_column_by_column_score_the_same(shipped: dict[str, Instrument]) -> None:
    """``AnswerColumns`` (item → one value per response) scores like one mapping per response:
    安全感 share over codes 1, 4, 8, unanswered → 1, 0, NaN (说不清), NaN; an item without a
    column is unanswered everywhere."""
    from questionnaires.scoring import AnswerColumns

    inst = shipped["anquangan"]
    columns = AnswerColumns(4, {"q_anquan": [1, 4, 8, None]})
    scores = score_responses(inst, "anquangan", columns)
    assert_array_equal(scores.values, [1, 0, NAN, NAN])
    assert_array_equal(scores.dk_mask, [0, 0, 1, 0])
    empty = score_responses(inst, "anquangan", AnswerColumns(2, {}))
    assert_array_equal(empty.values, [NAN, NAN])
    assert len(columns) == 4
