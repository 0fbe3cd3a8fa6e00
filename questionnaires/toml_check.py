"""The checker of TOML data files shared by every loader (instruments, ranking policies).

Files are user input: a loader reads one (``read_source``, ``parse_toml``), then checks every table
with the typed accessors below, which record a ``Problem`` (file, line, item, message with the
fix) instead of stopping at the first, and return a usable default so checking goes on. At the
end ``sorted_problems`` puts them in file order for the error the loader raises. tomllib gives no
positions, so ``Lines`` scans the text for table headers, ``id = "..."`` and ``key = ...`` lines.

A loader's outline (``questionnaires.loader.build_instrument``,
``survey.ranking.policy.build_policy``)::

    data, problems = parse_toml(text, name)
    if problems:
        raise MyError(problems)
    ctx = FileCheck(name, Lines(text))
    check_top_keys(data, MY_TOP_KEYS, ctx)
    ident = get_id(data, ctx, "办法", ctx.lines.top_key("id") or 1)
    version = get_version(data, ctx, "办法")
    title = get_str(data, "title", ctx, None, ctx.lines.top_key("title") or 1, required=True)
    ...
    if ctx.problems:
        raise MyError(sorted_problems(ctx.problems))

The ``get_*`` accessors take ``(table, key, ctx, item, line)``: the table read, the key, the check
that collects problems, and the item label and line a problem is reported at (``get_id`` reads
the key ``id`` and takes ``what`` the table is, for its message).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from questionnaires.model import Problem

#: Ids of instruments, items, pages, indices and policy rules.
ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_ID_LINE_RE = re.compile(r"""^\s*id\s*=\s*["']([^"']*)["']""")
_TOML_LINE_RE = re.compile(r"at line (\d+)")


# ---------------------------------------------------------------------------------------------
# Reading


def read_source(path: str | Path) -> tuple[str, list[Problem]]:
    """The UTF-8 text of a data file, or the problem that stops it being read (unreadable file,
    not UTF-8 — with the line of the first bad byte). Shared by every TOML loader."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return "", [Problem(name, None, None, f"无法读取文件: {exc.strerror or exc}")]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return "", [Problem(name, line, None, "文件不是 UTF-8 编码")]


def parse_toml(text: str, name: str) -> tuple[dict[str, Any], list[Problem]]:
    """The tables of TOML ``text``, or the syntax problem (with its line) that stops parsing."""
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE_RE.search(message)
        line = int(match.group(1)) if match else max(len(text.splitlines()), 1)
        return {}, [Problem(name, line, None, f"TOML 语法错误: {message}")]
    except RecursionError:
        return {}, [Problem(name, None, None, "TOML 嵌套过深")]


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in file order (those without a line after those with one), discovery order
    within a line."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


# ---------------------------------------------------------------------------------------------
# Locations


class Lines:
    """Line numbers of table headers and ``id = "..."`` lines, by the section they appear in."""

    def __init__(self, text: str) -> None:
        self.text_lines = text.splitlines()
        self.headers: list[tuple[int, str]] = []
        self.ids: dict[tuple[str, str], list[int]] = {}
        section = ""
        for number, raw in enumerate(self.text_lines, start=1):
            header = _HEADER_RE.match(raw)
            if header and "=" not in raw.split("#", 1)[0]:
                section = re.sub(r"[\s\"']", "", header.group(1))
                self.headers.append((number, section))
                continue
            ident = _ID_LINE_RE.match(raw)
            if ident:
                self.ids.setdefault((section, ident.group(1)), []).append(number)

    def id_line(self, section: str, ident: str, nth: int = 0) -> int | None:
        """Line of the ``nth`` ``id = "ident"`` in tables named ``section``."""
        found = self.ids.get((section, ident), [])
        if not found:
            return None
        return found[min(nth, len(found) - 1)]

    def next_id_line(self, section: str, ident: str | None, seen: dict[str, int]) -> int | None:
        """Line of ``id = "ident"`` for the next table of ``section`` with that id: the first
        such line the first time, then the second, …, counted in ``seen`` (None without an id)."""
        if ident is None:
            return None
        nth = seen.get(ident, 0)
        seen[ident] = nth + 1
        return self.id_line(section, ident, nth)

    def header(self, section: str, nth: int = 0) -> int | None:
        """Line of the ``nth`` header ``[section]`` / ``[[section]]``."""
        found = [n for n, s in self.headers if s == section]
        return found[nth] if nth < len(found) else None

    def key_line(self, start: int | None, pattern: str, nth: int = 0) -> int | None:
        """The ``nth`` line at or after ``start`` (up to the next table header) matching
        ``pattern``; ``start`` itself when there is no such line."""
        if start is None:
            return None
        rx = re.compile(pattern)
        header_lines = {n for n, _ in self.headers}
        for number in range(start, len(self.text_lines) + 1):
            if number != start and number in header_lines:
                break
            if rx.search(self.text_lines[number - 1]):
                if nth == 0:
                    return number
                nth -= 1
        return start

    def top_key(self, key: str) -> int | None:
        """Line of ``key = ...`` before the first table header."""
        stop = self.headers[0][0] if self.headers else len(self.text_lines) + 1
        rx = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(1, stop):
            if rx.match(self.text_lines[number - 1]):
                return number
        return None


@dataclass
class FileCheck:
    """The problems found so far in one file (``name``), and where its lines are."""

    name: str
    lines: Lines
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, *, item: str | None = None, line: int | None = None) -> None:
        """Record a problem of this file at ``line`` (None: the whole file), about ``item``."""
        self.problems.append(Problem(self.name, line, item, message))


# ---------------------------------------------------------------------------------------------
# Typed field access (every access checks the type: files are user input)


def str_or_none(value: object) -> str | None:
    """``value`` if it is a string, else None."""
    # Values from a file may be lists or tables: only strings can be looked up by name.
    return value if isinstance(value, str) else None


def is_int(value: object) -> bool:
    """An integer, and not a boolean (Python counts TOML's ``true`` as an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite integer or float (not a boolean, nan or inf)."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(cast(float, value))


def unknown_keys(
    table: dict[str, Any],
    allowed: frozenset[str],
    ctx: FileCheck,
    item: str | None,
    line: int | None,
) -> None:
    """A problem for every key of ``table`` not in ``allowed`` (listing the allowed ones)."""
    for key in table:
        if key not in allowed:
            ctx.add(
                f"未知字段 '{key}'；可用字段: {', '.join(sorted(allowed))}", item=item, line=line
            )


def get_str(
    table: dict[str, Any],
    key: str,
    ctx: FileCheck,
    item: str | None,
    line: int | None,
    *,
    required: bool,
    default: str = "",
) -> str:
    """The stripped string ``table[key]``; ``default`` if absent (a problem if ``required``), not a
    string (a problem), or empty when ``required`` (a problem)."""
    value = table.get(key)
    if value is None:
        if required:
            ctx.add(f"缺少字段 {key}", item=item, line=line)
        return default
    if not isinstance(value, str):
        ctx.add(f"字段 {key} 应为字符串", item=item, line=line)
        return default
    if required and not value.strip():
        ctx.add(f"字段 {key} 不能为空", item=item, line=line)
    return value.strip()


def get_bool(
    table: dict[str, Any],
    key: str,
    ctx: FileCheck,
    item: str | None,
    line: int | None,
    default: bool,
) -> bool:
    """``table[key]`` if it is true/false; ``default`` if absent or (with a problem) not a boolean."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        ctx.add(f"字段 {key} 应为 true 或 false", item=item, line=line)
        return default
    return value


def get_int(
    table: dict[str, Any],
    key: str,
    ctx: FileCheck,
    item: str | None,
    line: int | None,
    low: int,
    high: int,
) -> int | None:
    """The integer ``table[key]`` in ``low``..``high``; None if absent or (with a problem) outside."""
    value = table.get(key)
    if value is None:
        return None
    if not is_int(value) or not low <= value <= high:
        ctx.add(f"字段 {key} 应为 {low} 到 {high} 之间的整数", item=item, line=line)
        return None
    return cast(int, value)


def get_number(
    table: dict[str, Any], key: str, ctx: FileCheck, item: str | None, line: int | None
) -> float | None:
    """``table[key]`` as a float; None if absent or (with a problem) not a finite number."""
    value = table.get(key)
    if value is None:
        return None
    if not is_number(value):
        ctx.add(f"字段 {key} 应为数字", item=item, line=line)
        return None
    return float(value)


def get_int_list(
    table: dict[str, Any], key: str, ctx: FileCheck, item: str | None, line: int | None
) -> tuple[int, ...] | None:
    """``table[key]`` as a non-empty tuple of integer codes; None if absent or (with a problem)
    anything else."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(is_int(v) for v in value):
        ctx.add(f"字段 {key} 应为非空的整数代码列表，如 [1, 2]", item=item, line=line)
        return None
    return tuple(cast(list[int], value))


def get_table(
    table: dict[str, Any], key: str, ctx: FileCheck, item: str | None, line: int | None
) -> dict[str, Any]:
    """The table ``[key]``; empty if absent or (with a problem) not a table."""
    value = table.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.add(f"{key} 应为表（[{key}]）", item=item, line=line)
        return {}
    return value


def get_tables(
    table: dict[str, Any], key: str, ctx: FileCheck, item: str | None, line: int | None
) -> list[dict[str, Any]]:
    """The array of tables ``[[key]]``; empty if absent or (with a problem) not one."""
    value = table.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ctx.add(f"{key} 应为表数组（[[{key}]]）", item=item, line=line)
        return []
    return value


def get_id(
    table: dict[str, Any], ctx: FileCheck, what: str, line: int | None, item: str | None = None
) -> str:
    """``table["id"]`` if it is a valid id (``ID_RE``); else a problem naming ``what`` (问卷, 题目,
    指标, …) and the id as written if it is a string, "" otherwise."""
    value = table.get("id")
    if value is None:
        ctx.add(f"{what}缺少 id", item=item, line=line)
        return ""
    if not isinstance(value, str) or not ID_RE.match(value):
        ctx.add(
            f"{what}的 id {value!r} 无效：应以小写字母开头，只含小写字母、数字和下划线，最长 40",
            item=item,
            line=line,
        )
        return value if isinstance(value, str) else ""
    return value


def get_choice(
    table: dict[str, Any],
    key: str,
    ctx: FileCheck,
    item: str | None,
    line: int | None,
    *,
    choices: tuple[str, ...],
    default: str,
) -> str:
    """``table[key]`` if it is one of ``choices``; ``default`` if absent or (with a problem)
    not one of them."""
    value = table.get(key, default)
    if value not in choices:
        ctx.add(f"{key} = {value!r} 无效；可用: {', '.join(choices)}", item=item, line=line)
        return default
    return cast(str, value)


# ---------------------------------------------------------------------------------------------
# The top of a file


def check_top_keys(data: dict[str, Any], allowed: frozenset[str], ctx: FileCheck) -> None:
    """A problem for every top-level key or table not in ``allowed``, at its line."""
    for key in data:
        if key not in allowed:
            where = ctx.lines.top_key(key) or ctx.lines.header(key)
            unknown_keys({key: None}, allowed, ctx, None, where)


def get_version(data: dict[str, Any], ctx: FileCheck, what: str) -> int:
    """The file's ``version`` (a positive integer); 0 with a problem if it is missing or not
    one. ``what`` names the file's kind in the message (问卷, 办法)."""
    line = ctx.lines.top_key("version") or 1
    version = data.get("version")
    if version is None:
        ctx.add(f"缺少 version（{what}版本号，正整数，如 version = 1）", line=line)
        return 0
    if not is_int(version) or version < 1:
        ctx.add(f"version = {version!r} 无效：应为正整数，如 version = 1", line=line)
        return 0
    return cast(int, version)
