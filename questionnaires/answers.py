"""Pure answer handling: which items are shown, whether answers are valid, who is eligible.

Answers are a mapping from item id (or unit level id) to a value: ``int`` for single choice and
0–10 ratings (or a don't-know/refused code), a ``tuple``/``list`` of ints for multiple choice, a
``str`` for text and for the registry codes of the unit identification. ``None``, ``""`` and an
empty selection count as "not answered".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from questionnaires.conditions import evaluate
from questionnaires.model import (
    RATING_MAX,
    RATING_MIN,
    SCREENING_PAGE,
    UNIT_PAGE,
    Instrument,
    Item,
    ScreeningAction,
)

AnswerValue = int | str | tuple[int, ...]
MAX_UNIT_CODE_LENGTH = 64
_CODE_TEXT = re.compile(r"-?[0-9]{1,9}")


@dataclass(frozen=True)
class AnswerError:
    """A problem with one answer; ``message_zh`` is shown to the respondent next to the item."""

    item: str
    message_zh: str


@dataclass(frozen=True)
class ScreeningOutcome:
    """Result of the screening questions.

    ``status`` is ``eligible``, ``not_eligible`` or ``incomplete`` (a screening question is still
    unanswered). When not eligible, ``item`` is the first failed question, ``action`` what to do
    (``ask_other_adult`` or ``end``) and ``message`` the instrument's text for that action.
    """

    status: Literal["eligible", "not_eligible", "incomplete"]
    item: str | None = None
    action: ScreeningAction | None = None
    message: str = ""

    @property
    def eligible(self) -> bool:
        """True only when every screening question was answered with an eligible code."""
        return self.status == "eligible"


def is_answered(value: object) -> bool:
    """True unless ``value`` is None, an empty string or an empty selection."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return len(value) > 0
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def screening_outcome(instrument: Instrument, answers: Mapping[str, object]) -> ScreeningOutcome:
    """Eligibility from the screening answers, checked in order (the first failure decides)."""
    for question in instrument.screening.questions:
        value = answers.get(question.item.id)
        if not is_answered(value):
            return ScreeningOutcome("incomplete", item=question.item.id)
        if value not in question.eligible or not _is_int(value):
            return ScreeningOutcome(
                "not_eligible",
                item=question.item.id,
                action=question.action,
                message=instrument.screening.message(question.action),
            )
    return ScreeningOutcome("eligible")


def visible_items(instrument: Instrument, answers: Mapping[str, object]) -> list[Item]:
    """Items to ask given ``answers``, in order: screening items, then shown page items.

    A respondent found not eligible sees only the screening items. Conditions read the answers
    of visible items only, so hiding an item also hides what depends on it.
    """
    shown: list[Item] = list(instrument.screening.items)
    if screening_outcome(instrument, answers).status == "not_eligible":
        return shown
    effective: dict[str, object] = {it.id: answers.get(it.id) for it in shown}
    for page in instrument.pages:
        for item in page.items:
            if item.condition is None or evaluate(item.condition, effective):
                shown.append(item)
                effective[item.id] = answers.get(item.id)
    return shown


def visible_pages(instrument: Instrument, answers: Mapping[str, object]) -> list[str]:
    """Ids of the screens to show, in order: ``"screening"`` (if any), ``"unit"`` (if any), then
    each page with at least one visible item. A respondent not eligible gets ``["screening"]``."""
    shown = {it.id for it in visible_items(instrument, answers)}
    out: list[str] = [SCREENING_PAGE] if instrument.screening.questions else []
    if screening_outcome(instrument, answers).status == "not_eligible":
        return out
    if instrument.unit.levels:
        out.append(UNIT_PAGE)
    out.extend(p.id for p in instrument.pages if any(it.id in shown for it in p.items))
    return out


def drop_hidden(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, object]:
    """``answers`` without answers to hidden items or unknown keys (unit answers are kept)."""
    keep = {it.id for it in visible_items(instrument, answers)} | set(instrument.unit.ids)
    return {key: value for key, value in answers.items() if key in keep}


def _check_value(item: Item, value: object) -> str | None:
    """The Chinese error for an answered ``value`` of ``item``, or None if valid."""
    if item.type == "single":
        if not _is_int(value) or item.option(value) is None:  # type: ignore[arg-type]
            return "请从列出的选项中选择一项"
        return None
    if item.type == "rating_0_10":
        if _is_int(value) and (
            RATING_MIN <= value <= RATING_MAX  # type: ignore[operator]
            or item.option(value) is not None  # type: ignore[arg-type]
        ):
            return None
        return f"请选择 {RATING_MIN} 到 {RATING_MAX} 之间的分数"
    if item.type == "multiple":
        if not isinstance(value, list | tuple) or not all(_is_int(v) for v in value):
            return "请从列出的选项中选择"
        codes: list[int] = list(value)
        if any(item.option(c) is None for c in codes):
            return "所选内容不在本题的选项中，请重新选择"
        if len(set(codes)) != len(codes):
            return "同一选项不能重复选择"
        options = [item.option(c) for c in codes]
        if len(codes) > 1 and any(
            o is not None and (o.exclusive or not o.substantive) for o in options
        ):
            names = "、".join(
                o.label for o in options if o is not None and (o.exclusive or not o.substantive)
            )
            return f"“{names}”不能与其他选项同时选择"
        if item.min_choices is not None and len(codes) < item.min_choices:
            return f"请至少选择 {item.min_choices} 项"
        if item.max_choices is not None and len(codes) > item.max_choices:
            return f"最多只能选择 {item.max_choices} 项"
        return None
    if not isinstance(value, str):
        return "请填写文字"
    limit = item.max_length
    if limit is not None and len(value) > limit:
        return f"回答不能超过 {limit} 个字（现在 {len(value)} 个字）"
    return None


def validate_answers(
    instrument: Instrument,
    answers: Mapping[str, object],
    partial: bool,
    *,
    page: str | None = None,
) -> list[AnswerError]:
    """Every problem with ``answers``, in asking order, as Chinese messages for the respondent.

    Checks codes, 0–10 ranges, selections and text length of visible items; unknown keys are
    reported (a tampered form); answers to hidden items are ignored (``drop_hidden`` removes
    them). Missing required answers among visible items are reported when ``partial`` is False,
    or, with ``page`` given, for the visible items of that page (``"screening"`` and ``"unit"``
    name the screening and unit identification screens) even when ``partial`` is True — the
    page-by-page save.
    """
    errors: list[AnswerError] = []
    known = {it.id for it in instrument.iter_items()} | set(instrument.unit.ids)
    for key in answers:
        if key not in known:
            errors.append(AnswerError(str(key), "提交了问卷中不存在的题目，请刷新页面后重试"))
    visible = visible_items(instrument, answers)
    page_items: set[str] = set()
    if page is not None:
        page_items = {it.id for p in instrument.pages if p.id == page for it in p.items}
        if page == SCREENING_PAGE:
            page_items = {it.id for it in instrument.screening.items}
    for item in visible:
        value = answers.get(item.id)
        if not is_answered(value):
            must = (not partial) if page is None else (not partial or item.id in page_items)
            if item.required and must:
                errors.append(AnswerError(item.id, "此题为必答题，请作答"))
            continue
        message = _check_value(item, value)
        if message is not None:
            errors.append(AnswerError(item.id, message))
    if screening_outcome(instrument, answers).status == "not_eligible":
        return errors
    for level in instrument.unit.levels:
        value = answers.get(level.id)
        if not is_answered(value):
            if level.required and (not partial or page == UNIT_PAGE):
                errors.append(AnswerError(level.id, f"请选择您居住的{_LEVEL_NAMES[level.level]}"))
            continue
        if not isinstance(value, str) or len(value) > MAX_UNIT_CODE_LENGTH:
            errors.append(AnswerError(level.id, f"请从列表中选择{_LEVEL_NAMES[level.level]}"))
    return errors


_LEVEL_NAMES = {"street": "街道（乡镇）", "community": "社区（村）"}


def parse_form_answer(item: Item, raw: str | Sequence[str]) -> AnswerValue | AnswerError | None:
    """Convert form field text (one value, or all values for multiple choice) to an answer.

    Returns None for an empty field and an ``AnswerError`` for text that is not a code; range
    and option checks are left to ``validate_answers``.
    """
    values = [raw] if isinstance(raw, str) else list(raw)
    values = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if item.type == "text":
        return values[0] if values else None
    if not values:
        return None
    codes: list[int] = []
    for value in values:
        # ASCII digits only: int() would also take "1_0" or full-width digits from a tampered form.
        if not _CODE_TEXT.fullmatch(value):
            return AnswerError(item.id, "请从列出的选项中选择")
        codes.append(int(value))
    if item.type == "multiple":
        return tuple(codes)
    if len(codes) != 1:
        return AnswerError(item.id, "本题只能选择一项")
    return codes[0]
