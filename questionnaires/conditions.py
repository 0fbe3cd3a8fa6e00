"""Show/skip conditions as a small declarative expression tree (no string is ever evaluated).

In a file::

    show_if = { item = "q1", in = [1, 2] }
    show_if = { any = [ { item = "q1", in = [4, 5] }, { item = "q2", answered = false } ] }
    skip_if = { not = { item = "q1", in = [1] } }

``skip_if = C`` is stored as ``Not(C)``; both present are stored as ``AllOf((show, Not(skip)))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ItemIn:
    """True when the answer to ``item`` is one of ``codes`` (for multiple choice: any selected)."""

    item: str
    codes: tuple[int, ...]
    op: Literal["in"] = field(default="in", init=False)


@dataclass(frozen=True)
class Answered:
    """True when ``item`` has (``answered=True``) or has not (``False``) been answered."""

    item: str
    answered: bool
    op: Literal["answered"] = field(default="answered", init=False)


@dataclass(frozen=True)
class AllOf:
    """True when every condition is true."""

    conditions: tuple[Condition, ...]
    op: Literal["all"] = field(default="all", init=False)


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is true."""

    conditions: tuple[Condition, ...]
    op: Literal["any"] = field(default="any", init=False)


@dataclass(frozen=True)
class Not:
    """True when ``condition`` is false."""

    condition: Condition
    op: Literal["not"] = field(default="not", init=False)


Condition = ItemIn | Answered | AllOf | AnyOf | Not


def _is_answered(value: object) -> bool:
    # An empty string or empty selection is "no answer", as a blank form field is.
    if value is None:
        return False
    if isinstance(value, str | list | tuple):
        return len(value) > 0
    return True


def evaluate(condition: Condition, answers: Mapping[str, object]) -> bool:
    """Evaluate ``condition`` on ``answers`` (item id → answer); ``in`` is false with no answer."""
    if isinstance(condition, ItemIn):
        value = answers.get(condition.item)
        if isinstance(value, list | tuple):
            return any(v in condition.codes for v in value if isinstance(v, int))
        return isinstance(value, int) and not isinstance(value, bool) and value in condition.codes
    if isinstance(condition, Answered):
        return _is_answered(answers.get(condition.item)) == condition.answered
    if isinstance(condition, AllOf):
        return all(evaluate(c, answers) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, answers) for c in condition.conditions)
    return not evaluate(condition.condition, answers)


def referenced_items(condition: Condition) -> tuple[str, ...]:
    """Item ids the condition reads, in first-mention order, without repeats."""
    seen: dict[str, None] = {}
    stack: list[Condition] = [condition]
    while stack:
        cond = stack.pop()
        if isinstance(cond, ItemIn | Answered):
            seen.setdefault(cond.item, None)
        elif isinstance(cond, AllOf | AnyOf):
            stack.extend(reversed(cond.conditions))
        else:
            stack.append(cond.condition)
    return tuple(seen)


def leaves(condition: Condition) -> tuple[ItemIn | Answered, ...]:
    """The item tests of the condition, in order (for validating codes against items)."""
    out: list[ItemIn | Answered] = []
    stack: list[Condition] = [condition]
    while stack:
        cond = stack.pop()
        if isinstance(cond, ItemIn | Answered):
            out.append(cond)
        elif isinstance(cond, AllOf | AnyOf):
            stack.extend(reversed(cond.conditions))
        else:
            stack.append(cond.condition)
    return tuple(out)
