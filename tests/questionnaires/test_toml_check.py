"""The public TOML checker (``questionnaires.toml_check``) on its own: located, typed access to a
small inline file, each expected line and message read off the text and the accessor's rule."""

from __future__ import annotations

from pathlib import Path

from questionnaires.model import Problem
from questionnaires.toml_check import (
    FileCheck,
    Lines,
    check_top_keys,
    get_choice,
    get_id,
    get_int,
    get_str,
    get_version,
    is_int,
    is_number,
    parse_toml,
    read_source,
    sorted_problems,
)

TEXT = """\
id = "demo"
version = 0
colour = "red"

[rules]
size = 12

[[items]]
id = "a"
mode = "fast"

[[items]]
id = "b"
"""


def checked(text: str = TEXT) -> tuple[dict, FileCheck]:  # type: ignore[type-arg]
    data, problems = parse_toml(text, "f.toml")
    assert problems == []
    return data, FileCheck("f.toml", Lines(text))


def test_lines_locate_headers_ids_and_keys() -> None:
    lines = Lines(TEXT)
    assert lines.top_key("version") == 2
    assert lines.top_key("size") is None  # below the first header: not a top-level key
    assert lines.header("rules") == 5
    assert lines.header("items", 1) == 12
    assert lines.header("items", 2) is None
    assert lines.id_line("items", "b") == 13
    assert lines.key_line(8, r"^\s*mode\s*=") == 10
    assert lines.key_line(12, r"^\s*mode\s*=") == 12  # not in that table: its header


def test_top_of_file_problems_name_their_lines() -> None:
    data, ctx = checked()
    check_top_keys(data, frozenset({"id", "version", "rules", "items"}), ctx)
    assert get_id(data, ctx, "办法", ctx.lines.top_key("id")) == "demo"
    assert get_version(data, ctx, "办法") == 0
    assert ctx.problems == [
        Problem("f.toml", 3, None, "未知字段 'colour'；可用字段: id, items, rules, version"),
        Problem("f.toml", 2, None, "version = 0 无效：应为正整数，如 version = 1"),
    ]
    assert [p.line for p in sorted_problems(ctx.problems)] == [2, 3]


def test_missing_version_and_bad_id() -> None:
    data, ctx = checked('id = "Demo"\n')
    assert get_version(data, ctx, "问卷") == 0
    assert get_id(data, ctx, "问卷", 1) == "Demo"  # as written, with a problem
    assert [p.message for p in ctx.problems] == [
        "缺少 version（问卷版本号，正整数，如 version = 1）",
        "问卷的 id 'Demo' 无效：应以小写字母开头，只含小写字母、数字和下划线，最长 40",
    ]


def test_accessors_fall_back_to_a_default_with_a_problem() -> None:
    data, ctx = checked()
    rules, item_a = data["rules"], data["items"][0]
    assert get_int(rules, "size", ctx, "rules", 6, 1, 10) is None  # 12 is outside 1..10
    assert get_int(rules, "absent", ctx, "rules", 6, 1, 10) is None  # absent: no problem
    mode = get_choice(item_a, "mode", ctx, "a", 10, choices=("slow", "steady"), default="slow")
    assert mode == "slow"
    assert get_str(item_a, "text", ctx, "a", 9, required=True) == ""
    assert [str(p) for p in ctx.problems] == [
        "f.toml:6: rules: 字段 size 应为 1 到 10 之间的整数",
        "f.toml:10: a: mode = 'fast' 无效；可用: slow, steady",
        "f.toml:9: a: 缺少字段 text",
    ]


def test_type_predicates() -> None:
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_number(2.5) and is_number(3) and not is_number(float("nan"))
    assert not is_number(float("inf")) and not is_number(False)


def test_syntax_error_and_unreadable_file(tmp_path: Path) -> None:
    data, problems = parse_toml('id = "a"\nversion = \n', "f.toml")
    assert data == {}
    [problem] = problems
    assert problem.line == 2 and problem.message.startswith("TOML 语法错误: ")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'id = "a"\ntitle = "caf\xe9"\n')
    assert read_source(latin) == ("", [Problem(str(latin), 2, None, "文件不是 UTF-8 编码")])
    text, problems = read_source(tmp_path / "missing.toml")
    assert text == "" and problems[0].message.startswith("无法读取文件: ")
