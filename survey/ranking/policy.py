"""Ranking policy (测评结果运用办法) as data: TOML file → every problem with its line → frozen model.

Same pipeline and problem format as the questionnaire files (``questionnaires.loader``): read and
parse the TOML, check every table collecting ``Problem``s (file, line, rule id, message with the
fix), cross-check references, then build an immutable ``Policy`` with a content hash. Reading,
locations and the typed field access are the public TOML checker ``questionnaires.toml_check``,
shared with the questionnaire loader so both formats report problems the same way.

All thresholds are on the published 0–100 scale (percent for shares, points for mean scores).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from questionnaires.model import Problem
from questionnaires.toml_check import (
    FileCheck,
    Lines,
    check_top_keys,
    get_bool,
    get_choice,
    get_id,
    get_number,
    get_str,
    get_table,
    get_tables,
    get_version,
    is_int,
    is_number,
    parse_toml,
    read_source,
    sorted_problems,
    str_or_none,
    unknown_keys,
)
from survey.ranking.records import LEVEL_NAMES, SANCTION_LEVELS, SanctionLevel

ConditionKind = Literal["bottom_k", "top_k", "below", "at_least"]
CONDITION_KINDS: tuple[ConditionKind, ...] = ("bottom_k", "top_k", "below", "at_least")
ConsecutiveMode = Literal["waves", "months"]
CONSECUTIVE_MODES: tuple[ConsecutiveMode, ...] = ("waves", "months")
GapRule = Literal["break", "skip"]
GAP_RULES: tuple[GapRule, ...] = ("break", "skip")
TieRule = Literal["include", "exclude"]
TIE_RULES: tuple[TieRule, ...] = ("include", "exclude")
PointsKind = Literal["per_point_below", "fixed"]
POINTS_KINDS: tuple[PointsKind, ...] = ("per_point_below", "fixed")
Banding = Literal["marginal", "whole"]
BANDINGS: tuple[Banding, ...] = ("marginal", "whole")
IndexUnit = Literal["%", "分"]
INDEX_UNITS: tuple[IndexUnit, ...] = ("%", "分")

HASH_PREFIX = b"pingan-policy/1\n"
MAX_K = 1000
MAX_WAVES = 120
_CN_NUMBERS = ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十")

_TOP_KEYS = frozenset(
    {"id", "version", "title", "description", "consecutive", "gap", "min_n_eff", "min_n"}
    | {"decimals"}
    | {"ties", "period_name", "indices", "uncertainty", "sanctions", "praises", "points"}
    | {"targets", "collapse_age_groups", "reviewers"}
)
_INDEX_KEYS = frozenset({"name", "unit", "min_n_eff", "min_n", "level"})
RankLevel = Literal["station", "street", "district", "department"]
RANK_LEVELS: tuple[RankLevel, ...] = ("station", "street", "district", "department")
_UNCERTAINTY_KEYS = frozenset({"rank_level", "ci_level", "alpha", "draws", "k"})
_CONDITION_KEYS = frozenset({"when", "k", "threshold", "thresholds"})
_SANCTION_KEYS = (
    frozenset({"id", "index", "what", "ladder", "review", "review_below"}) | _CONDITION_KEYS
)
ReviewMode = Literal["off", "flag", "hold"]
REVIEW_MODES: tuple[ReviewMode, ...] = ("off", "flag", "hold")
#: Roles that may confirm or withdraw a held sanction unless the policy says ``reviewers``.
DEFAULT_REVIEWERS: tuple[str, ...] = ("committee", "admin")
_STEP_KEYS = frozenset({"waves", "level", "measure"})
_PRAISE_KEYS = frozenset({"id", "index", "what", "waves", "measure"}) | _CONDITION_KEYS
_POINTS_KEYS = (
    frozenset({"id", "index", "what", "kind", "bands", "banding", "points", "cap"})
    | _CONDITION_KEYS
)
_BAND_KEYS = frozenset({"below", "per_point"})
_TARGET_KEYS = frozenset({"id", "index", "name", "at_least"})


#: Index id → the unit codes a ``thresholds`` key may name for it.
KnownCodes = Mapping[str, frozenset[str]]


class PolicyError(Exception):
    """A policy could not be loaded; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        first = str(self.problems[0]) if self.problems else "无效的测评结果运用办法"
        more = f"（另有 {len(self.problems) - 1} 个问题）" if len(self.problems) > 1 else ""
        super().__init__(first + more)


# ---------------------------------------------------------------------------------------------
# Model


def chinese_count(k: int) -> str:
    """2 → 两, 3 → 三 (as in 后两位、前三位); numbers above ten stay digits."""
    return _CN_NUMBERS[k] if 0 <= k < len(_CN_NUMBERS) else str(k)


def format_value(value: float) -> str:
    """85.0 → ``85``, 92.5 → ``92.5`` (thresholds in reasons carry no false precision)."""
    return f"{value:g}"


@dataclass(frozen=True)
class IndexSpec:
    """An index the policy ranks: ``id`` as in the instruments (e.g. ``anquangan``), short
    Chinese ``name`` used in reasons (安全感), ``unit`` ("%" for shares, "分" for scores) and
    optional ``min_n_eff`` / ``min_n`` overriding the policy's. ``level``: the units ranked
    (``station``, ``street``, ``district`` or ``department``); ``None`` ranks the level the
    instrument's index definition names (a city's policy says ``level = "district"`` to rank its
    districts)."""

    id: str
    name: str
    unit: IndexUnit = "%"
    min_n_eff: float | None = None
    level: RankLevel | None = None
    min_n: float | None = None


@dataclass(frozen=True)
class Condition:
    """What a unit must satisfy in one wave: in the bottom/top ``k`` of the ranked units, or
    ``below`` / ``at_least`` a threshold (``thresholds`` overrides it per unit code, e.g. a pass
    score per department: ``jianchayuan`` applies to the 检察院 of every district, the stored
    ``990101/jianchayuan`` to that district's only)."""

    kind: ConditionKind
    k: int | None = None
    threshold: float | None = None
    thresholds: tuple[tuple[str, float], ...] = ()

    def threshold_for(self, unit_code: str) -> float | None:
        """The threshold that applies to ``unit_code`` (None for rank conditions): the one written
        for exactly that code, else for its department code (the part after ``/`` of a department
        unit ``<district>/<department>``), else the common ``threshold``."""
        by_code = dict(self.thresholds)
        if unit_code in by_code:
            return by_code[unit_code]
        _district, slash, department = unit_code.rpartition("/")
        if slash and department in by_code:
            return by_code[department]
        return self.threshold

    def describe(self, index: IndexSpec, unit_code: str) -> str:
        """In words, e.g. 安全感排名后两位 / 满意度低于达标分值85分."""
        if self.kind == "bottom_k":
            return f"{index.name}排名后{chinese_count(cast(int, self.k))}位"
        if self.kind == "top_k":
            return f"{index.name}排名前{chinese_count(cast(int, self.k))}位"
        value = format_value(cast(float, self.threshold_for(unit_code)))
        if self.kind == "below":
            if index.unit == "分":
                return f"{index.name}低于达标分值{value}分"
            return f"{index.name}低于{value}%"
        if index.unit == "分":
            return f"{index.name}达到{value}分"
        return f"{index.name}达到{value}%"


@dataclass(frozen=True)
class LadderStep:
    """From ``waves`` consecutive waves on, the sanction ``level`` with its ``measure`` text."""

    waves: int
    level: SanctionLevel
    measure: str = ""


@dataclass(frozen=True)
class SanctionRule:
    """Warning ladder: the condition met ``waves`` times in a row → the highest step reached.

    ``review``: what happens to a sanction whose evidence is uncertain — P(bottom k) (or, for a
    threshold rule, P(below the threshold)) under ``review_below``, or the unit statistically
    indistinguishable from the first unit outside: ``off`` (the rule applies literally),
    ``flag`` (it stands, marked 提请复核) or ``hold`` (待复核: the wave cannot be published until
    a reviewer confirms or withdraws it with a reason)."""

    id: str
    index: str
    condition: Condition
    ladder: tuple[LadderStep, ...]
    what: str = ""
    review: ReviewMode = "off"
    review_below: float = 0.9

    def step_for(self, streak: int) -> LadderStep | None:
        """The step for ``streak`` consecutive waves (the last step whose ``waves`` ≤ streak)."""
        reached = [s for s in self.ladder if s.waves <= streak]
        return reached[-1] if reached else None


@dataclass(frozen=True)
class PraiseRule:
    """通报表扬 when the condition is met ``waves`` times in a row (or more)."""

    id: str
    index: str
    condition: Condition
    waves: int
    measure: str = ""
    what: str = ""


@dataclass(frozen=True)
class PointBand:
    """Under ``below`` (0–100 scale), ``per_point`` points are deducted per point short."""

    below: float
    per_point: float


@dataclass(frozen=True)
class PointsRule:
    """Deductions or awards each wave.

    ``per_point_below``: ``bands`` by descending ``below``; ``banding = "marginal"`` charges each
    band's rate only for the points inside that band (like tax brackets: under 96 −0.25/point,
    under 90 −0.5/point → 88 costs 6×0.25 + 2×0.5 = 2.5), ``"whole"`` charges the whole shortfall
    from the top band at the rate of the lowest band reached (88 → 8×0.5 = 4). ``cap`` bounds the
    deduction. ``fixed``: ``points`` (signed: negative deducts) whenever ``condition`` is met.
    """

    id: str
    index: str
    kind: PointsKind
    bands: tuple[PointBand, ...] = ()
    banding: Banding = "marginal"
    condition: Condition | None = None
    points: float = 0.0
    cap: float | None = None
    what: str = ""


@dataclass(frozen=True)
class Target:
    """A target the published estimate should reach (e.g. 安全感 ≥ 90 %)."""

    id: str
    index: str
    name: str
    at_least: float


@dataclass(frozen=True)
class UncertaintySettings:
    """``rank_level``: rank interval level (0.90); ``ci_level``: displayed interval level (0.95);
    ``alpha``: two-sided level of the distinguishability test; ``draws``: simulation draws;
    ``k``: the k of P(bottom k) for indices without a bottom-k rule (None = not computed)."""

    rank_level: float = 0.90
    ci_level: float = 0.95
    alpha: float = 0.05
    draws: int = 2000
    k: int | None = None


@dataclass(frozen=True)
class Policy:
    """A programme's rules. ``consecutive``: ``"waves"`` (consecutive waves of the programme) or
    ``"months"`` (consecutive calendar months); ``gap``: a wave without a ranked result for the
    unit ``"break"``s the run or is ``"skip"``ped; ``ties``: units tied at the bottom-k/top-k
    cut-off are all ``"include"``d or all ``"exclude"``d; ``decimals``: the published precision
    used for ranks, ties and thresholds; eligibility to be ranked: at least ``min_n`` valid
    answers (nominal completes) and a Kish effective size of their weights, (Σw)²/Σw², of at
    least ``min_n_eff`` — quantities that do not depend on the answers themselves, so a unit at
    100 % and one at 80 % with the same weights are treated alike;
    ``collapse_age_groups``: when a district has no respondent in a sex × age cell, merge that
    age group with its neighbour for the district's raking instead of failing."""

    id: str
    version: int
    title: str
    description: str = ""
    consecutive: ConsecutiveMode = "waves"
    gap: GapRule = "break"
    min_n_eff: float = 30.0
    min_n: float = 0.0
    decimals: int = 1
    ties: TieRule = "include"
    period_name: str = "个月"
    indices: tuple[IndexSpec, ...] = ()
    sanctions: tuple[SanctionRule, ...] = ()
    praises: tuple[PraiseRule, ...] = ()
    points: tuple[PointsRule, ...] = ()
    targets: tuple[Target, ...] = ()
    uncertainty: UncertaintySettings = UncertaintySettings()
    collapse_age_groups: bool = False
    reviewers: tuple[str, ...] = DEFAULT_REVIEWERS
    source_name: str = ""
    source_text: str = ""
    content_hash: str = ""

    def index(self, index_id: str) -> IndexSpec:
        """The declared index; KeyError if the policy does not rank it."""
        for spec in self.indices:
            if spec.id == index_id:
                return spec
        raise KeyError(index_id)

    def min_n_eff_for(self, index_id: str) -> float:
        """Minimum effective n for ``index_id`` (the index's own, else the policy's)."""
        spec = self.index(index_id)
        return self.min_n_eff if spec.min_n_eff is None else spec.min_n_eff

    def min_n_for(self, index_id: str) -> float:
        """Minimum number of valid answers for ``index_id`` (the index's own, else the policy's)."""
        spec = self.index(index_id)
        return self.min_n if spec.min_n is None else spec.min_n

    def _conditions(self, index_id: str) -> list[Condition]:
        # Sanctions first, then points rules: the order in which rules name the cut-off.
        rules: tuple[SanctionRule | PraiseRule | PointsRule, ...] = (
            *self.sanctions,
            *self.points,
            *self.praises,
        )
        return [r.condition for r in rules if r.index == index_id and r.condition is not None]

    def rank_k(self, index_id: str) -> int | None:
        """The k of P(bottom k) for an index: the k of its first bottom-k rule (sanctions, then
        points), else ``uncertainty.k``."""
        for condition in self._conditions(index_id):
            if condition.kind == "bottom_k":
                return condition.k
        return self.uncertainty.k

    def top_k(self, index_id: str) -> int | None:
        """The k of the index's first top-k rule (sanctions, points, praises), or None."""
        for condition in self._conditions(index_id):
            if condition.kind == "top_k":
                return condition.k
        return None

    def threshold_condition(self, index_id: str) -> Condition | None:
        """The index's first ``below`` condition (sanctions, then points), for P(below
        threshold), or None."""
        for condition in self._conditions(index_id):
            if condition.kind == "below":
                return condition
        return None

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of the content hash."""
        return self.content_hash[:12]

    def canonical(self) -> dict[str, Any]:
        """Plain dict of the rules (no source text): what the content hash covers."""
        data = asdict(self)
        for key in ("source_name", "source_text", "content_hash"):
            data.pop(key)
        return data


# ---------------------------------------------------------------------------------------------
# Parsing


def _fraction(
    table: dict[str, Any], key: str, default: float, ctx: FileCheck, line: int | None
) -> float:
    value = get_number(table, key, ctx, "uncertainty", line)
    if value is None:
        return default
    if not 0 < value < 1:
        ctx.add(f"{key} = {value:g} 应在 0 与 1 之间（如 0.90）", item="uncertainty", line=line)
        return default
    return value


def _nonneg_number(
    table: dict[str, Any], key: str, ctx: FileCheck, item: str | None, line: int | None
) -> float | None:
    value = get_number(table, key, ctx, item, line)
    if value is not None and value < 0:
        ctx.add(f"{key} 不能为负数", item=item, line=line)
        return None
    return value


def _percent(
    value: object, what: str, ctx: FileCheck, item: str | None, line: int | None
) -> float | None:
    if not is_number(value):
        ctx.add(f"{what} 应为数字", item=item, line=line)
        return None
    number = float(cast(float, value))
    if not 0 <= number <= 100:
        hint = "（比例写成百分数：90% 写 90，不写 0.9）" if 0 < number <= 1 else ""
        ctx.add(f"{what} = {number:g} 超出 0–100 范围{hint}", item=item, line=line)
        return None
    if 0 < number <= 1:
        ctx.add(
            f"{what} = {number:g} 像是比例：阈值用 0–100 的百分数或分值（90% 写 90）",
            item=item,
            line=line,
        )
        return None
    return number


def _parse_indices(data: dict[str, Any], ctx: FileCheck) -> dict[str, IndexSpec]:
    line = ctx.lines.header("indices")
    indices: dict[str, IndexSpec] = {}
    raw = data.get("indices")
    if raw is None:
        ctx.add(
            '缺少 [indices]：请为每个被排名的指标写一节，如 [indices.anquangan] name = "安全感"',
            line=1,
        )
        return indices
    if not isinstance(raw, dict):
        ctx.add("indices 应为表（[indices.<指标id>]）", line=line)
        return indices
    for index_id, table in raw.items():
        where = ctx.lines.header(f"indices.{index_id}") or line
        label = f"indices.{index_id}"
        if not isinstance(table, dict):
            ctx.add(f'[indices.{index_id}] 应为表，如 name = "安全感"', item=label, line=where)
            continue
        get_id({"id": index_id}, ctx, "指标", where, item=label)
        unknown_keys(table, _INDEX_KEYS, ctx, label, where)
        name = get_str(table, "name", ctx, label, where, required=True)
        unit = get_choice(table, "unit", ctx, label, where, choices=INDEX_UNITS, default="%")
        min_n_eff = _nonneg_number(table, "min_n_eff", ctx, label, where)
        min_n = _nonneg_number(table, "min_n", ctx, label, where)
        level = None
        if "level" in table:
            level = cast(
                RankLevel,
                get_choice(table, "level", ctx, label, where, choices=RANK_LEVELS, default=""),
            )
        indices[index_id] = IndexSpec(
            index_id, name, cast(IndexUnit, unit), min_n_eff, level or None, min_n
        )
    if not indices:
        ctx.add("[indices] 为空：至少声明一个被排名的指标", line=line)
    return indices


def _parse_condition(
    raw: dict[str, Any],
    ctx: FileCheck,
    label: str,
    line: int | None,
    allowed: tuple[ConditionKind, ...] = CONDITION_KINDS,
    known: frozenset[str] | None = None,
) -> Condition | None:
    when = raw.get("when")
    if when not in allowed:
        ctx.add(
            f"when = {when!r} 无效；可用: {', '.join(allowed)}"
            "（bottom_k 排名后k位、top_k 前k位、below 低于阈值、at_least 达到阈值）",
            item=label,
            line=ctx.lines.key_line(line, r"^\s*when\s*="),
        )
        return None
    kind = cast(ConditionKind, when)
    if kind in ("bottom_k", "top_k"):
        for key in ("threshold", "thresholds"):
            if key in raw:
                ctx.add(
                    f"{kind} 规则不使用 {key}（它属于 below / at_least）", item=label, line=line
                )
        k = raw.get("k")
        if k is None:
            ctx.add(f"{kind} 规则缺少 k（如 k = 2 表示后两位）", item=label, line=line)
            return None
        if not is_int(k) or not 1 <= k <= MAX_K:
            ctx.add(f"k = {k!r} 无效：应为 1 到 {MAX_K} 之间的整数", item=label, line=line)
            return None
        return Condition(kind, k=cast(int, k))
    if "k" in raw:
        ctx.add(f"{kind} 规则不使用 k（它属于 bottom_k / top_k）", item=label, line=line)
    threshold_line = ctx.lines.key_line(line, r"^\s*threshold\s*=")
    threshold = None
    if "threshold" in raw:
        threshold = _percent(raw["threshold"], "threshold", ctx, label, threshold_line)
    else:
        ctx.add(
            f"{kind} 规则缺少 threshold（0–100 的阈值，如达标分值 threshold = 85）",
            item=label,
            line=line,
        )
    per_unit: list[tuple[str, float]] = []
    per_line = ctx.lines.key_line(line, r"^\s*thresholds\s*=")
    for code, value in get_table(raw, "thresholds", ctx, label, per_line).items():
        checked = _percent(value, f"thresholds.{code}", ctx, label, per_line)
        if known is not None and code not in known:
            listed = "、".join(sorted(c for c in known if "/" not in c)) or "（无）"
            ctx.add(
                f"thresholds 中的 '{code}' 不是已知的单位代码：部门写部门代码（如 jianchayuan），"
                f"可用: {listed}",
                item=label,
                line=per_line,
            )
            continue
        if checked is not None:
            per_unit.append((code, checked))
    if threshold is None:
        return None
    return Condition(kind, threshold=threshold, thresholds=tuple(per_unit))


@dataclass
class _Seen:
    """Rule tables met so far: per section, per id within a section, and every rule id."""

    tables: Counter[str] = field(default_factory=Counter)
    ids: defaultdict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    rule_ids: set[str] = field(default_factory=set)


def _rule_header(
    raw: dict[str, Any],
    section: str,
    what: str,
    ctx: FileCheck,
    seen: _Seen,
    indices: dict[str, IndexSpec],
    keys: frozenset[str],
) -> tuple[str, str, int | None, str]:
    """Common part of every rule table: id (unique within the policy), index, unknown keys."""
    ident = str_or_none(raw.get("id"))
    # The nth table of a section starts at the nth header; an id line is more precise.
    header = ctx.lines.header(section, seen.tables[section])
    seen.tables[section] += 1
    line = ctx.lines.next_id_line(section, ident, seen.ids[section]) or header
    rule_id = get_id(raw, ctx, what, line)
    label = f"{section}:{rule_id}" if rule_id else section
    if ident is not None:
        if ident in seen.rule_ids:
            ctx.add(f"规则 id '{ident}' 重复：每条规则需要不同的 id", item=label, line=line)
        seen.rule_ids.add(ident)
    unknown_keys(raw, keys, ctx, label, line)
    index = raw.get("index")
    index_line = ctx.lines.key_line(line, r"^\s*index\s*=")
    if not isinstance(index, str):
        ctx.add('缺少 index（被排名的指标 id，如 index = "anquangan"）', item=label, line=line)
        index = ""
    elif index not in indices and indices:
        ctx.add(
            f"规则引用了未声明的指标 '{index}'；请先在 [indices.{index}] 中声明它"
            f"（已声明: {', '.join(indices)}）",
            item=label,
            line=index_line,
        )
    return rule_id, label, line, index


def _parse_sanctions(
    data: dict[str, Any],
    ctx: FileCheck,
    seen: _Seen,
    indices: dict[str, IndexSpec],
    known: KnownCodes,
) -> list[SanctionRule]:
    rules: list[SanctionRule] = []
    for raw in get_tables(data, "sanctions", ctx, None, ctx.lines.header("sanctions")):
        rule_id, label, line, index = _rule_header(
            raw, "sanctions", "预警规则", ctx, seen, indices, _SANCTION_KEYS
        )
        condition = _parse_condition(
            raw, ctx, label, line, ("bottom_k", "top_k", "below"), known.get(index)
        )
        steps: list[LadderStep] = []
        ladder_line = ctx.lines.key_line(line, r"^\s*ladder\s*=")
        ladder = raw.get("ladder")
        if not isinstance(ladder, list) or not ladder:
            ctx.add(
                '缺少 ladder（预警阶梯），如 ladder = [{ waves = 1, level = "criticism" }, …]',
                item=label,
                line=ladder_line,
            )
            ladder = []
        levels = ", ".join(f"{lv}（{LEVEL_NAMES[lv]}）" for lv in SANCTION_LEVELS)
        for number, entry in enumerate(ladder, start=1):
            where = ctx.lines.key_line(ladder_line, r"\bwaves\s*=", number - 1)
            if not isinstance(entry, dict):
                ctx.add(
                    f"阶梯第 {number} 级应为 {{ waves = …, level = … }}", item=label, line=where
                )
                continue
            unknown_keys(entry, _STEP_KEYS, ctx, label, where)
            waves: Any = entry.get("waves")
            if not is_int(waves) or not 1 <= waves <= MAX_WAVES:
                ctx.add(
                    f"阶梯第 {number} 级的 waves = {waves!r} 无效：应为 1 到 {MAX_WAVES} 的整数"
                    "（连续几期）",
                    item=label,
                    line=where,
                )
                continue
            level = entry.get("level")
            if level not in SANCTION_LEVELS:
                ctx.add(
                    f"阶梯第 {number} 级的 level = {level!r} 无效；可用: {levels}",
                    item=label,
                    line=where,
                )
                continue
            measure = get_str(entry, "measure", ctx, label, where, required=False)
            step = LadderStep(cast(int, waves), cast(SanctionLevel, level), measure)
            if steps and step.waves <= steps[-1].waves:
                ctx.add(
                    f"阶梯第 {number} 级的 waves = {step.waves} 应大于上一级的 {steps[-1].waves}"
                    "（按连续期数从少到多排列）",
                    item=label,
                    line=where,
                )
                continue
            if steps and SANCTION_LEVELS.index(step.level) < SANCTION_LEVELS.index(steps[-1].level):
                ctx.add(
                    f"阶梯第 {number} 级 {LEVEL_NAMES[step.level]} 比上一级"
                    f" {LEVEL_NAMES[steps[-1].level]} 轻：阶梯应逐级加重",
                    item=label,
                    line=where,
                )
                continue
            steps.append(step)
        what = get_str(raw, "what", ctx, label, line, required=False)
        review = get_choice(raw, "review", ctx, label, line, choices=REVIEW_MODES, default="off")
        below = get_number(raw, "review_below", ctx, label, line)
        if below is not None and not 0 < below <= 1:
            ctx.add(
                f"review_below = {below!r} 无效：应为 0 到 1 之间的概率（如 0.9）",
                item=label,
                line=line,
            )
            below = None
        if condition is not None and steps:
            rules.append(
                SanctionRule(
                    rule_id,
                    index,
                    condition,
                    tuple(steps),
                    what,
                    cast(ReviewMode, review),
                    0.9 if below is None else below,
                )
            )
    return rules


def _parse_praises(
    data: dict[str, Any],
    ctx: FileCheck,
    seen: _Seen,
    indices: dict[str, IndexSpec],
    known: KnownCodes,
) -> list[PraiseRule]:
    rules: list[PraiseRule] = []
    for raw in get_tables(data, "praises", ctx, None, ctx.lines.header("praises")):
        rule_id, label, line, index = _rule_header(
            raw, "praises", "表扬规则", ctx, seen, indices, _PRAISE_KEYS
        )
        condition = _parse_condition(raw, ctx, label, line, ("top_k", "at_least"), known.get(index))
        waves = raw.get("waves", 1)
        if not is_int(waves) or not 1 <= waves <= MAX_WAVES:
            ctx.add(
                f"waves = {waves!r} 无效：应为 1 到 {MAX_WAVES} 的整数（连续几期）",
                item=label,
                line=ctx.lines.key_line(line, r"^\s*waves\s*="),
            )
            waves = 1
        measure = get_str(raw, "measure", ctx, label, line, required=False)
        what = get_str(raw, "what", ctx, label, line, required=False)
        if condition is not None:
            rules.append(PraiseRule(rule_id, index, condition, cast(int, waves), measure, what))
    return rules


def _parse_points(
    data: dict[str, Any],
    ctx: FileCheck,
    seen: _Seen,
    indices: dict[str, IndexSpec],
    known: KnownCodes,
) -> list[PointsRule]:
    rules: list[PointsRule] = []
    for raw in get_tables(data, "points", ctx, None, ctx.lines.header("points")):
        rule_id, label, line, index = _rule_header(
            raw, "points", "加减分规则", ctx, seen, indices, _POINTS_KEYS
        )
        kind = raw.get("kind")
        what = get_str(raw, "what", ctx, label, line, required=False)
        cap = _nonneg_number(raw, "cap", ctx, label, line)
        if kind == "per_point_below":
            for key in ("when", "k", "threshold", "thresholds", "points"):
                if key in raw:
                    ctx.add(
                        f"per_point_below 规则不使用 {key}（用 bands 分段）", item=label, line=line
                    )
            banding = get_choice(
                raw, "banding", ctx, label, line, choices=BANDINGS, default="marginal"
            )
            bands_line = ctx.lines.key_line(line, r"^\s*bands\s*=")
            bands: list[PointBand] = []
            raw_bands = raw.get("bands")
            if not isinstance(raw_bands, list) or not raw_bands:
                ctx.add(
                    "缺少 bands，如 bands = [{ below = 96, per_point = 0.25 }, "
                    "{ below = 90, per_point = 0.5 }]",
                    item=label,
                    line=bands_line,
                )
                raw_bands = []
            for number, entry in enumerate(raw_bands, start=1):
                where = ctx.lines.key_line(bands_line, r"\bbelow\s*=", number - 1)
                if not isinstance(entry, dict):
                    ctx.add(
                        f"第 {number} 段应为 {{ below = …, per_point = … }}", item=label, line=where
                    )
                    continue
                unknown_keys(entry, _BAND_KEYS, ctx, label, where)
                below = _percent(entry.get("below"), f"第 {number} 段的 below", ctx, label, where)
                per_point = entry.get("per_point")
                if not is_number(per_point) or cast(float, per_point) <= 0:
                    ctx.add(
                        f"第 {number} 段的 per_point 应为正数（每低1个百分点/1分扣的分数）",
                        item=label,
                        line=where,
                    )
                    continue
                if below is None:
                    continue
                if bands and below >= bands[-1].below:
                    ctx.add(
                        f"第 {number} 段的 below = {below:g} 应小于上一段的 {bands[-1].below:g}"
                        "（分段按阈值从高到低排列）",
                        item=label,
                        line=where,
                    )
                    continue
                bands.append(PointBand(below, float(cast(float, per_point))))
            if bands:
                rules.append(
                    PointsRule(
                        rule_id,
                        index,
                        "per_point_below",
                        bands=tuple(bands),
                        banding=cast(Banding, banding),
                        cap=cap,
                        what=what,
                    )
                )
        elif kind == "fixed":
            for key in ("bands", "banding"):
                if key in raw:
                    ctx.add(
                        f"fixed 规则不使用 {key}（它属于 per_point_below）", item=label, line=line
                    )
            condition = _parse_condition(raw, ctx, label, line, known=known.get(index))
            points = raw.get("points")
            if not is_number(points) or points == 0:
                ctx.add(
                    "fixed 规则需要非零的 points（负数为扣分，如 points = -1；正数为加分）",
                    item=label,
                    line=ctx.lines.key_line(line, r"^\s*points\s*="),
                )
                continue
            if condition is not None:
                rules.append(
                    PointsRule(
                        rule_id,
                        index,
                        "fixed",
                        condition=condition,
                        points=float(cast(float, points)),
                        cap=cap,
                        what=what,
                    )
                )
        else:
            ctx.add(
                f"kind = {kind!r} 无效；可用: {', '.join(POINTS_KINDS)}"
                "（per_point_below 按低于阈值的点数扣分，fixed 满足条件时固定加减分）",
                item=label,
                line=ctx.lines.key_line(line, r"^\s*kind\s*="),
            )
    return rules


def _parse_targets(
    data: dict[str, Any], ctx: FileCheck, seen: _Seen, indices: dict[str, IndexSpec]
) -> list[Target]:
    targets: list[Target] = []
    for raw in get_tables(data, "targets", ctx, None, ctx.lines.header("targets")):
        rule_id, label, line, index = _rule_header(
            raw, "targets", "目标", ctx, seen, indices, _TARGET_KEYS
        )
        name = get_str(raw, "name", ctx, label, line, required=False)
        if "at_least" not in raw:
            ctx.add("目标缺少 at_least（如 at_least = 90 表示 ≥ 90%）", item=label, line=line)
            continue
        value = _percent(raw["at_least"], "at_least", ctx, label, line)
        if value is not None:
            spec = indices.get(index)
            default_name = f"{spec.name}目标" if spec else "目标"
            targets.append(Target(rule_id, index, name or default_name, value))
    return targets


def _parse_uncertainty(data: dict[str, Any], ctx: FileCheck) -> UncertaintySettings:
    line = ctx.lines.header("uncertainty")
    table = get_table(data, "uncertainty", ctx, None, line)
    unknown_keys(table, _UNCERTAINTY_KEYS, ctx, "uncertainty", line)
    settings = UncertaintySettings()
    draws = table.get("draws", settings.draws)
    if not is_int(draws) or not 100 <= draws <= 1_000_000:
        ctx.add("draws 应为 100 到 1000000 之间的整数", item="uncertainty", line=line)
        draws = settings.draws
    k = table.get("k")
    if k is not None and (not is_int(k) or not 1 <= k <= MAX_K):
        ctx.add(f"k 应为 1 到 {MAX_K} 之间的整数", item="uncertainty", line=line)
        k = None
    return UncertaintySettings(
        rank_level=_fraction(table, "rank_level", settings.rank_level, ctx, line),
        ci_level=_fraction(table, "ci_level", settings.ci_level, ctx, line),
        alpha=_fraction(table, "alpha", settings.alpha, ctx, line),
        draws=cast(int, draws),
        k=cast("int | None", k),
    )


def _hash(policy: Policy) -> str:
    canonical = json.dumps(policy.canonical(), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(HASH_PREFIX + canonical.encode("utf-8")).hexdigest()


def build_policy(text: str, name: str, known_codes: KnownCodes | None = None) -> Policy:
    """Parse and validate policy ``text`` (``name`` is the file name used in problems).

    ``known_codes``: index id → the unit codes a ``thresholds`` key may name for that index
    (e.g. the department codes for a department index); a key outside them is a problem.
    Indices not in the mapping (or no mapping) are not checked. ``"@station"``, ``"@street"``,
    ``"@district"``, ``"@department"`` give the codes of a level, for indices whose policy
    ``level`` differs from their definition's.
    Raises ``PolicyError`` with every problem found, in file order.
    """
    known = known_codes or {}
    data, problems = parse_toml(text, name)
    if problems:
        raise PolicyError(problems)
    ctx = FileCheck(name, Lines(text))
    check_top_keys(data, _TOP_KEYS, ctx)
    policy_id = get_id(data, ctx, "办法", ctx.lines.top_key("id") or 1)
    version = get_version(data, ctx, "办法")
    title = get_str(data, "title", ctx, None, ctx.lines.top_key("title") or 1, required=True)
    description = get_str(
        data, "description", ctx, None, ctx.lines.top_key("description"), required=False
    )
    consecutive = get_choice(
        data,
        "consecutive",
        ctx,
        None,
        ctx.lines.top_key("consecutive"),
        choices=CONSECUTIVE_MODES,
        default="waves",
    )
    gap = get_choice(
        data, "gap", ctx, None, ctx.lines.top_key("gap"), choices=GAP_RULES, default="break"
    )
    ties = get_choice(
        data, "ties", ctx, None, ctx.lines.top_key("ties"), choices=TIE_RULES, default="include"
    )
    min_n_eff = _nonneg_number(data, "min_n_eff", ctx, None, ctx.lines.top_key("min_n_eff"))
    min_n = _nonneg_number(data, "min_n", ctx, None, ctx.lines.top_key("min_n"))
    decimals = data.get("decimals", 1)
    if not is_int(decimals) or not 0 <= decimals <= 4:
        ctx.add(
            "decimals 应为 0 到 4 之间的整数（公布时保留的小数位）",
            line=ctx.lines.top_key("decimals"),
        )
        decimals = 1
    period_name = get_str(
        data, "period_name", ctx, None, ctx.lines.top_key("period_name"), required=False
    )
    indices = _parse_indices(data, ctx)
    # An index ranked at another level than its definition's: its thresholds name units of that
    # level (``known["@district"]``, …, when the caller gives them).
    known = {
        **known,
        **{
            spec.id: known[f"@{spec.level}"]
            for spec in indices.values()
            if spec.level is not None and f"@{spec.level}" in known
        },
    }
    seen = _Seen()
    sanctions = _parse_sanctions(data, ctx, seen, indices, known)
    praises = _parse_praises(data, ctx, seen, indices, known)
    points = _parse_points(data, ctx, seen, indices, known)
    collapse = get_bool(
        data, "collapse_age_groups", ctx, None, ctx.lines.top_key("collapse_age_groups"), False
    )
    targets = _parse_targets(data, ctx, seen, indices)
    uncertainty = _parse_uncertainty(data, ctx)
    reviewers = data.get("reviewers", list(DEFAULT_REVIEWERS))
    if (
        not isinstance(reviewers, list)
        or not reviewers
        or not all(isinstance(r, str) and r for r in reviewers)
    ):
        ctx.add(
            'reviewers 应为角色代码的列表，如 reviewers = ["committee", "admin"]',
            line=ctx.lines.top_key("reviewers"),
        )
        reviewers = list(DEFAULT_REVIEWERS)
    if not (sanctions or praises or points or targets) and not ctx.problems:
        ctx.add(
            "办法中没有任何规则：至少写一条 [[sanctions]]、[[praises]]、[[points]] 或 [[targets]]"
        )
    if ctx.problems:
        raise PolicyError(sorted_problems(ctx.problems))
    policy = Policy(
        id=policy_id,
        version=version,
        title=title,
        description=description,
        consecutive=cast(ConsecutiveMode, consecutive),
        gap=cast(GapRule, gap),
        min_n_eff=30.0 if min_n_eff is None else min_n_eff,
        min_n=0.0 if min_n is None else min_n,
        reviewers=tuple(reviewers),
        decimals=cast(int, decimals),
        ties=cast(TieRule, ties),
        period_name=period_name or "个月",
        indices=tuple(indices.values()),
        sanctions=tuple(sanctions),
        praises=tuple(praises),
        points=tuple(points),
        targets=tuple(targets),
        uncertainty=uncertainty,
        collapse_age_groups=collapse,
        source_name=name,
        source_text=text,
    )
    return replace(policy, content_hash=_hash(policy))


def load_policy_text(
    text: str, name: str = "<text>", known_codes: KnownCodes | None = None
) -> Policy:
    """Load a policy from TOML ``text`` (``name`` labels problems); raises PolicyError."""
    return build_policy(text, name, known_codes)


def load_policy(path: str | Path, known_codes: KnownCodes | None = None) -> Policy:
    """Load a policy file (UTF-8 TOML). Raises ``PolicyError`` with every problem found."""
    text, problems = read_source(path)
    if problems:
        raise PolicyError(problems)
    return build_policy(text, str(path), known_codes)


def policies_dir() -> Path:
    """The folder of the shipped policy files (``survey/policies``)."""
    return Path(__file__).resolve().parent.parent / "policies"


def default_policy_path() -> Path:
    """Path of the seed district's rules, the default policy."""
    return policies_dir() / "default.toml"


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The seed district's rules (``survey/policies/default.toml``), loaded once."""
    return load_policy(default_policy_path())


def check_policy_files(
    paths: Iterable[str | Path], known_codes: KnownCodes | None = None
) -> list[Problem]:
    """Every problem in every policy file (empty when all load)."""
    problems: list[Problem] = []
    for path in paths:
        try:
            load_policy(path, known_codes)
        except PolicyError as exc:
            problems.extend(exc.problems)
    return problems


#: A directory of the installation's own policy files (every ``*.toml`` in it), offered beside
#: the shipped ones when a programme is created or its policy changed.
EXTRA_DIR_VARIABLE = "PINGAN_POLICIES"


def installation_policy_paths() -> list[Path]:
    """The shipped policy files, then the ``*.toml`` files of ``PINGAN_POLICIES`` (if set) in
    name order. A directory that does not exist is an error (a typo must not hide a policy)."""
    paths = sorted(policies_dir().glob("*.toml"))
    extra = os.environ.get(EXTRA_DIR_VARIABLE, "").strip()
    if extra:
        folder = Path(extra)
        if not folder.is_dir():
            raise PolicyError(
                [Problem(extra, None, None, f"{EXTRA_DIR_VARIABLE} 指向的目录不存在")]
            )
        paths += sorted(folder.glob("*.toml"))
    return paths


def installation_policies() -> dict[str, tuple[Policy, Path]]:
    """Every policy file of the installation by policy id, with its path. Raises
    ``PolicyError`` listing every problem of every file, and ids used by two files."""
    problems: list[Problem] = []
    found: dict[str, tuple[Policy, Path]] = {}
    for path in installation_policy_paths():
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        if policy.id in found:
            problems.append(
                Problem(
                    str(path), None, None,
                    f"办法 id {policy.id} 已由 {found[policy.id][1]} 使用；每个办法文件的 id 必须不同",
                )
            )  # fmt: skip
            continue
        found[policy.id] = (policy, path)
    if problems:
        raise PolicyError(problems)
    return found
