"""The residents' web survey behind ``/s/<token>``: which screen to show, what a POST does.

A controller hands over the token, the wanted screen (``?p=``) or the posted form, and gets a
``PageResult`` (a template context, or a redirect target). Screens, in order: ``intro``
(consent), ``screening`` (if the instrument screens), one ``unit:<level>`` screen per unit
level (street, then community, picked from the registry), then each visible page of the
instrument. Answers are saved on every step (``responses.save_answers``), so the same link
resumes where the resident stopped; the last step completes the response exactly once.

Form fields: ``_screen`` (the screen being answered), ``_nav`` (``next``, ``back``,
``other_adult``, ``end``) and one field per item id (repeated for multiple choice).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from questionnaires import (
    AnswerError,
    Instrument,
    InstrumentError,
    default_instruments,
    drop_hidden,
    parse_form_answer,
    screening_outcome,
    validate_answers,
    visible_items,
    visible_pages,
)
from questionnaires.answers import is_answered
from questionnaires.model import SCREENING_PAGE, UNIT_PAGE, AreaPrompt, Item
from survey.collection import responses
from survey.collection.dispositions import PARTIAL, record_event
from survey.collection.invitations import personal_from_open
from survey.collection.responses import InstrumentChanged, InvitationRecord, ResponseRecord
from survey.db.tables import Unit
from survey.registry.tree import load_tree
from survey.waves import wave_ref

INTRO = "intro"
UNIT_PREFIX = "unit:"
CONTROL_FIELDS = frozenset({"_csrf_token", "_screen", "_nav"})
ViewKind = Literal["intro", "questions", "unit", "ineligible", "done", "problem"]

PROBLEMS: dict[str, tuple[int, str, str]] = {
    "unknown": (
        404,
        "链接无效",
        "没有找到这个调查链接。请检查短信中的链接是否完整（可以直接点击短信里的链接打开）。",
    ),
    "expired": (410, "链接已过期", "本次调查已经结束，这个链接已失效。感谢您的关注！"),
    "revoked": (410, "链接已停用", "这个调查链接已停用。如有疑问，请联系发送短信的单位。"),
    "closed": (410, "调查已结束", "本期调查已经结束，感谢您的关注！"),
    "phone": (
        410,
        "本调查已改为电话访问",
        "本调查已改为电话访问，工作人员将致电邀请您参加。感谢您的支持！",
    ),
    "changed": (
        503,
        "问卷正在更新",
        "问卷内容正在更新，暂时无法作答，请稍后再打开这个链接。已保存的回答不会丢失。",
    ),
}


@dataclass(frozen=True, slots=True)
class OptionView:
    """One choice as rendered: ``value`` is the form value, ``checked`` the current state."""

    value: str
    label: str
    checked: bool
    extra: bool = False  # don't-know / refused: shown apart from the scale


@dataclass(frozen=True, slots=True)
class ItemView:
    """One question on a screen. ``input`` is ``radio``, ``checkbox``, ``rating`` or ``text``."""

    id: str
    input: str
    text: str
    note: str
    required: bool
    options: tuple[OptionView, ...] = ()
    text_value: str = ""
    max_length: int | None = None
    error: str = ""
    searchable: bool = False


@dataclass(frozen=True, slots=True)
class SurveyView:
    """The context of ``templates/survey/page.html`` (one dataclass for every kind of screen).

    ``kind``: ``intro`` (consent), ``questions`` (screening or a page), ``unit`` (pick a street
    or community), ``ineligible`` (screening failed; ask another adult or end), ``done``
    (thank-you / already completed), ``problem`` (unknown, expired or closed link).
    ``step``/``steps`` drive the progress bar (0 = no bar); ``errors`` lists every error of
    the screen (each also shown at its item).
    """

    kind: ViewKind
    title: str
    heading: str
    text: str = ""
    action: str = ""
    screen: str = ""
    items: tuple[ItemView, ...] = ()
    errors: tuple[str, ...] = ()
    step: int = 0
    steps: int = 0
    can_go_back: bool = False
    final: bool = False
    status_code: int = 200


@dataclass(frozen=True, slots=True)
class PageResult:
    """What the controller returns: a page (``view``) or a redirect (``redirect`` path)."""

    view: SurveyView | None = None
    redirect: str | None = None
    invitation_id: int | None = None  # set with the intro of a personal link (opened event)


@dataclass(frozen=True, slots=True)
class WaveContext:
    """The wave's district and its registry data needed by the pages (cached briefly)."""

    wave_id: int
    region_id: int
    region_name: str
    departments: tuple[tuple[str, str], ...]
    streets: tuple[tuple[str, str], ...]
    communities: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


# Registry data changes rarely (an admin import); every page needs it, so each worker keeps it
# for a short while instead of querying it on every request.
_CACHE_SECONDS = 60.0
_wave_cache: dict[int, tuple[float, WaveContext]] = {}


async def wave_context(wave_id: int) -> WaveContext | None:
    """The wave's region, its 政法 departments, streets and communities (None: no such wave)."""
    hit = _wave_cache.get(wave_id)
    if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    wave = await wave_ref(wave_id)
    tree = None if wave is None else await load_tree(wave.region_id)
    if wave is None or tree is None:
        return None
    context = WaveContext(
        wave_id=wave_id,
        region_id=wave.region_id,
        region_name=wave.region_name,
        departments=tuple((d.code, d.name) for d in tree.departments_of(tree.root.code)),
        streets=tuple((s.code, s.name) for s in tree.at_level("street")),
        communities={
            s.code: tuple((c.code, c.name) for c in tree.children(s.id))
            for s in tree.at_level("street")
        },
    )
    _wave_cache[wave_id] = (time.monotonic(), context)
    return context


def instrument_for(instrument_id: str, context: WaveContext) -> Instrument | None:
    """The invitation's instrument with the district's departments (None if unknown)."""
    base = default_instruments().get(instrument_id)
    if base is None:
        return None
    if context.departments and base.departments:
        try:
            return base.with_departments(list(context.departments))
        except InstrumentError:
            return base
    return base


def screen_ids(instrument: Instrument, answers: Mapping[str, Any]) -> list[str]:
    """The screens for these answers, in order (see module doc)."""
    out = [INTRO]
    for page in visible_pages(instrument, answers):
        if page == UNIT_PAGE:
            out.extend(UNIT_PREFIX + level.id for level in instrument.unit.levels)
        else:
            out.append(page)
    return out


def _problem(key: str) -> PageResult:
    status, heading, text = PROBLEMS[key]
    return PageResult(SurveyView("problem", heading, heading, text, status_code=status))


def _done(instrument: Instrument | None, record: ResponseRecord) -> PageResult:
    if record.status == "screened_out" and instrument is not None:
        text = instrument.screening.message("end") or "感谢您的配合！"
        return PageResult(SurveyView("done", "感谢您的配合", "感谢您的配合", text))
    outro = instrument.outro if instrument is not None else "感谢您的参与！"
    return PageResult(
        SurveyView("done", "感谢参与", "您已完成本次调查", f"您的回答已经提交。{outro}")
    )


@dataclass(frozen=True, slots=True)
class _Loaded:
    invitation: InvitationRecord
    context: WaveContext
    instrument: Instrument  # with the district's departments: what the resident sees
    response: ResponseRecord | None

    @property
    def identity(self) -> Instrument:
        """The instrument as shipped (the file): its id, version and content hash are stored
        with the response and frozen per wave; department names are registry data."""
        return default_instruments()[self.instrument.id]


async def _load(token: str) -> _Loaded | PageResult:
    link = await responses.find_link(token)
    if link is None:
        return _problem("unknown")
    invitation, record = link
    context = await wave_context(invitation.wave_id)
    instrument = instrument_for(invitation.instrument_id, context) if context else None
    if context is None or instrument is None:
        return _problem("unknown")
    if record is not None and record.status != "in_progress":
        return _done(instrument, record)
    problem = responses.link_problem(invitation, datetime.datetime.now(datetime.UTC))
    if problem is not None:
        return _problem(problem)
    if not invitation.wave_open:
        return _problem("closed")
    return _Loaded(invitation, context, instrument, record)


async def _unit_id(code: str) -> int | None:
    # Looked up when written (not from the cache): ids must match the registry at this moment.
    row = await Unit.select(Unit.id).where(Unit.code == code).first()
    return int(row["id"]) if row else None


def _page_items(instrument: Instrument, screen: str, answers: Mapping[str, Any]) -> list[Item]:
    if screen == SCREENING_PAGE:
        return list(instrument.screening.items)
    shown = {it.id for it in visible_items(instrument, answers)}
    return [it for p in instrument.pages if p.id == screen for it in p.items if it.id in shown]


def _level(instrument: Instrument, screen: str) -> AreaPrompt | None:
    for level in instrument.unit.levels:
        if UNIT_PREFIX + level.id == screen:
            return level
    return None


def _unit_choices(
    instrument: Instrument, level: AreaPrompt, context: WaveContext, answers: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    if level.level == "street":
        return context.streets
    street_level = next((lv for lv in instrument.unit.levels if lv.level == "street"), None)
    street = answers.get(street_level.id) if street_level else None
    if isinstance(street, str):
        return context.communities.get(street, ())
    return tuple(c for s in context.streets for c in context.communities.get(s[0], ()))


def _item_view(item: Item, value: Any, raw: Sequence[str] | None, error: str) -> ItemView:
    if raw is not None:  # re-shown after an error: show exactly what was posted
        chosen = {str(v) for v in raw}
        text_value = raw[0] if raw else ""
    elif isinstance(value, list | tuple):
        chosen = {str(v) for v in value}
        text_value = ""
    else:
        chosen = {str(value)} if value is not None else set()
        text_value = value if isinstance(value, str) else ""
    if item.type == "text":
        return ItemView(
            item.id, "text", item.text, item.note, item.required, text_value=text_value,
            max_length=item.max_length, error=error,
        )  # fmt: skip
    options: list[OptionView] = []
    if item.type == "rating_0_10":
        options.extend(OptionView(str(v), str(v), str(v) in chosen) for v in range(11))
    options.extend(
        OptionView(
            str(o.code), o.label, str(o.code) in chosen,
            extra=item.type == "rating_0_10" or not o.substantive,
        )
        for o in item.options
    )  # fmt: skip
    kind = {"multiple": "checkbox", "rating_0_10": "rating"}.get(item.type, "radio")
    return ItemView(item.id, kind, item.text, item.note, item.required, tuple(options), error=error)


def _short(text: str, limit: int = 14) -> str:
    """A question's text shortened for the error summary, with a separator ('' if none)."""
    text = text.rstrip("？?。：:")
    if not text:
        return ""
    return (text if len(text) <= limit else text[: limit - 1] + "…") + "："


def _progress(screens: list[str], screen: str) -> tuple[int, int]:
    return screens.index(screen), len(screens) - 1


def _question_view(
    loaded: _Loaded,
    token: str,
    screens: list[str],
    screen: str,
    answers: Mapping[str, Any],
    *,
    raw: Mapping[str, Sequence[str]] | None = None,
    errors: Mapping[str, str] | None = None,
    general: Sequence[str] = (),
) -> SurveyView:
    instrument = loaded.instrument
    errors = errors or {}
    step, steps = _progress(screens, screen) if screen in screens else (0, 0)
    common: dict[str, Any] = {
        "action": f"/s/{token}",
        "screen": screen,
        "step": step,
        "steps": steps,
        "can_go_back": step > 1,
        "final": screen == screens[-1],
        "status_code": 422 if (errors or general) else 200,
    }
    if screen == INTRO:
        return SurveyView(
            "intro", instrument.title, instrument.title, instrument.intro,
            action=f"/s/{token}", screen=INTRO,
        )  # fmt: skip
    level = _level(instrument, screen)
    if level is not None:
        choices = _unit_choices(instrument, level, loaded.context, answers)
        current = raw[level.id][0] if raw and raw.get(level.id) else answers.get(level.id)
        view = ItemView(
            level.id, "radio", level.prompt, "", level.required,
            tuple(OptionView(code, name, code == current) for code, name in choices),
            error=errors.get(level.id, ""), searchable=len(choices) > 8,
        )  # fmt: skip
        messages = tuple(general) + tuple(errors.values())  # one question: no need to name it
        return SurveyView(
            "unit", instrument.title, "您居住的地方", items=(view,), errors=messages, **common
        )
    items = _page_items(instrument, screen, answers)
    views = tuple(
        _item_view(
            it, answers.get(it.id), raw.get(it.id, []) if raw is not None else None,
            errors.get(it.id, ""),
        )
        for it in items
    )  # fmt: skip
    if screen == SCREENING_PAGE:
        heading = "参加条件"
    else:
        heading = next((p.title for p in instrument.pages if p.id == screen), instrument.title)
    texts = {it.id: it.text for it in items}
    messages = tuple(general) + tuple(
        f"{_short(texts.get(key, ''))}{message}" for key, message in errors.items()
    )
    return SurveyView(
        "questions", instrument.title, heading, items=views, errors=messages, **common
    )


async def show(token: str, wanted: str | None = None) -> PageResult:
    """The page for a GET of ``/s/<token>`` (``wanted``: a screen already reached, for back
    navigation; otherwise the resident resumes at the furthest screen reached)."""
    loaded = await _load(token)
    if isinstance(loaded, PageResult):
        return loaded
    record = loaded.response
    answers: dict[str, Any] = record.answers if record else {}
    screens = screen_ids(loaded.instrument, answers)
    furthest = min(record.current_page, len(screens) - 1) if record else 0
    screen = screens[furthest]
    if wanted in screens and screens.index(wanted) <= furthest:
        screen = wanted
    if screen == SCREENING_PAGE:
        outcome = screening_outcome(loaded.instrument, answers)
        if outcome.status == "not_eligible":
            return PageResult(_ineligible_view(loaded, token, outcome.message))
    view = _question_view(loaded, token, screens, screen, answers)
    if view.kind == "intro" and loaded.invitation.status != "open":
        return PageResult(view, invitation_id=loaded.invitation.id)
    return PageResult(view)


def _ineligible_view(loaded: _Loaded, token: str, message: str) -> SurveyView:
    return SurveyView(
        "ineligible", loaded.instrument.title, "请家中其他成年人回答", message,
        action=f"/s/{token}", screen=SCREENING_PAGE,
    )  # fmt: skip


async def submit(token: str, form: Mapping[str, Sequence[str]]) -> PageResult:
    """Handle a POST of ``/s/<token>``: validate the posted screen, save, and go on (a redirect),
    or re-show the screen with its errors and the posted values (status 422)."""
    loaded = await _load(token)
    if isinstance(loaded, PageResult):
        # Completed (double click, replay, second tab), expired or unknown: the GET page says so.
        if loaded.view is not None and loaded.view.kind == "done":
            return PageResult(redirect=f"/s/{token}")
        return loaded
    screen = (form.get("_screen") or [""])[0]
    nav = (form.get("_nav") or ["next"])[0]
    try:
        if loaded.invitation.status == "open":
            # A public link: each consenting visitor continues on a personal link of their own.
            if screen != INTRO:
                return PageResult(redirect=f"/s/{token}")
            personal = await personal_from_open(loaded.invitation.id)
            return await submit(personal, {"_screen": [INTRO], "_nav": ["next"]})
        if loaded.response is None:
            if screen != INTRO:
                return PageResult(redirect=f"/s/{token}")
            inv = loaded.invitation
            await responses.start_response(
                wave_id=inv.wave_id,
                instrument=loaded.identity,
                mode="web",
                invitation_id=inv.id,
                stratum=inv.stratum,
                design_weight=inv.design_weight,
                non_probability=inv.open_link,
                current_page=1,  # consent given: past the intro in the same write
            )
            record = await responses.response_for_invitation(inv.id)
            assert record is not None
            if record.status != "in_progress":
                return PageResult(redirect=f"/s/{token}")
            screens = screen_ids(loaded.instrument, record.answers)
            if record.current_page < 1:  # the row of a concurrent twin that has not moved yet
                await responses.save_answers(record.id, record.answers, 1)
            return PageResult(redirect=f"/s/{token}?p={screens[1]}")
        return await _submit_screen(loaded, token, screen, nav, form)
    except InstrumentChanged:
        return _problem("changed")


async def _submit_screen(
    loaded: _Loaded, token: str, screen: str, nav: str, form: Mapping[str, Sequence[str]]
) -> PageResult:
    record = loaded.response
    assert record is not None
    instrument = loaded.instrument
    answers = dict(record.answers)
    screens = screen_ids(instrument, answers)
    furthest = min(record.current_page, len(screens) - 1)
    if screen not in screens or screens.index(screen) > furthest:
        view = _question_view(
            loaded, token, screens, screens[furthest], answers,
            general=["页面已过期或内容不完整，请在本页重新作答后继续"],
        )  # fmt: skip
        return PageResult(view)
    index = screens.index(screen)
    if screen == INTRO:
        # Consent given again (a start cut short after its insert, or a second tab): the
        # response moves past the intro, so the resident never loops on 同意并开始.
        if record.current_page < 1:
            await responses.save_answers(record.id, answers, 1)
        return PageResult(redirect=f"/s/{token}?p={screens[min(1, len(screens) - 1)]}")
    if screen == SCREENING_PAGE and nav in ("other_adult", "end"):
        return await _screening_choice(loaded, token, nav, answers)
    errors: dict[str, str] = {}
    general: list[str] = []
    expected: set[str]
    community_id: int | responses._Unchanged | None = responses.UNCHANGED
    level = _level(instrument, screen)
    if level is not None:
        expected = {level.id}
        value = [v.strip() for v in form.get(level.id, []) if v.strip()]
        choices = dict(_unit_choices(instrument, level, loaded.context, answers))
        if not value:
            answers.pop(level.id, None)
            if level.required and nav != "back":
                errors[level.id] = "请选择一项后再继续"
        elif len(value) != 1 or value[0] not in choices:
            errors[level.id] = "所选地点不在列表中，请重新选择"
        else:
            if answers.get(level.id) != value[0] and level.level == "street":
                for other in instrument.unit.levels:
                    if other.level == "community":
                        answers.pop(other.id, None)
                        community_id = None
            answers[level.id] = value[0]
            if level.level == "community":
                community_id = await _unit_id(value[0])
    else:
        items = _page_items(instrument, screen, answers)
        expected = {it.id for it in items}
        for item in items:
            parsed = parse_form_answer(item, list(form.get(item.id, [])))
            if isinstance(parsed, AnswerError):
                errors[item.id] = parsed.message_zh
                answers.pop(item.id, None)
            elif parsed is None:
                answers.pop(item.id, None)
            else:
                answers[item.id] = list(parsed) if isinstance(parsed, tuple) else parsed
        problems = validate_answers(instrument, _as_answers(answers), partial=True, page=screen)
        for problem in problems:
            if problem.item in expected and problem.item not in errors:
                if nav == "back" and not is_answered(answers.get(problem.item)):
                    continue  # going back: an unanswered question is not an error yet
                errors[problem.item] = problem.message_zh
    unknown = sorted(k for k in form if k not in CONTROL_FIELDS and k not in expected)
    if unknown:
        general.append("提交的内容与本页题目不符，请检查后重新提交")
    if errors or general:
        if nav == "back" and not general:
            # Going back keeps only the valid answers of this page; nothing is lost earlier.
            for key in errors:
                answers.pop(key, None)
            await responses.save_answers(record.id, answers, record.current_page)
            return PageResult(redirect=f"/s/{token}?p={screens[max(index - 1, 1)]}")
        raw = {k: list(v) for k, v in form.items() if k in expected}
        return PageResult(
            _question_view(
                loaded, token, screens, screen, record.answers,
                raw=raw, errors=errors, general=general,
            )
        )  # fmt: skip
    if nav == "back":
        await responses.save_answers(
            record.id, answers, record.current_page, community_id=community_id
        )
        return PageResult(redirect=f"/s/{token}?p={screens[max(index - 1, 1)]}")
    if screen == SCREENING_PAGE:
        outcome = screening_outcome(instrument, _as_answers(answers))
        if outcome.status == "not_eligible":
            await responses.save_answers(record.id, answers, index)
            if outcome.action == "end":
                return await _screening_choice(loaded, token, "end", answers)
            return PageResult(_ineligible_view(loaded, token, outcome.message))
    screens = screen_ids(instrument, _as_answers(answers))
    if screen in screens and screens.index(screen) < len(screens) - 1:
        following = screens[screens.index(screen) + 1]
        reached = max(record.current_page, screens.index(following))
        saved = await responses.save_answers(record.id, answers, reached, community_id=community_id)
        if saved and 2 * record.current_page < len(screens) <= 2 * reached:
            # Half the screens passed: a partial interview (AAPOR 1.2) if it stops here.
            await record_event(loaded.invitation.id, PARTIAL)
        return PageResult(redirect=f"/s/{token}" + ("" if not saved else f"?p={following}"))
    return await _finish(loaded, token, answers, screens, community_id)


def _as_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    # JSON gives lists; the core takes tuples for multiple choice.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in answers.items()}


async def _finish(
    loaded: _Loaded,
    token: str,
    answers: dict[str, Any],
    screens: list[str],
    community_id: int | responses._Unchanged | None,
) -> PageResult:
    record = loaded.response
    assert record is not None
    instrument = loaded.instrument
    final = drop_hidden(instrument, _as_answers(answers))
    problems = validate_answers(instrument, final, partial=False)
    if problems:
        # An earlier screen lacks an answer (a tampered or stale form): go back there.
        first = problems[0].item
        target = next(
            (s for s in screens if first in {it.id for it in _page_items(instrument, s, final)}
             or s == UNIT_PREFIX + first),
            screens[-1],
        )  # fmt: skip
        await responses.save_answers(record.id, answers, record.current_page)
        view = _question_view(
            loaded, token, screens, target, answers,
            errors={first: problems[0].message_zh},
            general=["还有题目没有回答，请补充后再提交"],
        )  # fmt: skip
        return PageResult(view)
    if isinstance(community_id, responses._Unchanged):
        community_id = record.community_id  # stored when the community was picked
    await responses.ensure_instrument_frozen(loaded.invitation.wave_id, loaded.identity)
    await responses.complete_response(record.id, final, loaded.identity, community_id=community_id)
    return PageResult(redirect=f"/s/{token}")


async def _screening_choice(
    loaded: _Loaded, token: str, nav: str, answers: dict[str, Any]
) -> PageResult:
    record = loaded.response
    assert record is not None
    if nav == "other_adult":
        for item in loaded.instrument.screening.items:
            answers.pop(item.id, None)
        await responses.save_answers(record.id, answers, 1)
        return PageResult(redirect=f"/s/{token}?p={SCREENING_PAGE}")
    outcome = screening_outcome(loaded.instrument, _as_answers(answers))
    if outcome.status != "not_eligible":
        return PageResult(redirect=f"/s/{token}")
    kept = {it.id: answers[it.id] for it in loaded.instrument.screening.items if it.id in answers}
    await responses.complete_response(record.id, kept, loaded.identity, status="screened_out")
    return PageResult(redirect=f"/s/{token}")
