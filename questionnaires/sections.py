"""Stage 2 of loading an instrument: each table of the file checked on its own → model pieces.

Options, conditions and items, then the sections that hold them (scales, departments,
screening, unit identification, pages). Every broken rule is recorded in the ``FileCheck`` with
its line and checking goes on with a usable default; the items come back as ``RawItem``s (item,
line, page position) for the cross-checks of stage 3 (``questionnaires.references``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from questionnaires.conditions import AllOf, Answered, AnyOf, Condition, ItemIn, Not
from questionnaires.model import (
    AREA_LEVELS,
    ITEM_TYPES,
    RATING_MAX,
    RATING_MIN,
    SCREENING_ACTIONS,
    SCREENING_PAGE,
    UNIT_PAGE,
    AreaLevel,
    AreaPrompt,
    Department,
    Item,
    ItemType,
    Option,
    Page,
    Screening,
    ScreeningAction,
    ScreeningQuestion,
    UnitIdentification,
)
from questionnaires.schema import (
    DEFAULT_TEXT_MAX_LENGTH,
    DEPARTMENT_PLACEHOLDER,
    DEPT_CODE_RE,
    ITEM_KEYS,
    MAX_CONDITION_DEPTH,
    MAX_TEXT_MAX_LENGTH,
    OPTION_KEYS,
    SCREENING_ITEM_KEYS,
    TYPE_NAMES,
    VARIABLE_RE,
)
from questionnaires.toml_check import (
    FileCheck,
    get_bool,
    get_choice,
    get_id,
    get_int,
    get_int_list,
    get_number,
    get_str,
    get_table,
    get_tables,
    is_int,
    str_or_none,
    unknown_keys,
)

# ---------------------------------------------------------------------------------------------
# Options and items


def _parse_options(raw: object, ctx: FileCheck, item: str, line: int | None) -> tuple[Option, ...]:
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
            if is_int(code)
            else line
        )
        unknown_keys(entry, OPTION_KEYS, ctx, item, where)
        if not is_int(code):
            ctx.add(f"第 {number} 个选项缺少整数代码 code", item=item, line=where)
            continue
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip():
            ctx.add(f"选项 {code} 缺少文字 label", item=item, line=where)
            label = ""
        score = get_number(entry, "score", ctx, item, where)
        dont_know = get_bool(entry, "dont_know", ctx, item, where, False)
        refused = get_bool(entry, "refused", ctx, item, where, False)
        exclusive = get_bool(entry, "exclusive", ctx, item, where, False)
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


def _check_option_set(
    options: tuple[Option, ...], ctx: FileCheck, item: str, line: int | None
) -> None:
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
    item_type: ItemType, options: tuple[Option, ...], ctx: FileCheck, item: str, line: int | None
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
        ctx.add(f"{TYPE_NAMES[item_type]}至少需要 2 个实质性选项", item=item, line=line)


@dataclass
class RawItem:
    """An item being built: the model item plus where it came from, for cross-checks."""

    item: Item
    line: int | None
    position: int  # 0 = screening, 1.. = page number; conditions may read lower positions only
    template: bool = False


def _parse_condition(
    raw: object, ctx: FileCheck, item: str, line: int | None, depth: int = 0
) -> Condition | None:
    example = '如 { item = "q1", in = [1, 2] }'
    if depth > MAX_CONDITION_DEPTH:
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
            codes = get_int_list(raw, "in", ctx, item, line)
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
    ctx: FileCheck,
    section: str,
    nth_with_id: dict[str, int],
    scales: dict[str, tuple[Option, ...]],
    *,
    screening: bool,
) -> tuple[Item, int | None, bool] | None:
    """One item table → (Item without department expansion, line, is_template)."""
    line = ctx.lines.next_id_line(section, str_or_none(raw.get("id")), nth_with_id)
    item_id = get_id(raw, ctx, "题目", line)
    label = item_id or None
    unknown_keys(raw, SCREENING_ITEM_KEYS if screening else ITEM_KEYS, ctx, label, line)
    type_raw = raw.get("type", "single")
    if type_raw not in ITEM_TYPES:
        ctx.add(f"未知题型 {type_raw!r}；可用题型: {', '.join(ITEM_TYPES)}", item=label, line=line)
        return None
    item_type = cast(ItemType, type_raw)
    if screening and item_type != "single":
        ctx.add('筛选题必须是单选题（type = "single"）', item=label, line=line)
    text = get_str(raw, "text", ctx, label, line, required=True)
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
        ctx.add(f"{TYPE_NAMES[item_type]}缺少选项 options（或 scale）", item=label, line=line)
    _check_options_for_type(item_type, options, ctx, item_id, line)

    max_length = get_int(raw, "max_length", ctx, label, line, 1, MAX_TEXT_MAX_LENGTH)
    min_choices = get_int(raw, "min_choices", ctx, label, line, 1, 1000)
    max_choices = get_int(raw, "max_choices", ctx, label, line, 1, 1000)
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
        not isinstance(weighting, str) or not VARIABLE_RE.match(weighting)
    ):
        ctx.add(
            f'weighting = {weighting!r} 无效：应为加权变量名，如 "sex"、"age_group"',
            item=label,
            line=line,
        )
        weighting = None
    template = False if screening else get_bool(raw, "per_department", ctx, label, line, False)
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
        required=get_bool(raw, "required", ctx, label, line, True),
        condition=condition,
        note=get_str(raw, "note", ctx, label, line, required=False),
        max_length=max_length,
        min_choices=min_choices,
        max_choices=max_choices,
        weighting=weighting,
    )
    return item, line, template


# ---------------------------------------------------------------------------------------------
# Sections


def parse_scales(data: dict[str, Any], ctx: FileCheck) -> dict[str, tuple[Option, ...]]:
    """The ``[scales.<name>]`` option lists by name (items refer to them with ``scale``)."""
    scales: dict[str, tuple[Option, ...]] = {}
    for name, table in get_table(data, "scales", ctx, None, ctx.lines.header("scales")).items():
        line = ctx.lines.header(f"scales.{name}")
        label = f"scale:{name}"
        if not isinstance(table, dict):
            ctx.add("量表应为表，如 [scales.agree] options = [...]", item=label, line=line)
            continue
        unknown_keys(table, frozenset({"options"}), ctx, label, line)
        scales[name] = _parse_options(table.get("options", []), ctx, label, line)
        _check_option_set(scales[name], ctx, label, line)
    return scales


def parse_departments(
    data: dict[str, Any], ctx: FileCheck, override: Sequence[tuple[str, str]] | None
) -> tuple[Department, ...]:
    """The ``[departments] default`` list, or ``override`` ((code, name) pairs) when given."""
    line = ctx.lines.header("departments")
    table = get_table(data, "departments", ctx, "departments", line)
    unknown_keys(table, frozenset({"default"}), ctx, "departments", line)
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
        for entry in get_tables(table, "default", ctx, "departments", line):
            code = entry.get("code")
            where = ctx.lines.key_line(line, rf"\bcode\s*=\s*[\"']{re.escape(str(code))}[\"']")
            unknown_keys(entry, frozenset({"code", "name"}), ctx, "departments", where)
            entries.append((code, entry.get("name"), where))
    departments: list[Department] = []
    seen: set[str] = set()
    for code, name, where in entries:
        if not isinstance(code, str) or not DEPT_CODE_RE.match(code):
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


def parse_screening(
    data: dict[str, Any],
    ctx: FileCheck,
    scales: dict[str, tuple[Option, ...]],
    raw_items: list[RawItem],
) -> Screening:
    """The ``[screening]`` items with their eligible codes and actions; the items are appended
    to ``raw_items`` at position 0 (before every page)."""
    line = ctx.lines.header("screening")
    table = get_table(data, "screening", ctx, "screening", line)
    unknown_keys(table, frozenset({"on_fail", "messages", "items"}), ctx, "screening", line)
    default_action = get_choice(
        table, "on_fail", ctx, "screening", line, choices=SCREENING_ACTIONS, default="end"
    )
    messages_line = ctx.lines.header("screening.messages")
    messages_raw = get_table(table, "messages", ctx, "screening", messages_line)
    unknown_keys(messages_raw, frozenset(SCREENING_ACTIONS), ctx, "screening", messages_line)
    messages: list[tuple[ScreeningAction, str]] = []
    for action in SCREENING_ACTIONS:
        if action in messages_raw:
            text = get_str(messages_raw, action, ctx, "screening", messages_line, required=True)
            messages.append((action, text))
    questions: list[ScreeningQuestion] = []
    nth: dict[str, int] = {}
    for raw in get_tables(table, "items", ctx, "screening", line):
        parsed = _parse_item(raw, ctx, "screening.items", nth, scales, screening=True)
        if parsed is None:
            continue
        item, item_line, _ = parsed
        eligible = get_int_list(raw, "eligible", ctx, item.id, item_line)
        if eligible is None:
            ctx.add("筛选题缺少 eligible（符合条件的选项代码列表）", item=item.id, line=item_line)
            eligible = ()
        for code in eligible:
            if item.option(code) is None:
                ctx.add(f"eligible 中的代码 {code} 不是本题的选项", item=item.id, line=item_line)
        on_fail = get_choice(
            raw,
            "on_fail",
            ctx,
            item.id,
            item_line,
            choices=SCREENING_ACTIONS,
            default=default_action,
        )
        questions.append(ScreeningQuestion(item, eligible, cast(ScreeningAction, on_fail)))
        raw_items.append(RawItem(item, item_line, 0))
        if on_fail not in dict(messages):
            ctx.add(
                f"未在 [screening.messages] 中给出 {on_fail} 时的说明文字",
                item=item.id,
                line=item_line,
            )
    return Screening(tuple(questions), tuple(messages))


def parse_unit(data: dict[str, Any], ctx: FileCheck) -> UnitIdentification:
    """The ``[[unit.levels]]`` prompts (street, then community)."""
    line = ctx.lines.header("unit")
    table = get_table(data, "unit", ctx, "unit", line)
    unknown_keys(table, frozenset({"levels"}), ctx, "unit", line)
    levels: list[AreaPrompt] = []
    nth: dict[str, int] = {}
    for raw in get_tables(table, "levels", ctx, "unit", ctx.lines.header("unit.levels")):
        where = ctx.lines.next_id_line("unit.levels", str_or_none(raw.get("id")), nth)
        level_id = get_id(raw, ctx, "地区层级", where)
        unknown_keys(raw, frozenset({"id", "level", "prompt", "required"}), ctx, level_id, where)
        level = raw.get("level")
        if level not in AREA_LEVELS:
            ctx.add(
                f"level = {level!r} 无效；可用: {', '.join(AREA_LEVELS)}", item=level_id, line=where
            )
            continue
        prompt = get_str(raw, "prompt", ctx, level_id, where, required=True)
        required = get_bool(raw, "required", ctx, level_id, where, True)
        levels.append(AreaPrompt(level_id, cast(AreaLevel, level), prompt, required))
    found = [lv.level for lv in levels]
    if found and found != sorted(found, key=AREA_LEVELS.index):
        ctx.add("地区识别应先问街道（street）再问社区（community）", item="unit", line=line)
    if len(set(found)) != len(found):
        ctx.add("地区识别的每个层级只能出现一次", item="unit", line=line)
    return UnitIdentification(tuple(levels))


def parse_pages(
    data: dict[str, Any],
    ctx: FileCheck,
    scales: dict[str, tuple[Option, ...]],
    departments: tuple[Department, ...],
    raw_items: list[RawItem],
    templates: dict[str, tuple[str, ...]],
) -> tuple[Page, ...]:
    """The ``[[pages]]`` with their items, per-department templates made for ``departments``;
    the items are appended to ``raw_items`` (position = page number) and each template's item
    ids recorded in ``templates``."""
    pages: list[Page] = []
    item_nth: dict[str, int] = {}
    page_nth: dict[str, int] = {}
    tables = get_tables(data, "pages", ctx, None, ctx.lines.header("pages"))
    if not tables:
        ctx.add("问卷没有任何页面：请至少添加一个 [[pages]] 和其中的 [[pages.items]]")
    for position, raw in enumerate(tables, start=1):
        line = ctx.lines.next_id_line(
            "pages", str_or_none(raw.get("id")), page_nth
        ) or ctx.lines.header("pages", position - 1)
        page_id = get_id(raw, ctx, "页面", line)
        if page_id in (SCREENING_PAGE, UNIT_PAGE):
            ctx.add(
                f"页面 id '{page_id}' 是保留字（筛选页和居住地页），请换一个",
                item=page_id,
                line=line,
            )
        unknown_keys(raw, frozenset({"id", "title", "items"}), ctx, page_id or None, line)
        title = get_str(raw, "title", ctx, page_id or None, line, required=False)
        items: list[Item] = []
        item_tables = get_tables(raw, "items", ctx, page_id or None, line)
        if not item_tables:
            ctx.add("页面没有题目", item=page_id or None, line=line)
        for item_raw in item_tables:
            parsed = _parse_item(item_raw, ctx, "pages.items", item_nth, scales, screening=False)
            if parsed is None:
                continue
            item, item_line, template = parsed
            if not template:
                items.append(item)
                raw_items.append(RawItem(item, item_line, position))
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
            raw_items.extend(RawItem(m, item_line, position, template=True) for m in made)
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
