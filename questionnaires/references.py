"""Stage 3 of loading an instrument: what one table cannot check on its own.

Ids unique across screening, pages and unit levels; conditions that name existing items and
codes, read only earlier pages and form no cycle; index definitions checked against the items
they score. Problems are recorded in the ``FileCheck`` like those of stage 2
(``questionnaires.sections``).
"""

from __future__ import annotations

from typing import Any, cast

from questionnaires.conditions import ItemIn, leaves, referenced_items
from questionnaires.model import (
    DK_POLICIES,
    INDEX_KINDS,
    RATING_MAX,
    RATING_MIN,
    UNIT_LEVELS,
    Department,
    DkPolicy,
    IndexDefinition,
    IndexKind,
    Item,
    UnitIdentification,
    UnitLevel,
)
from questionnaires.schema import INDEX_KEYS, TYPE_NAMES
from questionnaires.sections import RawItem
from questionnaires.toml_check import (
    FileCheck,
    get_bool,
    get_choice,
    get_id,
    get_int_list,
    get_number,
    get_str,
    get_table,
    get_tables,
    is_number,
    str_or_none,
    unknown_keys,
)

# ---------------------------------------------------------------------------------------------
# Ids and conditions


def check_ids(raw_items: list[RawItem], unit: UnitIdentification, ctx: FileCheck) -> None:
    """Item ids unique across screening and pages, and no unit level id equal to one."""
    first: dict[str, RawItem] = {}
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


def check_conditions(raw_items: list[RawItem], ctx: FileCheck) -> None:
    """Conditions name existing items and their codes, read only earlier pages, form no cycle."""
    by_id: dict[str, RawItem] = {}
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


# ---------------------------------------------------------------------------------------------
# Index definitions


def parse_indices(
    data: dict[str, Any],
    ctx: FileCheck,
    raw_items: list[RawItem],
    templates: dict[str, tuple[str, ...]],
    departments: tuple[Department, ...],
) -> tuple[IndexDefinition, ...]:
    """The ``[[indices]]``, each checked against the items (or per-department templates) it
    scores and, for a composite, against the department index it combines."""
    by_id = {raw.item.id: raw.item for raw in raw_items}
    tables = get_tables(data, "indices", ctx, None, ctx.lines.header("indices"))
    declared: dict[str, dict[str, Any]] = {}
    for raw in tables:
        if isinstance(raw.get("id"), str):
            declared.setdefault(raw["id"], raw)
    indices: list[IndexDefinition] = []
    nth: dict[str, int] = {}
    for raw in tables:
        ident = str_or_none(raw.get("id"))
        line = ctx.lines.next_id_line("indices", ident, nth)
        index_id = get_id(raw, ctx, "指标", line)
        label = f"index:{index_id}"
        unknown_keys(raw, INDEX_KEYS, ctx, label, line)
        if ident is not None and nth[ident] > 1:
            ctx.add(f"指标 id '{ident}' 重复", item=label, line=line)
        name = get_str(raw, "name", ctx, label, line, required=True)
        kind_raw = raw.get("kind")
        if kind_raw not in INDEX_KINDS:
            ctx.add(
                f"kind = {kind_raw!r} 无效；可用: {', '.join(INDEX_KINDS)}", item=label, line=line
            )
            continue
        kind = cast(IndexKind, kind_raw)
        dk_policy = get_choice(
            raw, "dk_policy", ctx, label, line, choices=DK_POLICIES, default="exclude"
        )
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
                    f"{TYPE_NAMES[first.type]}",
                    item=label,
                    line=item_line,
                )
                first = None
            if kind == "top_box_share":
                positive = get_int_list(raw, "positive", ctx, label, line) or ()
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
                or str_or_none(declared[of].get("item")) not in templates
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
            for dept_code, value in get_table(raw, "weights", ctx, label, weight_line).items():
                if not is_number(value) or value < 0:
                    ctx.add(f"部门 {dept_code} 的权重应为非负数", item=label, line=weight_line)
                    continue
                weights.append((dept_code, float(value)))
            dw = get_number(raw, "default_weight", ctx, label, line)
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
        target_value = get_number(raw, "target", ctx, label, line)
        pass_score = get_number(raw, "pass_score", ctx, label, line)
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
                primary=get_bool(raw, "primary", ctx, label, line, False),
            )
        )
    return tuple(indices)
