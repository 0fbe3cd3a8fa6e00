"""XLSForm import: the shipped XLSForm of 公众安全感 converts to the TOML's instrument, the
supported subset maps as documented, and every unsupported column, type or expression is
reported by sheet, row and column (one test case per feature)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from questionnaires import load_instrument
from questionnaires.conditions import AllOf, Answered, AnyOf, ItemIn, Not
from questionnaires.from_xlsform import XlsformError, convert_xlsform, parse_relevant
from questionnaires.loader import load_instrument_text
from survey.cli import main

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "questionnaires" / "xlsform" / "anquangan.xlsx"
TOML = REPO / "questionnaires" / "anquangan.toml"
ZH = "label::Chinese (zh)"
SURVEY_HEADER = ["type", "name", ZH, "required", "relevant", "constraint"]
YES_NO = [["yn", 1, "是"], ["yn", 2, "否"]]
SETTINGS = [["form_id", "form_title", "version"], ["mini", "小问卷", 1]]


def workbook(
    survey: list[list[Any]],
    choices: list[list[Any]] | None = None,
    settings: list[list[Any]] | None = None,
    survey_header: list[str] | None = None,
    choices_header: list[str] | None = None,
    extra_sheet: str | None = None,
) -> bytes:
    """A small XLSForm written inline (header rows first, as in any XLSForm)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    sheet.append(survey_header or SURVEY_HEADER)
    for row in survey:
        sheet.append(row)
    choice_sheet = book.create_sheet("choices")
    choice_sheet.append(choices_header or ["list_name", "name", ZH])
    for row in YES_NO if choices is None else choices:
        choice_sheet.append(row)
    settings_sheet = book.create_sheet("settings")
    for row in SETTINGS if settings is None else settings:
        settings_sheet.append(row)
    if extra_sheet:
        book.create_sheet(extra_sheet).append(["list_name", "name"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def convert(data: bytes):  # type: ignore[no-untyped-def]
    conversion = convert_xlsform(data, "form.xlsx")
    return load_instrument_text(conversion.toml, "form.toml"), conversion.notices


def problems(data: bytes) -> list[str]:
    with pytest.raises(XlsformError) as caught:
        convert_xlsform(data, "form.xlsx")
    return [str(p) for p in caught.value.problems]


# --- the shipped form ------------------------------------------------------------------------


def test_shipped_xlsform_converts_to_the_toml_instrument() -> None:
    original = load_instrument(TOML)
    converted, notices = convert(SHIPPED.read_bytes())
    assert notices == []
    # Same items in the same order, with the same options, codes, scores and conditions.
    assert [i.id for i in converted.items] == [i.id for i in original.items]
    for ours, theirs in zip(converted.items, original.items, strict=True):
        assert (ours.type, ours.text, ours.required) == (theirs.type, theirs.text, theirs.required)
        assert ours.options == theirs.options
        assert ours.condition == theirs.condition
        assert (ours.max_choices, ours.weighting, ours.note) == (
            theirs.max_choices,
            theirs.weighting,
            theirs.note,
        )
    assert converted.item("q_bu_anquan_yuanyin").condition == ItemIn("q_anquan", (4, 5))
    assert [p.id for p in converted.pages] == [p.id for p in original.pages]
    assert converted.screening == original.screening
    assert converted.unit == original.unit
    assert converted.indices == original.indices
    # Everything that defines the instrument is equal, so its content hash is too.
    assert converted == original
    assert converted.content_hash == original.content_hash


def test_cli_writes_a_file_that_passes_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "anquangan.toml"
    assert main(["questionnaire", "import-xlsform", str(SHIPPED), "-o", str(target)]) == 0
    original = load_instrument(TOML)
    assert capsys.readouterr().out.strip() == (f"OK anquangan v1 {original.short_hash} → {target}")
    assert main(["questionnaire", "check", str(target)]) == 0
    # An existing file is not overwritten without --force.
    assert main(["questionnaire", "import-xlsform", str(SHIPPED), "-o", str(target)]) == 1
    assert "已存在；要覆盖请加 --force" in capsys.readouterr().err
    args = ["questionnaire", "import-xlsform", str(SHIPPED), "-o", str(target), "--force"]
    assert main(args) == 0


def test_cli_lists_every_problem_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form = tmp_path / "bad.xlsx"
    form.write_bytes(
        workbook(
            [
                ["select_one yn", "q1", "问题一", "yes"],
                ["geopoint", "where", "位置"],
                ["integer", "age", "年龄", "yes", "", ". >= 18 and . <= 99"],
            ]
        )
    )
    target = tmp_path / "out.toml"
    assert main(["questionnaire", "import-xlsform", str(form), "-o", str(target)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "bad.xlsx: survey 表第3行, 列 type: 不支持题型 geopoint"
        "（可用 select_one、select_multiple、integer、text、note、begin/end group）",
        "bad.xlsx: survey 表第4行, 列 constraint: 整数题只支持 0–10 评分"
        "（constraint 须为 . >= 0 and . <= 10），此处为「. >= 18 and . <= 99」",
    ]
    assert captured.err.strip() == "错误: bad.xlsx 有 2 处无法转换（见上），未写文件"
    assert not target.exists()


def test_loader_problems_point_at_the_workbook_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A condition on a question of the same group is valid XLSForm but not for our pages (no
    JavaScript): the loader's problem is reported at the question's row of the survey sheet."""
    form = tmp_path / "same-page.xlsx"
    form.write_bytes(
        workbook(
            [
                ["begin group", "p1", "第一页"],
                ["select_one yn", "q1", "问题一", "yes"],
                ["select_one yn", "q2", "问题二", "yes", "${q1} = '1'"],
                ["end group"],
            ]
        )
    )
    target = tmp_path / "out.toml"
    assert main(["questionnaire", "import-xlsform", str(form), "-o", str(target)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "same-page.xlsx: survey 表第4行: q2: 条件引用的题目 'q1' 在本题所在页面或之后"
    )
    assert not target.exists()


# --- the supported subset --------------------------------------------------------------------


def test_supported_subset_maps_as_documented() -> None:
    header = [*SURVEY_HEADER, "hint::Chinese (zh)", "label::English (en)", "appearance"]
    data = workbook(
        [
            ["note", "welcome", "欢迎参加"],
            ["select_one yn", "q1", "问题一", "yes", "", "", "", "Question 1", "minimal"],
            ["begin group", "g2", "第二页", "", "${q1} = '1'"],
            ["integer", "score", "打分", "no", "", ". <= 10 and . >= 0", "0 到 10 分"],
            ["end group"],
            ["text", "why", "原因", "no", "not(${score} = '10')", "string-length(.) <= 80"],
            ["select_multiple ch", "ways", "渠道", "yes", "${why} != ''", "count-selected(.) <= 2"],
            ["select_one yn", "q3", "问题三", "yes", "selected(${ways}, '2') or ${q1} = 2"],
            ["note", "bye", "谢谢"],
        ],
        choices=[*YES_NO, ["ch", 1, "电视"], ["ch", 2, "网络"], ["ch", 3, "宣传栏"]],
        survey_header=header,
    )
    instrument, notices = convert(data)
    assert (instrument.id, instrument.version, instrument.title) == ("mini", 1, "小问卷")
    assert (instrument.intro, instrument.outro) == ("欢迎参加", "谢谢")
    assert [(p.id, p.title, [i.id for i in p.items]) for p in instrument.pages] == [
        ("page_1", "", ["q1"]),
        ("g2", "第二页", ["score"]),
        ("page_2", "", ["why"]),
        ("page_3", "", ["ways"]),
        ("page_4", "", ["q3"]),
    ]
    shown = ItemIn("q1", (1,))
    score = instrument.item("score")
    assert (score.type, score.required, score.note, score.condition) == (
        "rating_0_10",
        False,
        "0 到 10 分",
        shown,
    )
    why = instrument.item("why")
    assert (why.type, why.max_length) == ("text", 80)
    assert why.condition == Not(ItemIn("score", (10,)))
    ways = instrument.item("ways")
    assert (ways.type, ways.max_choices, ways.codes) == ("multiple", 2, (1, 2, 3))
    assert ways.condition == Answered("why", True)
    assert instrument.item("q3").condition == AnyOf((ItemIn("ways", (2,)), ItemIn("q1", (2,))))
    assert sorted(str(n) for n in notices) == [
        "form.xlsx: survey 表, 列 label::English (en): 只保留一种语言，此列的译文不导入",
        "form.xlsx: survey 表第3行, 列 appearance: 仅影响显示，未导入（本平台使用自己的提示文字和版式）",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${a} = '1'", ItemIn("a", (1,))),
        ("${a} = 1 or ${a} = '2'", ItemIn("a", (1, 2))),
        ("${a} != '3'", Not(ItemIn("a", (3,)))),
        ("${a} = ''", Answered("a", False)),
        ("selected(${m}, '4')", ItemIn("m", (4,))),
        ("(${a} = '1' or ${b} = '2') and not(${c} != '')", None),
    ],
)
def test_relevant_subset(text: str, expected: object) -> None:
    parsed = parse_relevant(text)
    if expected is not None:
        assert parsed == expected
    else:
        assert isinstance(parsed, AllOf)


# --- one case per unsupported feature --------------------------------------------------------

UNSUPPORTED: dict[str, tuple[dict[str, Any], str]] = {
    "column calculation": (
        {
            "survey": [["select_one yn", "q1", "问", "yes", "", "", "1+1"]],
            "survey_header": [*SURVEY_HEADER, "calculation"],
        },
        "survey 表第2行, 列 calculation: 不支持此列（值「1+1」）",
    ),
    "column default": (
        {
            "survey": [["select_one yn", "q1", "问", "yes", "", "", "1"]],
            "survey_header": [*SURVEY_HEADER, "default"],
        },
        "survey 表第2行, 列 default: 不支持此列（值「1」）",
    ),
    "column choice_filter": (
        {
            "survey": [["select_one yn", "q1", "问", "yes", "", "", "name = 1"]],
            "survey_header": [*SURVEY_HEADER, "choice_filter"],
        },
        "survey 表第2行, 列 choice_filter: 不支持此列（值「name = 1」）",
    ),
    "type geopoint": (
        {"survey": [["geopoint", "gps", "位置"]]},
        "survey 表第2行, 列 type: 不支持题型 geopoint",
    ),
    "type decimal": (
        {"survey": [["decimal", "x", "小数"]]},
        "survey 表第2行, 列 type: 不支持题型 decimal",
    ),
    "type calculate": (
        {"survey": [["calculate", "c", ""]]},
        "survey 表第2行, 列 type: 不支持题型 calculate",
    ),
    "type begin repeat": (
        {"survey": [["begin repeat", "r", "重复"], ["end repeat"]]},
        "survey 表第2行, 列 type: 不支持题型 begin repeat（重复组）",
    ),
    "metadata start": (
        {"survey": [["start", "start", ""]]},
        "survey 表第2行, 列 type: 不支持题型 start：本平台自动记录时间、设备与访员，请删除此行",
    ),
    "select_one or_other": (
        {"survey": [["select_one yn or_other", "q1", "问", "yes"]]},
        "survey 表第2行, 列 type: 不支持「select_one yn or_other」",
    ),
    "select_one_from_file other file": (
        {"survey": [["select_one_from_file shops.csv", "shop", "商店"]]},
        "survey 表第2行, 列 type: 不支持题型 select_one_from_file",
    ),
    "missing choice list": (
        {"survey": [["select_one colours", "q1", "问", "yes"]]},
        "survey 表第2行, 列 type: choices 表中没有选项列表「colours」",
    ),
    "integer outside 0-10": (
        {"survey": [["integer", "age", "年龄", "yes", "", ". >= 18 and . <= 99"]]},
        "survey 表第2行, 列 constraint: 整数题只支持 0–10 评分",
    ),
    "integer without range": (
        {"survey": [["integer", "n", "人数", "yes"]]},
        "survey 表第2行, 列 constraint: 整数题只支持 0–10 评分（constraint 须为 . >= 0 and . <= 10），此处为「空」",
    ),
    "constraint on select_one": (
        {"survey": [["select_one yn", "q1", "问", "yes", "", ". != 2"]]},
        "survey 表第2行, 列 constraint: 不支持的约束「. != 2」（多选题只支持 count-selected(.) <= N）",
    ),
    "constraint regex on text": (
        {"survey": [["text", "t", "文字", "no", "", "regex(., '^[0-9]+$')"]]},
        "survey 表第2行, 列 constraint: 不支持的约束「regex(., '^[0-9]+$')」",
    ),
    "relevant greater than": (
        {
            "survey": [
                ["select_one yn", "q1", "问", "yes"],
                ["text", "t", "文字", "no", "${q1} > 1"],
            ]
        },
        "survey 表第3行, 列 relevant: 不支持的表达式「${q1} > 1」：不支持比较符「>」（只支持 = 和 !=）",
    ),
    "relevant function": (
        {
            "survey": [
                ["text", "t", "文字", "no"],
                ["text", "u", "文字", "no", "string-length(${t}) > 3"],
            ]
        },
        "survey 表第3行, 列 relevant: 不支持的表达式「string-length(${t}) > 3」",
    ),
    "relevant text value": (
        {
            "survey": [
                ["select_one yn", "q1", "问", "yes"],
                ["text", "t", "文字", "no", "${q1} = 'yes'"],
            ]
        },
        "survey 表第3行, 列 relevant: 不支持的表达式「${q1} = 'yes'」：选项代码「yes」不是整数",
    ),
    "required expression": (
        {"survey": [["select_one yn", "q1", "问", "${x} = '1'"]]},
        "survey 表第2行, 列 required: 「${x} = '1'」应为 yes 或 no（不支持表达式）",
    ),
    "nested group": (
        {
            "survey": [
                ["begin group", "a", "甲"],
                ["begin group", "b", "乙"],
                ["select_one yn", "q1", "问", "yes"],
                ["end group"],
                ["end group"],
            ]
        },
        "survey 表第3行, 列 type: 不支持嵌套的组（本平台的页面不能再分组）",
    ),
    "note between questions": (
        {
            "survey": [
                ["select_one yn", "q1", "问", "yes"],
                ["note", "n", "中间说明"],
                ["select_one yn", "q2", "问", "yes"],
            ]
        },
        "survey 表第3行, 列 type: 题目之间的说明（note）不支持",
    ),
    "screening without eligible": (
        {
            "survey": [
                ["begin group", "screening", "筛选"],
                ["select_one yn", "s1", "满18岁吗", "yes"],
                ["note", "end", "谢谢"],
                ["end group"],
                ["select_one yn", "q1", "问", "yes"],
            ]
        },
        "survey 表第3行, 列 pingan::eligible: 筛选题需要 pingan::eligible（符合条件的选项代码，如 1）",
    ),
    "choice name not an integer": (
        {
            "survey": [["select_one yn", "q1", "问", "yes"]],
            "choices": [["yn", "yes", "是"], ["yn", 2, "否"]],
        },
        "choices 表第2行, 列 name: 选项代码「yes」须为整数（本平台按整数代码存储答案）",
    ),
    "choice column image": (
        {
            "survey": [["select_one yn", "q1", "问", "yes"]],
            "choices": [["yn", 1, "是", "yes.png"], ["yn", 2, "否"]],
            "choices_header": ["list_name", "name", ZH, "image"],
        },
        "choices 表第2行, 列 image: 不支持此列",
    ),
    "settings submission_url": (
        {
            "survey": [["select_one yn", "q1", "问", "yes"]],
            "settings": [[*SETTINGS[0], "submission_url"], [*SETTINGS[1], "https://x.example"]],
        },
        "settings 表第2行, 列 submission_url: 不支持此设置",
    ),
    "settings version not an integer": (
        {
            "survey": [["select_one yn", "q1", "问", "yes"]],
            "settings": [SETTINGS[0], ["mini", "小问卷", "2026.1"]],
        },
        "settings 表第2行, 列 version: 版本号「2026.1」须为正整数（如 1）",
    ),
    "sheet external_choices": (
        {"survey": [["select_one yn", "q1", "问", "yes"]], "extra_sheet": "external_choices"},
        "external_choices 表: 不支持此工作表（只读取 survey、choices、settings 和 indices）",
    ),
}


@pytest.mark.parametrize("feature", sorted(UNSUPPORTED))
def test_unsupported_feature_is_reported(feature: str) -> None:
    kwargs, expected = UNSUPPORTED[feature]
    found = problems(workbook(**kwargs))
    assert len(found) == 1, found
    assert found[0].startswith(f"form.xlsx: {expected}"), found[0]


def test_not_a_workbook_and_missing_sheets() -> None:
    assert problems(b"type,name\nselect_one yn,q1\n") == [
        "form.xlsx: 不是可读取的 XLSX 工作簿（BadZipFile）"
    ]
    book = Workbook()
    assert book.active is not None
    book.active.title = "choices"
    out = io.BytesIO()
    book.save(out)
    assert problems(out.getvalue()) == ["form.xlsx: survey 表: 缺少 survey 工作表"]
    no_settings = problems(workbook([["select_one yn", "q1", "问", "yes"]], settings=[]))
    assert no_settings == [
        "form.xlsx: settings 表: 缺少 settings 表或其中没有数据行（需要 form_id、form_title、version）"
    ]
