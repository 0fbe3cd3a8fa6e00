"""The residents' web survey behind ``/s/<token>``: which screen to show, what a POST does.

A controller hands over the token, the wanted screen (``?p=``) or the posted form, and gets a
``PageResult``: a ``Screen`` to show (its page and words are the web layer's,
``survey.web.survey_views``) or a redirect target. Screens, in order: ``intro`` (consent),
``screening`` (if the instrument screens), one ``unit:<level>`` screen per unit level (street,
then community, picked from the registry), then each visible page of the instrument. What a
screen's answers do is the interview engine's (``questionnaires.flow``, as on the pollster
console). Answers are saved on every step (``responses.save_answers``), so the same link
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
    Instrument,
    InstrumentError,
    default_instruments,
    flow,
    screening_outcome,
)
from questionnaires.model import SCREENING_PAGE, AreaPrompt, Item
from survey.collection import responses
from survey.collection.dispositions import PARTIAL, record_event
from survey.collection.invitations import personal_from_open
from survey.collection.responses import InstrumentChanged, InvitationRecord, ResponseRecord
from survey.registry.tree import load_tree
from survey.waves import wave_ref

INTRO = "intro"
UNIT_PREFIX = flow.UNIT_PREFIX
CONTROL_FIELDS = frozenset({"_csrf_token", "_screen", "_nav"})
ScreenKind = Literal["intro", "questions", "unit", "ineligible", "done", "problem"]
#: Why a screen is shown again: ``stale`` (a screen not reached, or an old form), ``mismatch``
#: (fields that are no question of the screen), ``incomplete`` (an earlier screen lacks an
#: answer at the final submit).
Notice = Literal["stale", "mismatch", "incomplete"]


@dataclass(frozen=True, slots=True)
class Screen:
    """A screen to show. ``kind``: ``intro`` (consent), ``questions`` (screening or a page, its
    ``items``), ``unit`` (pick one of ``choices`` for ``level``), ``ineligible`` (screening
    failed: ``message`` is the instrument's), ``done`` (completed, or ``screened_out``),
    ``problem`` (the link cannot be used: ``problem`` is ``unknown``, ``expired``,
    ``revoked``, ``closed``, ``phone`` or ``changed``).

    ``screens`` are the screens for the answers (for the progress bar), ``answers`` the stored
    ones, ``raw`` the posted fields of a screen shown again with ``errors`` (item → message)
    and ``notices``."""

    kind: ScreenKind
    instrument: Instrument | None = None
    screen: str = ""
    screens: tuple[str, ...] = ()
    answers: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[Item, ...] = ()
    level: AreaPrompt | None = None
    choices: tuple[tuple[str, str], ...] = ()
    raw: Mapping[str, Sequence[str]] | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()
    problem: str = ""
    screened_out: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class PageResult:
    """What the controller gets: a screen to show or a redirect (``redirect`` path)."""

    screen: Screen | None = None
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

    @property
    def unit_codes(self) -> dict[str, list[str]]:
        """Street code → its community codes (what the unit screens accept)."""
        return {code: [c for c, _ in self.communities.get(code, ())] for code, _ in self.streets}


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
    return [INTRO, *flow.screens(instrument, answers, unit_per_level=True)]


def _problem(key: str) -> PageResult:
    return PageResult(Screen("problem", problem=key))


def _done(instrument: Instrument, record: ResponseRecord) -> PageResult:
    return PageResult(Screen("done", instrument, screened_out=record.status == "screened_out"))


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


def _unit_choices(
    instrument: Instrument, level: AreaPrompt, context: WaveContext, answers: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    names = dict(context.streets)
    if level.level != "street":
        names = {c: n for s, _ in context.streets for c, n in context.communities.get(s, ())}
    codes = flow.unit_choices(instrument, level, context.unit_codes, answers)
    return tuple((code, names[code]) for code in codes)


def _screen(
    loaded: _Loaded,
    screens: list[str],
    screen: str,
    answers: Mapping[str, Any],
    *,
    raw: Mapping[str, Sequence[str]] | None = None,
    errors: Mapping[str, str] | None = None,
    notices: tuple[Notice, ...] = (),
) -> Screen:
    instrument = loaded.instrument
    common: dict[str, Any] = {
        "instrument": instrument,
        "screen": screen,
        "screens": tuple(screens),
        "answers": answers,
    }
    if screen == INTRO:
        return Screen("intro", **common)
    shown: dict[str, Any] = {"raw": raw, "errors": errors or {}, "notices": notices}
    levels = flow.screen_levels(instrument, screen)
    if levels:
        choices = _unit_choices(instrument, levels[0], loaded.context, answers)
        return Screen("unit", level=levels[0], choices=choices, **common, **shown)
    items = tuple(flow.screen_items(instrument, answers, screen))
    return Screen("questions", items=items, **common, **shown)


def _ineligible(loaded: _Loaded, message: str) -> Screen:
    return Screen("ineligible", loaded.instrument, SCREENING_PAGE, message=message)


async def show(token: str, wanted: str | None = None) -> PageResult:
    """The screen for a GET of ``/s/<token>`` (``wanted``: a screen already reached, for back
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
        outcome = screening_outcome(loaded.instrument, flow.core_answers(answers))
        if outcome.status == "not_eligible":
            return PageResult(_ineligible(loaded, outcome.message))
    shown = _screen(loaded, screens, screen, answers)
    if shown.kind == "intro" and loaded.invitation.status != "open":
        return PageResult(shown, invitation_id=loaded.invitation.id)
    return PageResult(shown)


async def submit(token: str, form: Mapping[str, Sequence[str]]) -> PageResult:
    """Handle a POST of ``/s/<token>``: validate the posted screen, save, and go on (a redirect),
    or re-show the screen with its errors and the posted values (status 422)."""
    loaded = await _load(token)
    if isinstance(loaded, PageResult):
        # Completed (double click, replay, second tab), expired or unknown: the GET page says so.
        if loaded.screen is not None and loaded.screen.kind == "done":
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


async def _community_change(
    instrument: Instrument, before: Mapping[str, Any], after: Mapping[str, Any]
) -> int | responses.Unchanged | None:
    """The community id to store when the community answer changed (looked up when written,
    not from the cache: ids must match the registry at this moment)."""
    for level in instrument.unit.levels:
        if level.level == "community" and after.get(level.id) != before.get(level.id):
            code = after.get(level.id)
            return await responses.community_id(str(code)) if code else None
    return responses.UNCHANGED


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
        shown = _screen(loaded, screens, screens[furthest], answers, notices=("stale",))
        return PageResult(shown)
    index = screens.index(screen)
    if screen == INTRO:
        # Consent given again (a start cut short after its insert, or a second tab): the
        # response moves past the intro, so the resident never loops on 同意并开始.
        if record.current_page < 1:
            await responses.save_answers(record.id, answers, 1)
        return PageResult(redirect=f"/s/{token}?p={screens[min(1, len(screens) - 1)]}")
    if screen == SCREENING_PAGE and nav in ("other_adult", "end"):
        return await _screening_choice(loaded, token, nav, answers)
    back = nav == "back"
    fields = {k: v for k, v in form.items() if k not in CONTROL_FIELDS}
    result = flow.apply_screen(
        instrument, answers, screen, fields,
        units=loaded.context.unit_codes, unit_per_level=True, back=back,
    )  # fmt: skip
    community_id = await _community_change(instrument, answers, result.answers)
    notices: tuple[Notice, ...] = ("mismatch",) if result.unknown_fields else ()
    previous = f"/s/{token}?p={screens[max(index - 1, 1)]}"
    if result.errors or notices:
        if back and not notices:
            # Going back keeps only the valid answers of this page; nothing is lost earlier.
            await responses.save_answers(
                record.id, result.answers, record.current_page, community_id=community_id
            )
            return PageResult(redirect=previous)
        raw = {k: list(v) for k, v in fields.items() if k not in result.unknown_fields}
        shown = _screen(
            loaded, screens, screen, record.answers,
            raw=raw, errors=result.errors, notices=notices,
        )  # fmt: skip
        return PageResult(shown)
    answers = result.answers
    if back:
        await responses.save_answers(
            record.id, answers, record.current_page, community_id=community_id
        )
        return PageResult(redirect=previous)
    if screen == SCREENING_PAGE and result.screening.status == "not_eligible":
        await responses.save_answers(record.id, answers, index)
        if result.screening.action == "end":
            return await _screening_choice(loaded, token, "end", answers)
        return PageResult(_ineligible(loaded, result.screening.message))
    screens = screen_ids(instrument, answers)
    if result.next_screen is not None:
        following = result.next_screen
        reached = max(record.current_page, screens.index(following))
        saved = await responses.save_answers(record.id, answers, reached, community_id=community_id)
        if saved and 2 * record.current_page < len(screens) <= 2 * reached:
            # Half the screens passed: a partial interview (AAPOR 1.2) if it stops here.
            await record_event(loaded.invitation.id, PARTIAL)
        return PageResult(redirect=f"/s/{token}" + ("" if not saved else f"?p={following}"))
    if result.final is not None:
        if isinstance(community_id, responses.Unchanged):
            community_id = record.community_id  # stored when the community was picked
        await responses.ensure_instrument_frozen(loaded.invitation.wave_id, loaded.identity)
        await responses.complete_response(
            record.id, result.final, loaded.identity, community_id=community_id
        )
        return PageResult(redirect=f"/s/{token}")
    if result.missing is not None and result.missing_screen is not None:
        # An earlier screen lacks an answer (a tampered or stale form): go back there.
        await responses.save_answers(
            record.id, answers, record.current_page, community_id=community_id
        )
        shown = _screen(
            loaded, screens, result.missing_screen, answers,
            errors={result.missing.item: result.missing.message_zh}, notices=("incomplete",),
        )  # fmt: skip
        return PageResult(shown)
    return PageResult(redirect=f"/s/{token}")


async def _screening_choice(
    loaded: _Loaded, token: str, nav: str, answers: dict[str, Any]
) -> PageResult:
    record = loaded.response
    assert record is not None
    if nav == "other_adult":
        answers = flow.restart_screening(loaded.instrument, answers)
        await responses.save_answers(record.id, answers, 1)
        return PageResult(redirect=f"/s/{token}?p={SCREENING_PAGE}")
    outcome = screening_outcome(loaded.instrument, flow.core_answers(answers))
    if outcome.status != "not_eligible":
        return PageResult(redirect=f"/s/{token}")
    kept = {it.id: answers[it.id] for it in loaded.instrument.screening.items if it.id in answers}
    await responses.complete_response(record.id, kept, loaded.identity, status="screened_out")
    return PageResult(redirect=f"/s/{token}")
