"""Pure scoring: answers → per-respondent index values for the estimation core.

An index's value per respondent is 1.0/0.0 (``top_box_share``) or the option score / 0–10 rating
(``mean_score``); NaN means "not in the base" (not answered, not shown, don't-know under
``exclude``, voided interview). The composite over departments is returned as data
(``composite_weights``) because its estimate and variance belong to the estimation core.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from questionnaires.answers import is_answered
from questionnaires.model import RATING_MAX, RATING_MIN, IndexDefinition, Instrument, Item


class Scores(NamedTuple):
    """Per-respondent values of one index (one department for department indices).

    ``values``: float64, NaN outside the base. ``dk_mask``: the answer was don't-know or refused
    (whatever the policy, so the don't-know rate can be reported beside the index).
    ``void_mask``: the interview is void under ``dk_policy = "void_interview"`` (a don't-know or
    refusal on any item of the index); the caller drops such interviews from every index.
    """

    values: NDArray[np.float64]
    dk_mask: NDArray[np.bool_]
    void_mask: NDArray[np.bool_]


@dataclass(frozen=True)
class AnswerColumns:
    """The answers of ``n`` responses column by column: item id → one value per response
    (``None``: not answered). What the scoring functions read instead of one mapping per
    response when the caller already holds columns (a wave's computation); an item without a
    column is unanswered everywhere."""

    n: int
    columns: Mapping[str, Sequence[object]]

    def __len__(self) -> int:
        return self.n

    def column(self, item_id: str) -> Sequence[object]:
        found = self.columns.get(item_id)
        return [None] * self.n if found is None else found


Answers = Sequence[Mapping[str, object]] | AnswerColumns


def _column(answers_list: Answers, item_id: str) -> Sequence[object]:
    if isinstance(answers_list, AnswerColumns):
        return answers_list.column(item_id)
    return [answers.get(item_id) for answers in answers_list]


def _definition(instrument: Instrument, index_id: str) -> IndexDefinition:
    try:
        return instrument.index(index_id)
    except KeyError:
        known = ", ".join(ind.id for ind in instrument.indices)
        raise ValueError(f"问卷 {instrument.id} 没有指标 '{index_id}'（已定义: {known}）") from None


def _code_value(item: Item, value: object, row: int) -> tuple[int, bool]:
    """(code, is_dont_know_or_refused) of an answered value; ValueError naming row and item."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"第 {row + 1} 份回答中题目 {item.id} 的值 {value!r} 不是整数代码")
    option = item.option(value)
    if option is None:
        if item.type == "rating_0_10" and RATING_MIN <= value <= RATING_MAX:
            return value, False
        raise ValueError(f"第 {row + 1} 份回答中题目 {item.id} 的代码 {value} 不是该题的选项")
    return value, not option.substantive


def _option_value(
    item: Item, definition: IndexDefinition, positive: frozenset[int], code: int, is_dk: bool
) -> float:
    """The index value of one valid code (NaN: outside the base)."""
    if is_dk:
        return 0.0 if definition.dk_policy == "not_positive" else math.nan
    if definition.kind == "top_box_share":
        return 1.0 if code in positive else 0.0
    if item.type == "rating_0_10":
        return float(code)
    score = item.option(code).score  # type: ignore[union-attr]
    return math.nan if score is None else float(score)


def _score_column(
    item: Item,
    definition: IndexDefinition,
    positive: frozenset[int],
    column: Sequence[object],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]] | None:
    """Values and don't-know mask of one item over all rows, by the column's distinct codes
    (each distinct code is looked up once, the rows are numpy gathers); ``None`` when the column
    holds anything but integer codes and missing values (``_score_rows`` then names the row)."""
    n = len(column)
    if not set(map(type, column)) <= {int, type(None)}:
        return None
    distinct = sorted(set(column) - {None})  # type: ignore[type-var]
    lookup = np.full(len(distinct) + 1, np.nan)  # the last slot: not answered
    dk_lookup = np.zeros(len(distinct) + 1, dtype=bool)
    for k, code in enumerate(distinct):
        option = item.option(code)  # type: ignore[arg-type]
        if option is None and not (
            item.type == "rating_0_10" and RATING_MIN <= code <= RATING_MAX  # type: ignore[operator]
        ):
            return None
        is_dk = option is not None and not option.substantive
        dk_lookup[k] = is_dk
        lookup[k] = _option_value(item, definition, positive, code, is_dk)  # type: ignore[arg-type]
    position: dict[object, int] = {code: k for k, code in enumerate(distinct)}
    position[None] = len(distinct)
    slots = np.fromiter(map(position.__getitem__, column), dtype=np.intp, count=n)
    return lookup[slots], dk_lookup[slots]


def _score_rows(
    item: Item,
    definition: IndexDefinition,
    positive: frozenset[int],
    column: Sequence[object],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Row by row, for a column with other values than integer codes: raises ``ValueError``
    naming the first row whose value is not a code of the item."""
    n = len(column)
    values = np.full(n, np.nan)
    dk = np.zeros(n, dtype=bool)
    for row, value in enumerate(column):
        if not is_answered(value):
            continue
        code, is_dk = _code_value(item, value, row)
        dk[row] = is_dk
        values[row] = _option_value(item, definition, positive, code, is_dk)
    return values, dk


def _score_items(
    instrument: Instrument,
    definition: IndexDefinition,
    item_ids: Sequence[str],
    answers_list: Answers,
) -> dict[str, Scores]:
    all_items = {it.id: it for it in instrument.iter_items()}
    n = len(answers_list)
    positive = frozenset(definition.positive)
    dk_by_item: dict[str, NDArray[np.bool_]] = {}
    values_by_item: dict[str, NDArray[np.float64]] = {}
    for item_id in definition.items:
        item = all_items[item_id]
        column = _column(answers_list, item_id)
        scored = _score_column(item, definition, positive, column)
        if scored is None:  # a value that is not an integer code: the row-by-row path names it
            scored = _score_rows(item, definition, positive, column)
        values_by_item[item_id], dk_by_item[item_id] = scored
    void = np.zeros(n, dtype=bool)
    if definition.dk_policy == "void_interview":
        for dk in dk_by_item.values():
            void |= dk
    out: dict[str, Scores] = {}
    for item_id in item_ids:
        values = values_by_item[item_id].copy()
        values[void] = np.nan
        out[item_id] = Scores(values, dk_by_item[item_id].copy(), void.copy())
    return out


def score_responses(
    instrument: Instrument,
    index_id: str,
    answers_list: Answers,
    *,
    department: str | None = None,
) -> Scores:
    """Values of index ``index_id`` for each response (one mapping of answers per respondent,
    or ``AnswerColumns``).

    For a department index (``definition.departments`` non-empty) give ``department`` (registry
    code). Score with the instrument the answers were collected with (same ``content_hash``,
    e.g. after ``with_departments``); answers to hidden items are expected to be dropped already
    (``drop_hidden`` on save), since a stored answer is scored as given. Raises ``ValueError`` for an unknown index or department, a composite index (use
    ``composite_weights``) and answers that are not codes of the item (naming row and item).
    """
    definition = _definition(instrument, index_id)
    if definition.kind == "composite":
        raise ValueError(
            f"指标 '{index_id}' 是各部门的加权合成：请对 '{definition.component}' "
            "分部门计分（score_departments），再用 composite_weights 合成"
        )
    if definition.departments:
        if department not in definition.departments:
            raise ValueError(
                f"指标 '{index_id}' 按部门计分，请给出 department（可选: "
                f"{', '.join(definition.departments)}），收到 {department!r}"
            )
        item_id = definition.items[definition.departments.index(department)]
    elif department is not None:
        raise ValueError(f"指标 '{index_id}' 不按部门计分，不能给出 department")
    else:
        item_id = definition.items[0]
    return _score_items(instrument, definition, [item_id], answers_list)[item_id]


def score_departments(
    instrument: Instrument, index_id: str, answers_list: Answers
) -> dict[str, Scores]:
    """Department code → ``Scores`` for a department index, or for the component of a composite."""
    definition = _definition(instrument, index_id)
    if definition.kind == "composite" and definition.component is not None:
        definition = _definition(instrument, definition.component)
    if not definition.departments:
        raise ValueError(f"指标 '{index_id}' 不按部门计分")
    scored = _score_items(instrument, definition, definition.items, answers_list)
    return {
        dept: scored[item_id]
        for dept, item_id in zip(definition.departments, definition.items, strict=True)
    }


def composite_weights(
    instrument: Instrument, index_id: str, departments: Sequence[str] | None = None
) -> dict[str, float]:
    """Normalised weights (summing to 1) of a composite index over its departments.

    ``departments`` restricts (and renormalises) to a subset, e.g. those with an estimate.
    Departments without an explicit weight get the index's ``default_weight`` (1.0 = equal).
    """
    definition = _definition(instrument, index_id)
    if definition.kind != "composite":
        raise ValueError(f"指标 '{index_id}' 不是 composite 指标")
    chosen = list(definition.departments if departments is None else departments)
    unknown = [d for d in chosen if d not in definition.departments]
    if unknown:
        raise ValueError(f"指标 '{index_id}' 没有部门 {', '.join(unknown)}")
    raw = {d: definition.weight_for(d) for d in chosen}
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"指标 '{index_id}' 在部门 {', '.join(chosen)} 上的权重之和为 0")
    return {d: w / total for d, w in raw.items()}


def index_signature(instrument: Instrument, index_id: str) -> tuple[object, ...]:
    """Everything that decides an index's values, without wording: the definition (kind,
    positive codes, don't-know policy, unit level, targets, composite weights, departments) and,
    for each scored item, its id, type and options' codes, don't-know/refused flags and (for a
    mean score) scores.
    Two instruments whose signatures for an index are equal give the same value for the same
    answers, so their responses can be pooled into one estimate."""
    definition = _definition(instrument, index_id)
    items = []
    for item_id in definition.items:
        item = instrument.item(item_id)
        # a share reads only which codes are positive; a mean score reads the scores too
        scored = definition.kind == "mean_score"
        options = tuple(
            (o.code, o.score if scored else None, o.dont_know, o.refused) for o in item.options
        )
        items.append((item.id, item.type, options))
    return (
        definition.kind,
        definition.positive,
        definition.dk_policy,
        definition.unit_level,
        definition.target,
        definition.pass_score,
        definition.component,
        definition.weights,
        definition.default_weight,
        definition.departments,
        tuple(items),
    )


def pooling_conflicts(first: Instrument, second: Instrument) -> list[str]:
    """The index ids both instruments define but score differently (``index_signature``):
    answers given through one cannot be pooled with the other's into that index."""
    shared = [ind.id for ind in first.indices if any(o.id == ind.id for o in second.indices)]
    return [
        index_id
        for index_id in shared
        if index_signature(first, index_id) != index_signature(second, index_id)
    ]
