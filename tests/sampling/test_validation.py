"""Frame and block-list checks: every problem reported with row, column and reason."""

from __future__ import annotations

from sampling import (
    Problem,
    read_number_blocks,
    validate_design,
    validate_frame,
    validate_number_blocks,
)

HEADER = ["household", "stratum", "unit", "phone"]


def test_clean_frame_has_no_problems() -> None:
    rows = [["h1", "s1", "u1", "13800138000"], ["h2", "s2", "u2", "023-63881234"]]
    assert (
        validate_frame(
            HEADER,
            rows,
            known_units={"u1", "u2"},
            phone_column="phone",
            id_column="household",
            requested={"s1": 1, "s2": 1},
        )
        == []
    )


def test_every_bad_row_is_reported() -> None:
    rows = [
        ["h1", "s1", "u1", "13800138000"],
        ["h2", "s1", "u9", "1380013800"],  # unknown unit, short number
        ["h2", "", "u1", "13800138000"],  # repeated id, empty stratum, repeated phone
        ["h4", "s1"],  # wrong field count
    ]
    problems = validate_frame(
        HEADER, rows, known_units={"u1"}, phone_column="phone", id_column="household"
    )
    where = [(p.row, p.column) for p in problems]
    assert where == [
        (3, "unit"),
        (3, "phone"),
        (4, "stratum"),
        (4, "phone"),
        (4, "household"),
        (5, ""),
    ]
    assert str(problems[0]) == "第 3 行, unit: 未知的单位代码「u9」"
    assert "与第 2 行重复" in problems[3].message


def test_stratum_problems_empty_and_too_small() -> None:
    rows = [["h1", "s1", "u1", ""], ["h2", "s1", "u1", ""], ["h3", "s3", "u1", ""]]
    problems = validate_frame(HEADER, rows, requested={"s1": 5, "s2": 1})
    messages = [str(p) for p in problems]
    assert messages == [
        "全表, stratum: 层「s1」只有 2 条记录，少于要求的样本量 5",
        "全表, stratum: 层「s2」在抽样框中没有记录（空层）",
        "全表, stratum: 层「s3」在抽样框中有记录，但设计中没有它的样本量",
    ]
    assert validate_design({"a": 3}, {"a": 3}) == []


def test_missing_columns_stop_early() -> None:
    problems = validate_frame(["household", "unit"], [["h1", "u1"]], phone_column="phone")
    assert problems == [
        Problem(1, "stratum", "缺少列「stratum」"),
        Problem(1, "phone", "缺少列「phone」"),
    ]


def test_number_blocks() -> None:
    header = ["prefix", "carrier", "district"]
    good = [["1380013", "中国移动", "渝中区"], ["023-6388", "中国电信", "渝中区"]]
    blocks, problems = read_number_blocks(header, good, known_districts={"渝中区"})
    assert problems == [] and [str(b) for b in blocks] == ["1380013", "023-6388"]
    bad = [
        ["138001", "中国移动", "渝中区"],  # malformed
        ["1380013", "", "渝北区"],  # no carrier, unknown district
        ["1380013", "中国移动", "渝中区"],  # repeated
    ]
    blocks, problems = read_number_blocks(header, [good[0], *bad], known_districts={"渝中区"})
    assert blocks == []
    assert [(p.row, p.column) for p in problems] == [
        (3, "prefix"),
        (4, "prefix"),
        (4, "carrier"),
        (4, "district"),
        (5, "prefix"),
    ]
    assert "7 位数字" in problems[0].message
    only = validate_number_blocks(header, bad[:1])
    assert [(p.row, p.column) for p in only] == [(2, "prefix")]
