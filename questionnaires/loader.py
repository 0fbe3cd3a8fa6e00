"""TOML file → validated ``Instrument``: load, collect every problem with its location, build.

The pipeline is pyxform's: parse (tomllib) → check each table, collecting ``Problem``s instead of
stopping at the first → cross-checks (references, cycles, indices) → frozen model + content hash.
tomllib gives no positions, so ``_Lines`` scans the text for table headers and ``id = "..."`` lines.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from questionnaires.conditions import (
    AllOf,
    Answered,
    AnyOf,
    Condition,
    ItemIn,
    Not,
    leaves,
    referenced_items,
)
from questionnaires.model import (
    AREA_LEVELS,
    DK_POLICIES,
    INDEX_KINDS,
    ITEM_TYPES,
    MODES,
    RATING_MAX,
    RATING_MIN,
    SCREENING_ACTIONS,
    SCREENING_PAGE,
    UNIT_LEVELS,
    UNIT_PAGE,
    AreaLevel,
    AreaPrompt,
    Department,
    DkPolicy,
    IndexDefinition,
    IndexKind,
    Instrument,
    InstrumentError,
    Item,
    ItemType,
    Mode,
    Option,
    Page,
    Problem,
    Screening,
    ScreeningAction,
    ScreeningQuestion,
    UnitIdentification,
    UnitLevel,
)

HASH_PREFIX = b"pingan-instrument/1\n"
DEFAULT_TEXT_MAX_LENGTH = 200
MAX_TEXT_MAX_LENGTH = 5000
_MAX_CONDITION_DEPTH = 20
DEPARTMENT_PLACEHOLDER = "{department}"

_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DEPT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
_VARIABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_ID_LINE_RE = re.compile(r"""^\s*id\s*=\s*["']([^"']*)["']""")
_TOML_LINE_RE = re.compile(r"at line (\d+)")

_TOP_KEYS = frozenset(
    {"id", "version", "title", "intro", "outro", "modes"}
    | {"scales", "departments", "screening", "unit", "pages", "indices"}
)
_ITEM_KEYS = frozenset(
    {"id", "type", "text", "options", "scale", "required", "show_if", "skip_if", "note"}
    | {"max_length", "min_choices", "max_choices", "per_department", "weighting"}
)
_SCREENING_ITEM_KEYS = frozenset(
    {"id", "type", "text", "options", "scale", "required", "note", "eligible", "on_fail"}
)
_OPTION_KEYS = frozenset({"code", "label", "score", "dont_know", "refused", "exclusive"})
_INDEX_KEYS = frozenset(
    {"id", "name", "kind", "item", "positive", "dk_policy", "unit_level", "target"}
    | {"pass_score", "of", "weights", "default_weight", "primary"}
)


# ---------------------------------------------------------------------------------------------
# Locations


class _Lines:
    """Line numbers of table headers and ``id = "..."`` lines, by the section they appear in."""

    def __init__(self, text: str) -> None:
        self.text_lines = text.splitlines()
        self.count = max(len(self.text_lines), 1)
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
class _Ctx:
    name: str
    lines: _Lines
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, *, item: str | None = None, line: int | None = None) -> None:
        self.problems.append(Problem(self.name, line, item, message))


# ---------------------------------------------------------------------------------------------
# Typed field access (every access checks the type: files are user input)


def _str_or_none(value: object) -> str | None:
    # Values from a file may be lists or tables: only strings can be looked up by name.
    return value if isinstance(value, str) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(cast(float, value))


def _unknown_keys(
    table: dict[str, Any], allowed: frozenset[str], ctx: _Ctx, item: str | None, line: int | None
) -> None:
    for key in table:
        if key not in allowed:
            ctx.add(
                f"未知字段 '{key}'；可用字段: {', '.join(sorted(allowed))}", item=item, line=line
            )


def _get_str(
    table: dict[str, Any],
    key: str,
    ctx: _Ctx,
    item: str | None,
    line: int | None,
    *,
    required: bool,
    default: str = "",
) -> str:
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


def _get_bool(
    table: dict[str, Any], key: str, ctx: _Ctx, item: str | None, line: int | None, default: bool
) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        ctx.add(f"字段 {key} 应为 true 或 false", item=item, line=line)
        return default
    return value


def _get_int(
    table: dict[str, Any],
    key: str,
    ctx: _Ctx,
    item: str | None,
    line: int | None,
    low: int,
    high: int,
) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not _is_int(value) or not low <= value <= high:
        ctx.add(f"字段 {key} 应为 {low} 到 {high} 之间的整数", item=item, line=line)
        return None
    return cast(int, value)


def _get_number(
    table: dict[str, Any], key: str, ctx: _Ctx, item: str | None, line: int | None
) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if not _is_number(value):
        ctx.add(f"字段 {key} 应为数字", item=item, line=line)
        return None
    return float(value)


def _get_int_list(
    table: dict[str, Any], key: str, ctx: _Ctx, item: str | None, line: int | None
) -> tuple[int, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
        ctx.add(f"字段 {key} 应为非空的整数代码列表，如 [1, 2]", item=item, line=line)
        return None
    return tuple(cast(list[int], value))


def _get_table(
    table: dict[str, Any], key: str, ctx: _Ctx, item: str | None, line: int | None
) -> dict[str, Any]:
    value = table.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.add(f"{key} 应为表（[{key}]）", item=item, line=line)
        return {}
    return value


def _get_tables(
    table: dict[str, Any], key: str, ctx: _Ctx, item: str | None, line: int | None
) -> list[dict[str, Any]]:
    value = table.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ctx.add(f"{key} 应为表数组（[[{key}]]）", item=item, line=line)
        return []
    return value


def _get_id(
    table: dict[str, Any], ctx: _Ctx, what: str, line: int | None, item: str | None = None
) -> str:
    value = table.get("id")
    if value is None:
        ctx.add(f"{what}缺少 id", item=item, line=line)
        return ""
    if not isinstance(value, str) or not _ID_RE.match(value):
        ctx.add(
            f"{what}的 id {value!r} 无效：应以小写字母开头，只含小写字母、数字和下划线，最长 40",
            item=item,
            line=line,
        )
        return value if isinstance(value, str) else ""
    return value


# ---------------------------------------------------------------------------------------------
# Options and items


def _parse_options(raw: object, ctx: _Ctx, item: str, line: int | None) -> tuple[Option, ...]:
    if not isinstance(raw, list):
        ctx.add('options 应为选项列表，如 [{ code = 1, label = "是" }]', item=item, line=line)
        return ()
    options: list[Option] = []
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            ctx.add(
                f"第 {number} 个选项应为 {{ code = …, label = … }} 形式的表", item=item, line=line
            )
            continue
        code = entry.get("code")
        where = (
            ctx.lines.key_line(line, rf"\bcode\s*=\s*{re.escape(str(code))}\b")
            if _is_int(code)
            else line
        )
        _unknown_keys(entry, _OPTION_KEYS, ctx, item, where)
        if not _is_int(code):
            ctx.add(f"第 {number} 个选项缺少整数代码 code", item=item, line=where)
            continue
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip():
            ctx.add(f"选项 {code} 缺少文字 label", item=item, line=where)
            label = ""
        score = _get_number(entry, "score", ctx, item, where)
        dont_know = _get_bool(entry, "dont_know", ctx, item, where, False)
        refused = _get_bool(entry, "refused", ctx, item, where, False)
        exclusive = _get_bool(entry, "exclusive", ctx, item, where, False)
        if dont_know and refused:
            ctx.add(f"选项 {code} 不能同时是 dont_know 和 refused", item=item, line=where)
        options.append(
            Option(
                code=cast(int, code),
                label=label.strip(),
                score=score,
                dont_know=dont_know,
                refused=refused,
                exclusive=exclusive,
            )
        )
    return tuple(options)


def _check_option_set(options: tuple[Option, ...], ctx: _Ctx, item: str, line: int | None) -> None:
    """Checks that hold for any option list: unique codes, scores complete, none on don't-know."""

    occurrence: dict[int, int] = {}
    where: dict[int, int | None] = {}  # id(option) → its line (the nth line with its code)
    for opt in options:
        nth = occurrence.get(opt.code, 0)
        occurrence[opt.code] = nth + 1
        where[id(opt)] = ctx.lines.key_line(line, rf"\bcode\s*=\s*{opt.code}\b", nth)

    def at(opt: Option) -> int | None:
        return where[id(opt)]

    seen: dict[int, Option] = {}
    for opt in options:
        if opt.code in seen:
            ctx.add(
                f"选项代码 {opt.code} 重复（'{seen[opt.code].label}' 与 '{opt.label}'），"
                "每个选项需要不同的代码",
                item=item,
                line=at(opt),
            )
        else:
            seen[opt.code] = opt
    for opt in options:
        if not opt.substantive and opt.score is not None:
            ctx.add(
                f"选项 {opt.code} '{opt.label}' 是说不清/拒答，不应有分值 score"
                "（它的处理由指标的 dk_policy 决定）",
                item=item,
                line=at(opt),
            )
    substantive = [o for o in options if o.substantive]
    if any(o.score is not None for o in substantive):
        for opt in substantive:
            if opt.score is None:
                ctx.add(
                    f"选项 {opt.code} '{opt.label}' 缺少分值 score（本题其他选项有分值，"
                    "请给每个实质性选项一个分值）",
                    item=item,
                    line=at(opt),
                )


def _check_options_for_type(
    item_type: ItemType, options: tuple[Option, ...], ctx: _Ctx, item: str, line: int | None
) -> None:
    """Checks that depend on the item type (text: none; 0–10: only don't-know codes; else ≥ 2)."""
    if item_type == "text":
        if options:
            ctx.add("文本题（text）不能有选项", item=item, line=line)
        return
    if item_type == "rating_0_10":
        for opt in options:
            if opt.substantive or RATING_MIN <= opt.code <= RATING_MAX:
                ctx.add(
                    f"选项 {opt.code} '{opt.label}'：0–10 评分题只能另设说不清/拒答选项"
                    "（dont_know/refused），且代码不能在 0–10 之间（如 98、99）",
                    item=item,
                    line=ctx.lines.key_line(line, rf"\bcode\s*=\s*{opt.code}\b"),
                )
    elif sum(1 for o in options if o.substantive) < 2:
        ctx.add(f"{_TYPE_NAMES[item_type]}至少需要 2 个实质性选项", item=item, line=line)


_TYPE_NAMES: dict[str, str] = {
    "single": "单选题",
    "rating_0_10": "0–10 评分题",
    "multiple": "多选题",
    "text": "文本题",
}


@dataclass
class _RawItem:
    """An item being built: the model item plus where it came from, for cross-checks."""

    item: Item
    line: int | None
    position: int  # 0 = screening, 1.. = page number; conditions may read lower positions only
    template: bool = False


def _parse_condition(
    raw: object, ctx: _Ctx, item: str, line: int | None, depth: int = 0
) -> Condition | None:
    example = '如 { item = "q1", in = [1, 2] }'
    if depth > _MAX_CONDITION_DEPTH:
        ctx.add("条件嵌套过深", item=item, line=line)
        return None
    if not isinstance(raw, dict):
        ctx.add(f"条件应为表，{example}", item=item, line=line)
        return None
    keys = set(raw)
    if "item" in keys:
        target = raw["item"]
        if not isinstance(target, str) or not target:
            ctx.add(f"条件的 item 应为题目 id，{example}", item=item, line=line)
            return None
        extra = keys - {"item", "in", "answered"}
        if extra or len(keys & {"in", "answered"}) != 1:
            ctx.add(
                f'条件 {{ item = "{target}" }} 需要且只能有 in 或 answered 之一，{example}',
                item=item,
                line=line,
            )
            return None
        if "in" in raw:
            codes = _get_int_list(raw, "in", ctx, item, line)
            return ItemIn(target, codes) if codes is not None else None
        answered = raw["answered"]
        if not isinstance(answered, bool):
            ctx.add("条件的 answered 应为 true 或 false", item=item, line=line)
            return None
        return Answered(target, answered)
    if keys in ({"all"}, {"any"}):
        key = next(iter(keys))
        parts = raw[key]
        if not isinstance(parts, list) or not parts:
            ctx.add(f"条件 {key} 应为非空的条件列表", item=item, line=line)
            return None
        parsed = [_parse_condition(p, ctx, item, line, depth + 1) for p in parts]
        if any(p is None for p in parsed):
            return None
        conds = tuple(cast(list[Condition], parsed))
        return AllOf(conds) if key == "all" else AnyOf(conds)
    if keys == {"not"}:
        inner = _parse_condition(raw["not"], ctx, item, line, depth + 1)
        return Not(inner) if inner is not None else None
    ctx.add(
        f"无法识别的条件（字段 {', '.join(sorted(map(str, keys))) or '空'}）；"
        "可用 item+in、item+answered、all、any、not",
        item=item,
        line=line,
    )
    return None


def _parse_item(
    raw: dict[str, Any],
    ctx: _Ctx,
    section: str,
    nth_with_id: dict[str, int],
    scales: dict[str, tuple[Option, ...]],
    *,
    screening: bool,
) -> tuple[Item, int | None, bool] | None:
    """One item table → (Item without department expansion, line, is_template)."""
    ident = raw.get("id") if isinstance(raw.get("id"), str) else None
    line: int | None = None
    if ident is not None:
        nth = nth_with_id.get(ident, 0)
        nth_with_id[ident] = nth + 1
        line = ctx.lines.id_line(section, ident, nth)
    item_id = _get_id(raw, ctx, "题目", line)
    label = item_id or None
    _unknown_keys(raw, _SCREENING_ITEM_KEYS if screening else _ITEM_KEYS, ctx, label, line)
    type_raw = raw.get("type", "single")
    if type_raw not in ITEM_TYPES:
        ctx.add(f"未知题型 {type_raw!r}；可用题型: {', '.join(ITEM_TYPES)}", item=label, line=line)
        return None
    item_type = cast(ItemType, type_raw)
    if screening and item_type != "single":
        ctx.add('筛选题必须是单选题（type = "single"）', item=label, line=line)
    text = _get_str(raw, "text", ctx, label, line, required=True)
    if "options" in raw and "scale" in raw:
        ctx.add("options 与 scale 只能二选一", item=label, line=line)
    options: tuple[Option, ...] = ()
    if "scale" in raw:
        scale = raw["scale"]
        if not isinstance(scale, str) or scale not in scales:
            known = ", ".join(sorted(scales)) or "无"
            ctx.add(f"未定义的量表 scale = {scale!r}；已定义: {known}", item=label, line=line)
        else:
            options = scales[scale]
    elif "options" in raw:
        options = _parse_options(raw["options"], ctx, item_id, line)
        _check_option_set(options, ctx, item_id, line)
    elif item_type in ("single", "multiple"):
        ctx.add(f"{_TYPE_NAMES[item_type]}缺少选项 options（或 scale）", item=label, line=line)
    _check_options_for_type(item_type, options, ctx, item_id, line)

    max_length = _get_int(raw, "max_length", ctx, label, line, 1, MAX_TEXT_MAX_LENGTH)
    min_choices = _get_int(raw, "min_choices", ctx, label, line, 1, 1000)
    max_choices = _get_int(raw, "max_choices", ctx, label, line, 1, 1000)
    if item_type != "text" and max_length is not None:
        ctx.add("只有文本题可以设置 max_length", item=label, line=line)
    if item_type != "multiple" and (min_choices is not None or max_choices is not None):
        ctx.add("只有多选题可以设置 min_choices/max_choices", item=label, line=line)
    n_subst = sum(1 for o in options if o.substantive)
    if min_choices is not None and max_choices is not None and min_choices > max_choices:
        ctx.add("min_choices 不能大于 max_choices", item=label, line=line)
    if item_type == "multiple" and max_choices is not None and max_choices > n_subst:
        ctx.add(f"max_choices = {max_choices} 超过了实质性选项数 {n_subst}", item=label, line=line)
    if item_type == "text" and max_length is None:
        max_length = DEFAULT_TEXT_MAX_LENGTH

    condition: Condition | None = None
    if not screening:
        show = _parse_condition(raw["show_if"], ctx, item_id, line) if "show_if" in raw else None
        skip = _parse_condition(raw["skip_if"], ctx, item_id, line) if "skip_if" in raw else None
        if show is not None and skip is not None:
            condition = AllOf((show, Not(skip)))
        elif skip is not None:
            condition = Not(skip)
        else:
            condition = show
    weighting = raw.get("weighting")
    if weighting is not None and (
        not isinstance(weighting, str) or not _VARIABLE_RE.match(weighting)
    ):
        ctx.add(
            f'weighting = {weighting!r} 无效：应为加权变量名，如 "sex"、"age_group"',
            item=label,
            line=line,
        )
        weighting = None
    template = False if screening else _get_bool(raw, "per_department", ctx, label, line, False)
    if template and DEPARTMENT_PLACEHOLDER not in text:
        ctx.add(
            f"按部门生成的题目（per_department = true）的 text 必须包含 {DEPARTMENT_PLACEHOLDER}",
            item=label,
            line=line,
        )
    item = Item(
        id=item_id,
        type=item_type,
        text=text,
        options=options,
        required=_get_bool(raw, "required", ctx, label, line, True),
        condition=condition,
        note=_get_str(raw, "note", ctx, label, line, required=False),
        max_length=max_length,
        min_choices=min_choices,
        max_choices=max_choices,
        weighting=weighting,
    )
    return item, line, template


# ---------------------------------------------------------------------------------------------
# Sections


def _parse_scales(data: dict[str, Any], ctx: _Ctx) -> dict[str, tuple[Option, ...]]:
    scales: dict[str, tuple[Option, ...]] = {}
    for name, table in _get_table(data, "scales", ctx, None, ctx.lines.header("scales")).items():
        line = ctx.lines.header(f"scales.{name}")
        label = f"scale:{name}"
        if not isinstance(table, dict):
            ctx.add("量表应为表，如 [scales.agree] options = [...]", item=label, line=line)
            continue
        _unknown_keys(table, frozenset({"options"}), ctx, label, line)
        scales[name] = _parse_options(table.get("options", []), ctx, label, line)
        _check_option_set(scales[name], ctx, label, line)
    return scales


def _parse_departments(
    data: dict[str, Any], ctx: _Ctx, override: Sequence[tuple[str, str]] | None
) -> tuple[Department, ...]:
    line = ctx.lines.header("departments")
    table = _get_table(data, "departments", ctx, "departments", line)
    _unknown_keys(table, frozenset({"default"}), ctx, "departments", line)
    entries: list[tuple[object, object, int | None]] = []
    if override is not None:
        if isinstance(override, str | bytes) or not isinstance(override, Sequence):
            ctx.add("部门列表应为 [(代码, 名称), ...]", item="departments")
            return ()
        for pair in override:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                ctx.add(f"部门 {pair!r} 应为 (代码, 名称)", item="departments")
                continue
            entries.append((pair[0], pair[1], None))
        if not entries:
            ctx.add("部门列表不能为空", item="departments")
    else:
        for entry in _get_tables(table, "default", ctx, "departments", line):
            code = entry.get("code")
            where = ctx.lines.key_line(line, rf"\bcode\s*=\s*[\"']{re.escape(str(code))}[\"']")
            _unknown_keys(entry, frozenset({"code", "name"}), ctx, "departments", where)
            entries.append((code, entry.get("name"), where))
    departments: list[Department] = []
    seen: set[str] = set()
    for code, name, where in entries:
        if not isinstance(code, str) or not _DEPT_CODE_RE.match(code):
            ctx.add(
                f"部门代码 {code!r} 无效：应为字母、数字、下划线或连字符，最长 32",
                item="departments",
                line=where,
            )
            continue
        if not isinstance(name, str) or not name.strip():
            ctx.add(f"部门 {code} 缺少名称 name", item="departments", line=where)
            continue
        if code in seen:
            ctx.add(f"部门代码 {code} 重复", item="departments", line=where)
            continue
        seen.add(code)
        departments.append(Department(code, name.strip()))
    return tuple(departments)


def _parse_screening(
    data: dict[str, Any],
    ctx: _Ctx,
    scales: dict[str, tuple[Option, ...]],
    raw_items: list[_RawItem],
) -> Screening:
    line = ctx.lines.header("screening")
    table = _get_table(data, "screening", ctx, "screening", line)
    _unknown_keys(table, frozenset({"on_fail", "messages", "items"}), ctx, "screening", line)
    default_action = table.get("on_fail", "end")
    if default_action not in SCREENING_ACTIONS:
        ctx.add(
            f"on_fail = {default_action!r} 无效；可用: {', '.join(SCREENING_ACTIONS)}",
            item="screening",
            line=line,
        )
        default_action = "end"
    messages_line = ctx.lines.header("screening.messages")
    messages_raw = _get_table(table, "messages", ctx, "screening", messages_line)
    _unknown_keys(messages_raw, frozenset(SCREENING_ACTIONS), ctx, "screening", messages_line)
    messages: list[tuple[ScreeningAction, str]] = []
    for action in SCREENING_ACTIONS:
        if action in messages_raw:
            text = _get_str(messages_raw, action, ctx, "screening", messages_line, required=True)
            messages.append((action, text))
    questions: list[ScreeningQuestion] = []
    nth: dict[str, int] = {}
    for raw in _get_tables(table, "items", ctx, "screening", line):
        parsed = _parse_item(raw, ctx, "screening.items", nth, scales, screening=True)
        if parsed is None:
            continue
        item, item_line, _ = parsed
        eligible = _get_int_list(raw, "eligible", ctx, item.id, item_line)
        if eligible is None:
            ctx.add("筛选题缺少 eligible（符合条件的选项代码列表）", item=item.id, line=item_line)
            eligible = ()
        for code in eligible:
            if item.option(code) is None:
                ctx.add(f"eligible 中的代码 {code} 不是本题的选项", item=item.id, line=item_line)
        action = raw.get("on_fail", default_action)
        if action not in SCREENING_ACTIONS:
            ctx.add(
                f"on_fail = {action!r} 无效；可用: {', '.join(SCREENING_ACTIONS)}",
                item=item.id,
                line=item_line,
            )
            action = default_action
        questions.append(ScreeningQuestion(item, eligible, cast(ScreeningAction, action)))
        raw_items.append(_RawItem(item, item_line, 0))
        if cast(str, action) not in dict(messages):
            ctx.add(
                f"未在 [screening.messages] 中给出 {action} 时的说明文字",
                item=item.id,
                line=item_line,
            )
    return Screening(tuple(questions), tuple(messages))


def _parse_unit(data: dict[str, Any], ctx: _Ctx) -> UnitIdentification:
    line = ctx.lines.header("unit")
    table = _get_table(data, "unit", ctx, "unit", line)
    _unknown_keys(table, frozenset({"levels"}), ctx, "unit", line)
    levels: list[AreaPrompt] = []
    nth: dict[str, int] = {}
    for raw in _get_tables(table, "levels", ctx, "unit", ctx.lines.header("unit.levels")):
        ident = raw.get("id") if isinstance(raw.get("id"), str) else None
        where = None
        if ident is not None:
            where = ctx.lines.id_line("unit.levels", ident, nth.get(ident, 0))
            nth[ident] = nth.get(ident, 0) + 1
        level_id = _get_id(raw, ctx, "地区层级", where)
        _unknown_keys(raw, frozenset({"id", "level", "prompt", "required"}), ctx, level_id, where)
        level = raw.get("level")
        if level not in AREA_LEVELS:
            ctx.add(
                f"level = {level!r} 无效；可用: {', '.join(AREA_LEVELS)}", item=level_id, line=where
            )
            continue
        prompt = _get_str(raw, "prompt", ctx, level_id, where, required=True)
        required = _get_bool(raw, "required", ctx, level_id, where, True)
        levels.append(AreaPrompt(level_id, cast(AreaLevel, level), prompt, required))
    found = [lv.level for lv in levels]
    if found and found != sorted(found, key=AREA_LEVELS.index):
        ctx.add("地区识别应先问街道（street）再问社区（community）", item="unit", line=line)
    if len(set(found)) != len(found):
        ctx.add("地区识别的每个层级只能出现一次", item="unit", line=line)
    return UnitIdentification(tuple(levels))


def _parse_pages(
    data: dict[str, Any],
    ctx: _Ctx,
    scales: dict[str, tuple[Option, ...]],
    departments: tuple[Department, ...],
    raw_items: list[_RawItem],
    templates: dict[str, tuple[str, ...]],
) -> tuple[Page, ...]:
    pages: list[Page] = []
    item_nth: dict[str, int] = {}
    page_nth: dict[str, int] = {}
    tables = _get_tables(data, "pages", ctx, None, ctx.lines.header("pages"))
    if not tables:
        ctx.add("问卷没有任何页面：请至少添加一个 [[pages]] 和其中的 [[pages.items]]")
    for position, raw in enumerate(tables, start=1):
        ident = raw.get("id") if isinstance(raw.get("id"), str) else None
        line = ctx.lines.header("pages", position - 1)
        if ident is not None:
            line = ctx.lines.id_line("pages", ident, page_nth.get(ident, 0)) or line
            page_nth[ident] = page_nth.get(ident, 0) + 1
        page_id = _get_id(raw, ctx, "页面", line)
        if page_id in (SCREENING_PAGE, UNIT_PAGE):
            ctx.add(
                f"页面 id '{page_id}' 是保留字（筛选页和居住地页），请换一个",
                item=page_id,
                line=line,
            )
        _unknown_keys(raw, frozenset({"id", "title", "items"}), ctx, page_id or None, line)
        title = _get_str(raw, "title", ctx, page_id or None, line, required=False)
        items: list[Item] = []
        item_tables = _get_tables(raw, "items", ctx, page_id or None, line)
        if not item_tables:
            ctx.add("页面没有题目", item=page_id or None, line=line)
        for item_raw in item_tables:
            parsed = _parse_item(item_raw, ctx, "pages.items", item_nth, scales, screening=False)
            if parsed is None:
                continue
            item, item_line, template = parsed
            if not template:
                items.append(item)
                raw_items.append(_RawItem(item, item_line, position))
                continue
            if not departments:
                ctx.add(
                    "按部门生成的题目需要部门列表：请在 [departments] 中给出 default",
                    item=item.id,
                    line=item_line,
                )
            made = [
                replace(
                    item,
                    id=f"{item.id}_{dept.code}",
                    text=item.text.replace(DEPARTMENT_PLACEHOLDER, dept.name),
                    department=dept.code,
                    template=item.id,
                )
                for dept in departments
            ]
            templates[item.id] = tuple(m.id for m in made)
            items.extend(made)
            raw_items.extend(_RawItem(m, item_line, position, template=True) for m in made)
        pages.append(Page(page_id, title, tuple(items)))
    seen: set[str] = set()
    for page in pages:
        if page.id and page.id in seen:
            ctx.add(
                f"页面 id '{page.id}' 重复",
                item=page.id,
                line=ctx.lines.id_line("pages", page.id, 1),
            )
        seen.add(page.id)
    return tuple(pages)


# ---------------------------------------------------------------------------------------------
# Cross-checks


def _check_ids(raw_items: list[_RawItem], unit: UnitIdentification, ctx: _Ctx) -> None:
    first: dict[str, _RawItem] = {}
    for raw in raw_items:
        ident = raw.item.id
        if not ident:
            continue
        if ident in first:
            ctx.add(
                f"题目 id '{ident}' 重复（第一次出现在第 {first[ident].line or '?'} 行），"
                "每道题需要唯一的 id",
                item=ident,
                line=raw.line,
            )
        else:
            first[ident] = raw
    for level in unit.levels:
        if level.id in first:
            ctx.add(
                f"地区层级 id '{level.id}' 与题目 id 重复", item=level.id, line=first[level.id].line
            )


def _valid_codes(item: Item) -> set[int]:
    codes = set(item.codes)
    if item.type == "rating_0_10":
        codes |= set(range(RATING_MIN, RATING_MAX + 1))
    return codes


def _strongly_connected(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Cyclic components (size > 1, or a self-loop), each in node order; O(n²) is fine here."""
    reach: dict[str, set[str]] = {}
    for node in nodes:
        seen: set[str] = set()
        stack = list(edges.get(node, []))
        while stack:
            nxt = stack.pop()
            if nxt not in seen:
                seen.add(nxt)
                stack.extend(edges.get(nxt, []))
        reach[node] = seen
    done: set[str] = set()
    components: list[list[str]] = []
    for node in nodes:
        if node in done or node not in reach[node]:
            continue
        comp = [n for n in nodes if n in reach[node] and node in reach[n]]
        done.update(comp)
        components.append(comp)
    return components


def _cycle_path(start: str, edges: dict[str, list[str]], component: set[str]) -> list[str]:
    """A shortest path start → … → start inside the component."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier: list[str] = []
        for node in frontier:
            for nxt in edges.get(node, []):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if nxt in component and nxt not in parent:
                    parent[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return [start, start]


def _check_conditions(raw_items: list[_RawItem], ctx: _Ctx) -> None:
    by_id: dict[str, _RawItem] = {}
    for raw in raw_items:
        by_id.setdefault(raw.item.id, raw)
    edges: dict[str, list[str]] = {}
    order: list[str] = []
    reported: set[tuple[str, str]] = set()
    for raw in raw_items:
        item = raw.item
        if item.condition is None or item.id in edges:
            continue
        order.append(item.id)
        edges[item.id] = []
        label = item.template or item.id
        for ref in referenced_items(item.condition):
            if ref not in by_id:
                if (label, ref) not in reported:
                    reported.add((label, ref))
                    ctx.add(
                        f"条件引用了不存在的题目 '{ref}'；请检查 show_if/skip_if 中的 item",
                        item=label,
                        line=raw.line,
                    )
                continue
            edges[item.id].append(ref)
        for leaf in leaves(item.condition):
            target = by_id.get(leaf.item)
            if target is None or not isinstance(leaf, ItemIn):
                continue
            if target.item.type == "text":
                ctx.add(
                    f"文本题 '{leaf.item}' 不能用 in 条件，请改用 answered",
                    item=label,
                    line=raw.line,
                )
                continue
            for code in leaf.codes:
                if (
                    code not in _valid_codes(target.item)
                    and (label, f"{leaf.item}:{code}") not in reported
                ):
                    reported.add((label, f"{leaf.item}:{code}"))
                    ctx.add(
                        f"条件中的代码 {code} 不是题目 '{leaf.item}' 的选项",
                        item=label,
                        line=raw.line,
                    )
    cyclic: set[tuple[str, str]] = set()
    for component in _strongly_connected(order, edges):
        members = set(component)
        path = _cycle_path(component[0], edges, members)
        cyclic.update((a, b) for a in component for b in edges.get(a, []) if b in members)
        first = by_id[component[0]]
        ctx.add(
            f"条件形成循环: {' → '.join(path)}；条件只能依赖前面页面的题目",
            item=first.item.template or first.item.id,
            line=first.line,
        )
    for ident in order:
        raw = by_id[ident]
        for ref in edges[ident]:
            if (ident, ref) in cyclic:
                continue
            if by_id[ref].position >= raw.position:
                label = raw.item.template or ident
                if (label, f"order:{ref}") in reported:
                    continue
                reported.add((label, f"order:{ref}"))
                ctx.add(
                    f"条件引用的题目 '{ref}' 在本题所在页面或之后；条件只能依赖前面页面的题目"
                    "（无 JavaScript 的页面无法在同一页内显示/隐藏题目）",
                    item=label,
                    line=raw.line,
                )


def _parse_indices(
    data: dict[str, Any],
    ctx: _Ctx,
    raw_items: list[_RawItem],
    templates: dict[str, tuple[str, ...]],
    departments: tuple[Department, ...],
) -> tuple[IndexDefinition, ...]:
    by_id = {raw.item.id: raw.item for raw in raw_items}
    tables = _get_tables(data, "indices", ctx, None, ctx.lines.header("indices"))
    declared: dict[str, dict[str, Any]] = {}
    for raw in tables:
        if isinstance(raw.get("id"), str):
            declared.setdefault(raw["id"], raw)
    indices: list[IndexDefinition] = []
    nth: dict[str, int] = {}
    for raw in tables:
        ident = raw.get("id") if isinstance(raw.get("id"), str) else None
        line = None
        if ident is not None:
            line = ctx.lines.id_line("indices", ident, nth.get(ident, 0))
            nth[ident] = nth.get(ident, 0) + 1
        index_id = _get_id(raw, ctx, "指标", line)
        label = f"index:{index_id}"
        _unknown_keys(raw, _INDEX_KEYS, ctx, label, line)
        if ident is not None and nth[ident] > 1:
            ctx.add(f"指标 id '{ident}' 重复", item=label, line=line)
        name = _get_str(raw, "name", ctx, label, line, required=True)
        kind_raw = raw.get("kind")
        if kind_raw not in INDEX_KINDS:
            ctx.add(
                f"kind = {kind_raw!r} 无效；可用: {', '.join(INDEX_KINDS)}", item=label, line=line
            )
            continue
        kind = cast(IndexKind, kind_raw)
        dk_policy = raw.get("dk_policy", "exclude")
        if dk_policy not in DK_POLICIES:
            ctx.add(
                f"dk_policy = {dk_policy!r} 无效；可用: {', '.join(DK_POLICIES)}",
                item=label,
                line=line,
            )
            dk_policy = "exclude"
        item_line = ctx.lines.key_line(line, r"^\s*(item|of)\s*=")
        items: tuple[str, ...] = ()
        depts: tuple[str, ...] = ()
        positive: tuple[int, ...] = ()
        component: str | None = None
        weights: list[tuple[str, float]] = []
        default_weight = 1.0
        if kind in ("top_box_share", "mean_score"):
            for key in ("of", "weights", "default_weight"):
                if key in raw:
                    ctx.add(f"{kind} 指标不使用 {key}（它属于 composite）", item=label, line=line)
            target = raw.get("item")
            scored: list[Item] = []
            if not isinstance(target, str):
                ctx.add(f"{kind} 指标缺少 item（被计分的题目 id）", item=label, line=line)
            elif target in templates:
                items = templates[target]
                scored = [by_id[i] for i in items]
                depts = tuple(cast(str, by_id[i].department) for i in items)
            elif target in by_id:
                items = (target,)
                scored = [by_id[target]]
            else:
                ctx.add(
                    f"指标引用了不存在的题目 '{target}'；item 应为某道题或按部门题模板的 id",
                    item=label,
                    line=item_line,
                )
            first = scored[0] if scored else None
            if first is not None and first.type not in ("single", "rating_0_10"):
                ctx.add(
                    f"指标只能基于单选题或 0–10 评分题，'{first.template or first.id}' 是"
                    f"{_TYPE_NAMES[first.type]}",
                    item=label,
                    line=item_line,
                )
                first = None
            if kind == "top_box_share":
                positive = _get_int_list(raw, "positive", ctx, label, line) or ()
                if "positive" not in raw:
                    ctx.add(
                        "top_box_share 指标缺少 positive（计为肯定的选项代码）",
                        item=label,
                        line=line,
                    )
                if first is not None:
                    subst = {o.code for o in first.options if o.substantive}
                    if first.type == "rating_0_10":
                        subst = set(range(RATING_MIN, RATING_MAX + 1))
                    for code in positive:
                        if code not in subst:
                            ctx.add(
                                f"positive 中的代码 {code} 不是题目 '{first.template or first.id}' "
                                "的实质性选项",
                                item=label,
                                line=line,
                            )
            else:
                if "positive" in raw:
                    ctx.add(
                        "mean_score 指标不使用 positive（按选项分值计算）", item=label, line=line
                    )
                if first is not None and first.type == "single" and not first.scored:
                    ctx.add(
                        f"mean_score 指标要求题目 '{first.template or first.id}' "
                        "的实质性选项都有分值 score",
                        item=label,
                        line=item_line,
                    )
        else:
            for key in ("item", "positive"):
                if key in raw:
                    ctx.add(
                        f"composite 指标不使用 {key}（用 of 指向分部门指标）", item=label, line=line
                    )
            of = raw.get("of")
            if not isinstance(of, str):
                ctx.add("composite 指标缺少 of（分部门指标的 id）", item=label, line=line)
            elif of not in declared:
                ctx.add(f"composite 引用了不存在的指标 '{of}'", item=label, line=item_line)
            elif (
                declared[of].get("kind") == "composite"
                or _str_or_none(declared[of].get("item")) not in templates
            ):
                ctx.add(
                    f"composite 的 of = '{of}' 应指向基于按部门题模板的 "
                    "top_box_share 或 mean_score 指标",
                    item=label,
                    line=item_line,
                )
            else:
                component = of
                items = templates[cast(str, declared[of]["item"])]
                depts = tuple(cast(str, by_id[i].department) for i in items)
            weight_line = ctx.lines.key_line(line, r"^\s*weights\s*=")
            for dept_code, value in _get_table(raw, "weights", ctx, label, weight_line).items():
                if not _is_number(value) or value < 0:
                    ctx.add(f"部门 {dept_code} 的权重应为非负数", item=label, line=weight_line)
                    continue
                weights.append((dept_code, float(value)))
            dw = _get_number(raw, "default_weight", ctx, label, line)
            if dw is not None:
                if dw < 0:
                    ctx.add("default_weight 应为非负数", item=label, line=line)
                else:
                    default_weight = dw
            if depts and sum(dict(weights).get(d, default_weight) for d in depts) <= 0:
                ctx.add("各部门权重之和必须大于 0", item=label, line=weight_line)
        unit_raw = raw.get(
            "unit_level", "department" if depts and kind != "composite" else "district"
        )
        if unit_raw not in UNIT_LEVELS:
            ctx.add(
                f"unit_level = {unit_raw!r} 无效；可用: {', '.join(UNIT_LEVELS)}",
                item=label,
                line=line,
            )
            unit_raw = "district"
        target_value = _get_number(raw, "target", ctx, label, line)
        pass_score = _get_number(raw, "pass_score", ctx, label, line)
        is_share = kind == "top_box_share" or (
            kind == "composite"
            and component is not None
            and declared[component].get("kind") == "top_box_share"
        )
        for key, value in (("target", target_value), ("pass_score", pass_score)):
            if value is None:
                continue
            if is_share and not 0 < value <= 1:
                ctx.add(
                    f"{key} = {value:g} 超出范围：比例指标的 {key} 应为 0–1 之间的比例"
                    "（0.90 表示 90%）",
                    item=label,
                    line=line,
                )
            elif value < 0:
                ctx.add(f"{key} 不能为负数", item=label, line=line)
        indices.append(
            IndexDefinition(
                id=index_id,
                name=name,
                kind=kind,
                items=items,
                positive=positive,
                dk_policy=cast(DkPolicy, dk_policy),
                unit_level=cast(UnitLevel, unit_raw),
                target=target_value,
                pass_score=pass_score,
                component=component,
                weights=tuple(weights),
                default_weight=default_weight,
                departments=depts,
                primary=_get_bool(raw, "primary", ctx, label, line, False),
            )
        )
    return tuple(indices)


# ---------------------------------------------------------------------------------------------
# Entry points


def _hash(instrument: Instrument) -> str:
    canonical = json.dumps(
        instrument.canonical(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(HASH_PREFIX + canonical.encode("utf-8")).hexdigest()


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    # File order first (problems without a line after those with one), discovery order within.
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _toml_problem(name: str, exc: tomllib.TOMLDecodeError, text: str) -> Problem:
    message = str(exc)
    match = _TOML_LINE_RE.search(message)
    line = int(match.group(1)) if match else max(len(text.splitlines()), 1)
    return Problem(name, line, None, f"TOML 语法错误: {message}")


def build_instrument(
    text: str, name: str, *, departments: Sequence[tuple[str, str]] | None = None
) -> Instrument:
    """Parse and validate instrument ``text`` (``name`` is the file name used in problems).

    ``departments`` replaces the file's default department list. Raises ``InstrumentError``
    with every problem found.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InstrumentError([_toml_problem(name, exc, text)]) from None
    except RecursionError:
        raise InstrumentError([Problem(name, None, None, "TOML 嵌套过深")]) from None
    ctx = _Ctx(name, _Lines(text))
    id_line = ctx.lines.top_key("id")
    for key in data:
        if key not in _TOP_KEYS:
            where = ctx.lines.top_key(key) or ctx.lines.header(key)
            _unknown_keys({key: None}, _TOP_KEYS, ctx, None, where)
    instrument_id = _get_id(data, ctx, "问卷", id_line or 1)
    version_line = ctx.lines.top_key("version") or 1
    version = data.get("version")
    if version is None:
        ctx.add("缺少 version（问卷版本号，正整数，如 version = 1）", line=version_line)
        version = 0
    elif not _is_int(version) or version < 1:
        ctx.add(f"version = {version!r} 无效：应为正整数，如 version = 1", line=version_line)
        version = 0
    title = _get_str(data, "title", ctx, None, ctx.lines.top_key("title") or 1, required=True)
    intro = _get_str(data, "intro", ctx, None, ctx.lines.top_key("intro"), required=False)
    outro = _get_str(data, "outro", ctx, None, ctx.lines.top_key("outro"), required=False)
    modes_raw = data.get("modes", list(MODES))
    if not isinstance(modes_raw, list) or not modes_raw or any(m not in MODES for m in modes_raw):
        ctx.add(f"modes 应为 {list(MODES)} 的非空子集", line=ctx.lines.top_key("modes"))
        modes_raw = list(MODES)

    scales = _parse_scales(data, ctx)
    departments_model = _parse_departments(data, ctx, departments)
    raw_items: list[_RawItem] = []
    templates: dict[str, tuple[str, ...]] = {}
    screening = _parse_screening(data, ctx, scales, raw_items)
    unit = _parse_unit(data, ctx)
    pages = _parse_pages(data, ctx, scales, departments_model, raw_items, templates)
    _check_ids(raw_items, unit, ctx)
    _check_conditions(raw_items, ctx)
    indices = _parse_indices(data, ctx, raw_items, templates, departments_model)
    if ctx.problems:
        raise InstrumentError(_sorted(ctx.problems))
    instrument = Instrument(
        id=instrument_id,
        version=cast(int, version),
        title=title,
        intro=intro,
        outro=outro,
        modes=tuple(cast(list[Mode], list(dict.fromkeys(modes_raw)))),
        screening=screening,
        unit=unit,
        pages=pages,
        indices=indices,
        departments=departments_model,
        source_name=name,
        source_text=text,
    )
    return replace(instrument, content_hash=_hash(instrument))


@functools.lru_cache(maxsize=128)
def _build_cached(text: str, name: str, departments: tuple[tuple[str, str], ...]) -> Instrument:
    return build_instrument(text, name, departments=departments)


def build_with_departments(
    text: str, name: str, departments: Sequence[tuple[str, str]]
) -> Instrument:
    """``build_instrument`` with a department list, cached on (text, name, departments)."""
    try:
        key = tuple((code, dept_name) for code, dept_name in departments)
        hash(key)
    except (TypeError, ValueError):
        # Not a list of (code, name) pairs: let the validator describe what is wrong.
        return build_instrument(text, name, departments=departments)
    return _build_cached(text, name, key)


def load_instrument_text(text: str, name: str = "<text>") -> Instrument:
    """Load an instrument from TOML ``text`` (``name`` labels problems); raises InstrumentError."""
    return build_instrument(text, name)


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


def load_instrument(path: str | Path) -> Instrument:
    """Load an instrument file (UTF-8 TOML). Raises ``InstrumentError`` with every problem found."""
    text, problems = read_source(path)
    if problems:
        raise InstrumentError(problems)
    return build_instrument(text, str(path))


def check_files(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem in every file (empty when all load)."""
    problems: list[Problem] = []
    for path in paths:
        try:
            load_instrument(path)
        except InstrumentError as exc:
            problems.extend(exc.problems)
    return problems
