"""The interview on the phone: the instrument's screens, saved page by page into a ``Response``
(mode ``phone``, interviewer set), so nothing typed is lost when the connection drops.

Screens are those of ``questionnaires.visible_pages``: ``screening``, ``unit`` (street and
community from the registry), then the instrument's pages. What a screen's answers do is the
interview engine's (``questionnaires.flow``, as on the residents' web pages); they are stored
through ``survey.collection.responses`` (the same instrument-freeze check, exactly-once
completion and demographic coding as the web). Saving the last screen with every required
answer completes the interview and records the ``complete`` outcome (AAPOR 1.1) in the same
transaction; the case row is locked first, so two consoles saving one case run one at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from questionnaires import (
    Instrument,
    InstrumentError,
    default_instruments,
    flow,
    screening_outcome,
    validate_answers,
    visible_pages,
)
from questionnaires.model import SCREENING_PAGE, UNIT_PAGE
from survey import waves
from survey.cati.attempts import record_attempt
from survey.cati.cases import CatiError, utc_now, whole_seconds
from survey.cati.outcomes import outcome_by_code
from survey.cati.queue import campaign_rules
from survey.cati.tables import Campaign, Case
from survey.collection import responses
from survey.db import lock_row, write_transaction
from survey.registry.tree import load_tree


@dataclass(frozen=True, slots=True)
class UnitChoice:
    """A street with its communities (registry codes and names) for the unit screen."""

    code: str
    name: str
    communities: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class InterviewState:
    """Where an interview stands: its ``answers`` so far, the screens to show and the one to
    show now, the screening result and the response's status."""

    response_id: int | None
    answers: dict[str, object]
    pages: list[str]
    page: str
    screening_status: str
    screening_message: str
    status: str


@dataclass(frozen=True, slots=True)
class SaveResult:
    """Outcome of saving a screen: ``errors`` (item → Chinese message), the state afterwards,
    and ``completed`` when this save finished the interview."""

    state: InterviewState
    errors: dict[str, str] = field(default_factory=dict)
    completed: bool = False


def instrument_for(instrument_id: str) -> Instrument:
    """The shipped instrument ``instrument_id`` (the file: its hash is the identity stored with
    each response); ``CatiError`` if unknown."""
    instrument = default_instruments().get(instrument_id)
    if instrument is None:
        raise CatiError(f"呼叫任务使用的问卷「{instrument_id}」不存在")
    return instrument


async def campaign_instrument(campaign_id: int, instrument_id: str) -> Instrument:
    """The instrument as the pollster reads it: per-department questions made for the 政法
    departments of the campaign's district in the registry (``青山区公安分局``,
    ``q_manyi_sifaju``), exactly as the residents' pages ask them, so phone and web answers
    name the same departments. The file's own list when the registry has none."""
    base = instrument_for(instrument_id)
    if not base.departments:
        return base
    campaign = await Campaign.select(Campaign.wave).where(Campaign.id == campaign_id).first()
    wave = None if campaign is None else await waves.wave_ref(int(campaign["wave"]))
    tree = None if wave is None else await load_tree(wave.region_id)
    departments = [] if tree is None else tree.departments_of(tree.root.code)
    if not departments:
        return base
    try:
        return base.with_departments([(d.code, d.name) for d in departments])
    except InstrumentError:
        return base


def _first_open_page(instrument: Instrument, answers: Mapping[str, object]) -> str:
    pages = visible_pages(instrument, answers)
    for page in pages:
        if validate_answers(instrument, answers, partial=True, page=page):
            return page
    return pages[-1]


def state_of(
    instrument: Instrument,
    response_id: int | None,
    answers: dict[str, object],
    status: str,
    page: str | None = None,
) -> InterviewState:
    """The interview state for ``answers``; ``page`` (if visible) else the first unfinished."""
    pages = visible_pages(instrument, answers)
    screening = screening_outcome(instrument, answers)
    current = page if page in pages else _first_open_page(instrument, answers)
    return InterviewState(
        response_id, answers, pages, current, screening.status, screening.message, status
    )


async def _case_row(case_id: int) -> dict[str, Any]:
    row = await Case.select().where(Case.id == case_id).first()
    if row is None:
        raise CatiError("该号码不存在")
    return row


async def load_interview(case_id: int, page: str | None = None) -> InterviewState:
    """The interview of a case as stored (no response yet: empty answers)."""
    case = await _case_row(case_id)
    campaign = (
        await Campaign.select(Campaign.instrument_id).where(Campaign.id == case["campaign"]).first()
    )
    assert campaign is not None
    instrument = await campaign_instrument(int(case["campaign"]), campaign["instrument_id"])
    record = await responses.get_response(int(case["response"])) if case["response"] else None
    if record is None:
        return state_of(instrument, None, {}, "", page)
    return state_of(instrument, record.id, record.answers, record.status, page)


async def unit_choices(campaign_id: int) -> list[UnitChoice]:
    """Streets and communities of the campaign's district (for the unit screen)."""
    campaign = await Campaign.select(Campaign.wave).where(Campaign.id == campaign_id).first()
    wave = None if campaign is None else await waves.wave_ref(int(campaign["wave"]))
    tree = None if wave is None else await load_tree(wave.region_id)
    if tree is None:
        return []
    return [
        UnitChoice(s.code, s.name, tuple((c.code, c.name) for c in tree.children(s.id)))
        for s in tree.at_level("street")
    ]


async def _unit_codes(campaign_id: int) -> dict[str, list[str]]:
    return {u.code: [code for code, _ in u.communities] for u in await unit_choices(campaign_id)}


async def save_screen(
    case_id: int,
    pollster_id: int,
    page: str,
    form: Mapping[str, Sequence[str]],
    *,
    restart_screening: bool = False,
    back: bool = False,
    now: dt.datetime | None = None,
) -> SaveResult:
    """Save one screen of a held case's interview (creating its response on the first save).

    Valid answers are stored even when others on the screen have errors; the interview moves
    on only when the screen is complete. ``restart_screening`` clears the screening answers
    (another adult of the household came to the phone). ``back``: the pollster is going to the
    previous screen, so missing answers here are not errors (wrong ones still are). Finishing
    the last screen completes the interview and records the ``complete`` outcome in the same
    transaction. ``CatiError`` when the pollster no longer holds the case, the wave is closed,
    the interview is already finished or the instrument changed under its version."""
    now = whole_seconds(now or utc_now())
    units: dict[str, list[str]] = {}
    if page == UNIT_PAGE and not restart_screening:
        case = await _case_row(case_id)
        units = await _unit_codes(int(case["campaign"]))
    try:
        async with write_transaction():
            result = await _save(
                case_id, pollster_id, page, form, restart_screening, back, now, units
            )
    except responses.InstrumentChanged as exc:
        raise CatiError(str(exc)) from exc
    return result


async def _save(
    case_id: int,
    pollster_id: int,
    page: str,
    form: Mapping[str, Sequence[str]],
    restart_screening: bool,
    back: bool,
    now: dt.datetime,
    units: flow.UnitCodes,
) -> SaveResult:
    # Two consoles (or a double submit) saving one case wait for each other here: one response
    # per case, one completion.
    await lock_row(Case, case_id)
    case = await _case_row(case_id)
    if case["state"] != "open" or case["held_by"] != pollster_id:
        raise CatiError("该号码已不在您名下（可能已超时释放或已结案），请取下一个号码")
    campaign = await Campaign.select().where(Campaign.id == case["campaign"]).first()
    assert campaign is not None
    try:  # a closed wave takes no more answers
        await waves.require(int(campaign["wave"]), "interview")
    except waves.WaveError as exc:
        raise CatiError(str(exc)) from exc
    identity = instrument_for(campaign["instrument_id"])  # stored and checked: the file
    instrument = await campaign_instrument(int(campaign["id"]), identity.id)  # asked
    rules = await campaign_rules(int(campaign["id"]))
    if case["response"] is None:
        record = await responses.start_response(
            wave_id=int(campaign["wave"]),
            instrument=identity,
            mode="phone",
            interviewer_id=pollster_id,
            stratum=case["stratum"],
            design_weight=case["design_weight"],
            now=now,
        )
        await Case.update({Case.response: record.id}).where(Case.id == case_id)
    else:
        stored = await responses.get_response(int(case["response"]))
        assert stored is not None
        if stored.status != "in_progress":
            raise CatiError("该访问已结束，不能再修改答案")
        record = stored
    if restart_screening:
        answers = flow.restart_screening(instrument, record.answers)
        errors: dict[str, str] = {}
        next_page: str | None = SCREENING_PAGE
        final = None
    else:
        result = flow.apply_screen(
            instrument, record.answers, page, form, units=units, unit_per_level=False, back=back
        )
        answers, errors, next_page, final = (
            result.answers, result.errors, result.next_screen, result.final
        )  # fmt: skip
    if final is not None:
        community = next(
            (final.get(lv.id) for lv in instrument.unit.levels if lv.level == "community"), None
        )
        await responses.ensure_instrument_frozen(record.wave_id, identity)
        completed = await responses.complete_response(
            record.id,
            final,
            identity,
            community_id=await responses.community_id(str(community)) if community else None,
            now=now,
        )
        if not completed:
            raise CatiError("该访问已结束，不能再修改答案")
        complete = outcome_by_code("complete")
        assert complete is not None
        await record_attempt(case_id, pollster_id, complete, f"complete-{record.id}", now)
        state = state_of(instrument, record.id, final, "completed", page)
        return SaveResult(state, {}, True)
    pages = visible_pages(instrument, flow.core_answers(answers))
    await responses.save_answers(
        record.id, answers, pages.index(page) if page in pages else 0, now=now
    )
    await Case.update({Case.next_call_at: now + rules.hold}).where(Case.id == case_id)
    state = state_of(instrument, record.id, answers, "in_progress", next_page or page)
    return SaveResult(state, errors, False)


async def wave_of_case(case_id: int) -> int:
    """The wave id of a case's campaign."""
    row = await Case.select(Case.campaign.wave).where(Case.id == case_id).first()
    if row is None:
        raise CatiError("该号码不存在")
    return int(row["campaign.wave"])
