"""The interview engine: what the answers posted on one screen do to an interview.

Pure: the residents' web pages and the pollster console both hand it the stored answers, the
screen being answered and the posted form fields, and store what it returns (through
``survey.collection.responses``). Screens are those of ``visible_pages`` — ``"screening"``, the
unit identification, then the instrument's pages — with the unit identification either on one
screen ``"unit"`` (the console: street and community together) or one screen per level
``"unit:<level id>"`` (the phone-sized web pages).

``apply_screen`` parses and checks the screen's answers and returns every answer after the
screen (an invalid one is not kept, valid ones are, so nothing typed correctly is lost), the
errors by item, the screen to go on to, and — when the last screen is complete and every
required answer of the interview is there — the final answers (hidden items dropped). Going
``back`` keeps what is valid and does not ask for missing answers.

Answers are stored as JSON, so multiple choice is a list here; the checks of
``questionnaires.answers`` see it as a tuple.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from questionnaires.answers import (
    AnswerError,
    ScreeningOutcome,
    drop_hidden,
    is_answered,
    parse_form_answer,
    screening_outcome,
    validate_answers,
    visible_items,
    visible_pages,
)
from questionnaires.model import SCREENING_PAGE, UNIT_PAGE, AreaPrompt, Instrument, Item

UNIT_PREFIX = "unit:"
#: The district's streets and their communities (registry codes): what a unit answer may be.
UnitCodes = Mapping[str, Sequence[str]]

NOT_IN_LIST = "所选地点不在列表中，请重新选择"
NOT_IN_STREET = "所选社区（村）不属于所选街道（乡镇），请重新选择"


@dataclass(frozen=True, slots=True)
class ScreenResult:
    """What one screen's answers did.

    ``answers``: every answer after the screen (stored form); ``errors``: item (or unit level)
    id → Chinese message, in the screen's order; ``unknown_fields``: posted fields that are no
    question of this screen (a stale or tampered form: the caller ignores its own control
    fields); ``screening``: eligibility after the screen; ``next_screen``: the screen to show
    next when this one is complete (None on errors, going back, not eligible, or at the last
    screen); ``final``: the completed interview's answers when this screen finished it;
    ``missing``/``missing_screen``: at the last screen, the first answer an earlier screen still
    lacks and where it is asked.
    """

    answers: dict[str, object]
    errors: dict[str, str]
    screening: ScreeningOutcome
    unknown_fields: tuple[str, ...] = ()
    next_screen: str | None = None
    final: dict[str, object] | None = None
    missing: AnswerError | None = None
    missing_screen: str | None = None

    @property
    def done(self) -> bool:
        """True when this screen completed the interview (``final`` holds its answers)."""
        return self.final is not None


def core_answers(answers: Mapping[str, object]) -> dict[str, object]:
    """Stored answers as the checks take them (multiple choice as a tuple)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in answers.items()}


def screens(
    instrument: Instrument, answers: Mapping[str, object], *, unit_per_level: bool
) -> list[str]:
    """The screens for these answers, in order (``unit_per_level``: one per unit level)."""
    out: list[str] = []
    for page in visible_pages(instrument, core_answers(answers)):
        if page == UNIT_PAGE and unit_per_level:
            out.extend(UNIT_PREFIX + level.id for level in instrument.unit.levels)
        else:
            out.append(page)
    return out


def screen_levels(instrument: Instrument, screen: str) -> tuple[AreaPrompt, ...]:
    """The unit levels asked on ``screen`` (none for a question screen)."""
    if screen == UNIT_PAGE:
        return instrument.unit.levels
    return tuple(lv for lv in instrument.unit.levels if UNIT_PREFIX + lv.id == screen)


def screen_items(instrument: Instrument, answers: Mapping[str, object], screen: str) -> list[Item]:
    """The questions shown on ``screen`` for these answers (none for a unit screen)."""
    if screen == SCREENING_PAGE:
        return list(instrument.screening.items)
    shown = {it.id for it in visible_items(instrument, core_answers(answers))}
    return [it for p in instrument.pages if p.id == screen for it in p.items if it.id in shown]


def unit_choices(
    instrument: Instrument, level: AreaPrompt, units: UnitCodes, answers: Mapping[str, object]
) -> list[str]:
    """The codes a unit level may take: streets, or the communities of the chosen street (of
    every street while none is chosen)."""
    if level.level == "street":
        return list(units)
    street_level = next((lv for lv in instrument.unit.levels if lv.level == "street"), None)
    street = answers.get(street_level.id) if street_level else None
    if isinstance(street, str):
        return list(units.get(street, ()))
    return [c for communities in units.values() for c in communities]


def restart_screening(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, object]:
    """The answers without the screening answers: another adult of the household answers."""
    screening = {it.id for it in instrument.screening.items}
    return {k: v for k, v in answers.items() if k not in screening}


def _apply_units(
    instrument: Instrument,
    levels: Sequence[AreaPrompt],
    answers: dict[str, object],
    form: Mapping[str, Sequence[str]],
    units: UnitCodes,
    errors: dict[str, str],
) -> None:
    on_screen = {lv.id for lv in levels}
    for level in levels:
        values = [v.strip() for v in form.get(level.id, ()) if v.strip()]
        if not values:
            answers.pop(level.id, None)
            continue
        if len(values) != 1 or values[0] not in unit_choices(instrument, level, units, answers):
            # With the street on the same screen (the console), a community of another street
            # is a mismatch to explain; otherwise the value was not among the choices shown.
            foreign = level.level == "community" and any(values[0] in c for c in units.values())
            together = any(lv.level == "street" for lv in levels)
            errors[level.id] = NOT_IN_STREET if foreign and together else NOT_IN_LIST
            answers.pop(level.id, None)
            continue
        if level.level == "street" and answers.get(level.id) != values[0]:
            # Another street: a community chosen under the old one no longer fits.
            for other in instrument.unit.levels:
                if other.level == "community" and other.id not in on_screen:
                    answers.pop(other.id, None)
        answers[level.id] = values[0]


def apply_screen(
    instrument: Instrument,
    answers: Mapping[str, object],
    screen: str,
    form: Mapping[str, Sequence[str]],
    *,
    units: UnitCodes,
    unit_per_level: bool,
    back: bool = False,
) -> ScreenResult:
    """Apply the posted ``form`` (field → values) of ``screen`` to the stored ``answers``.

    ``units``: the district's streets and communities; ``unit_per_level``: the layout of the
    unit screens (see the module doc); ``back``: the respondent is going to the previous
    screen, so unanswered questions here are not errors yet (wrong answers still are)."""
    after = dict(answers)
    errors: dict[str, str] = {}
    levels = screen_levels(instrument, screen)
    if levels:
        expected = [lv.id for lv in levels]
        _apply_units(instrument, levels, after, form, units, errors)
    else:
        items = screen_items(instrument, answers, screen)
        expected = [it.id for it in items]
        for item in items:
            parsed = parse_form_answer(item, list(form.get(item.id, ())))
            if isinstance(parsed, AnswerError):
                errors[item.id] = parsed.message_zh
                after.pop(item.id, None)
            elif parsed is None:
                after.pop(item.id, None)
            else:
                after[item.id] = list(parsed) if isinstance(parsed, tuple) else parsed
    checked_page = UNIT_PAGE if levels else screen
    for problem in validate_answers(
        instrument, core_answers(after), partial=True, page=checked_page
    ):
        if problem.item not in expected or problem.item in errors:
            continue
        if back and not is_answered(after.get(problem.item)):
            continue  # going back: an unanswered question is not an error yet
        errors[problem.item] = problem.message_zh
    for key in errors:
        after.pop(key, None)
    ordered = {key: errors[key] for key in expected if key in errors}
    unknown = tuple(sorted(k for k in form if k not in expected))
    screening = screening_outcome(instrument, core_answers(after))
    result = ScreenResult(after, ordered, screening, unknown)
    if ordered or back or screening.status == "not_eligible":
        return result
    order = screens(instrument, after, unit_per_level=unit_per_level)
    if screen not in order:
        return result
    position = order.index(screen)
    if position < len(order) - 1:
        return ScreenResult(after, {}, screening, unknown, next_screen=order[position + 1])
    final = drop_hidden(instrument, core_answers(after))
    problems = validate_answers(instrument, final, partial=False)
    if not problems and screening.eligible:
        return ScreenResult(after, {}, screening, unknown, final=final)
    if not problems:
        return result
    first = problems[0].item
    where = next(
        (
            s
            for s in order
            if first in {lv.id for lv in screen_levels(instrument, s)}
            or first in {it.id for it in screen_items(instrument, final, s)}
        ),
        order[-1],
    )
    return ScreenResult(after, {}, screening, unknown, missing=problems[0], missing_screen=where)
