"""The interview on the phone: the instrument's screens, saved page by page into a ``Response``
(mode ``phone``, interviewer set), so nothing typed is lost when the connection drops.

Screens are those of ``questionnaires.visible_pages``: ``screening``, ``unit`` (street and
community from the registry), then the instrument's pages. Saving the last screen with every
required answer completes the interview and records the ``complete`` outcome (AAPOR 1.1).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from questionnaires import (
    AnswerError,
    Instrument,
    Item,
    default_instruments,
    drop_hidden,
    parse_form_answer,
    screening_outcome,
    validate_answers,
    visible_items,
    visible_pages,
)
from questionnaires.model import SCREENING_PAGE, UNIT_PAGE
from survey import waves
from survey.cati.attempts import _record
from survey.cati.cases import CatiError, utc_now, whole_seconds
from survey.cati.outcomes import outcome_by_code
from survey.cati.queue import campaign_rules
from survey.cati.tables import Campaign, Case
from survey.collection.tables import Response
from survey.db import write_transaction
from survey.db.tables import AGE_GROUPS, Unit
from survey.registry.tree import load_tree

SEX_CODES = {1: "M", 2: "F"}


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
    """The shipped instrument ``instrument_id``; ``CatiError`` if unknown."""
    instrument = default_instruments().get(instrument_id)
    if instrument is None:
        raise CatiError(f"呼叫任务使用的问卷「{instrument_id}」不存在")
    return instrument


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
    instrument = instrument_for(campaign["instrument_id"])
    if case["response"] is None:
        return state_of(instrument, None, {}, "", page)
    response = (
        await Response.select(Response.answers, Response.status)
        .where(Response.id == case["response"])
        .first()
    )
    assert response is not None
    return state_of(
        instrument, int(case["response"]), json.loads(response["answers"]), response["status"], page
    )


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


def _screen_items(instrument: Instrument, answers: Mapping[str, object], page: str) -> list[Item]:
    if page == SCREENING_PAGE:
        return list(instrument.screening.items)
    shown = {it.id for it in visible_items(instrument, answers)}
    return [it for p in instrument.pages if p.id == page for it in p.items if it.id in shown]


def parse_screen(
    instrument: Instrument,
    answers: Mapping[str, object],
    page: str,
    form: Mapping[str, Sequence[str]],
    units: Sequence[UnitChoice],
) -> tuple[dict[str, object], dict[str, str]]:
    """The answers of one screen from form fields (item id → values), and parse errors."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    if page == UNIT_PAGE:
        streets = {u.code: u for u in units}
        for level in instrument.unit.levels:
            raw = [v.strip() for v in form.get(level.id, ()) if v.strip()]
            values[level.id] = raw[0] if raw else None
        street_id, community_id = (lv.id for lv in instrument.unit.levels[:2])
        street, community = values.get(street_id), values.get(community_id)
        if street is not None and street not in streets:
            errors[street_id] = "请从列表中选择街道（乡镇）"
        elif community is not None and (
            street is None or community not in {c for c, _ in streets[str(street)].communities}
        ):
            errors[community_id] = "所选社区（村）不属于所选街道（乡镇），请重新选择"
        return values, errors
    for item in _screen_items(instrument, answers, page):
        parsed = parse_form_answer(item, list(form.get(item.id, ())))
        if isinstance(parsed, AnswerError):
            errors[item.id] = parsed.message_zh
        else:
            values[item.id] = parsed
    return values, errors


def _demographics(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, str]:
    out = {"sex": "", "age_group": ""}
    for demo in instrument.demographics:
        value = answers.get(demo.item)
        if demo.variable == "sex" and isinstance(value, int):
            out["sex"] = SEX_CODES.get(value, "")
        if demo.variable == "age_group" and isinstance(value, int):
            codes = [o.code for o in instrument.item(demo.item).options if o.substantive]
            if len(codes) == len(AGE_GROUPS) and value in codes:
                out["age_group"] = AGE_GROUPS[codes.index(value)]
    return out


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
    previous screen, so missing answers here are not errors (wrong ones still are). Finishing the last screen completes
    the interview and records the ``complete`` outcome in the same transaction."""
    now = whole_seconds(now or utc_now())
    units: list[UnitChoice] = []
    if page == UNIT_PAGE:
        case = await _case_row(case_id)
        units = await unit_choices(int(case["campaign"]))
    async with write_transaction():
        result = await _save(case_id, pollster_id, page, form, restart_screening, back, now, units)
    return result


async def _save(
    case_id: int,
    pollster_id: int,
    page: str,
    form: Mapping[str, Sequence[str]],
    restart_screening: bool,
    back: bool,
    now: dt.datetime,
    units: Sequence[UnitChoice],
) -> SaveResult:
    case = await _case_row(case_id)
    if case["state"] != "open" or case["held_by"] != pollster_id:
        raise CatiError("该号码已不在您名下（可能已超时释放或已结案），请取下一个号码")
    campaign = await Campaign.select().where(Campaign.id == case["campaign"]).first()
    assert campaign is not None
    try:  # a closed wave takes no more answers
        await waves.require(int(campaign["wave"]), "interview")
    except waves.WaveError as exc:
        raise CatiError(str(exc)) from exc
    instrument = instrument_for(campaign["instrument_id"])
    rules = await campaign_rules(int(campaign["id"]))
    response_id = case["response"]
    answers: dict[str, object] = {}
    if response_id is None:
        result = await Response.insert(
            Response(
                wave=campaign["wave"],
                instrument_id=instrument.id,
                instrument_version=str(instrument.version),
                instrument_hash=instrument.content_hash,
                mode="phone",
                status="in_progress",
                stratum=case["stratum"],
                design_weight=case["design_weight"],
                interviewer=pollster_id,
                started_at=now,
                updated_at=now,
            )
        ).returning(Response.id)
        response_id = int(result[0]["id"])
        await Case.update({Case.response: response_id}).where(Case.id == case_id)
    else:
        stored = (
            await Response.select(Response.answers, Response.status)
            .where(Response.id == response_id)
            .first()
        )
        assert stored is not None
        if stored["status"] != "in_progress":
            raise CatiError("该访问已结束，不能再修改答案")
        answers = json.loads(stored["answers"])
    if restart_screening:
        for item in instrument.screening.items:
            answers.pop(item.id, None)
        errors: dict[str, str] = {}
    else:
        values, errors = parse_screen(instrument, answers, page, form, units)
        for key, value in values.items():
            if key in errors:
                continue
            if value is None:
                answers.pop(key, None)
            else:
                answers[key] = list(value) if isinstance(value, tuple) else value
        answers = drop_hidden(instrument, answers)
        checked_page = None if back else page
        for problem in validate_answers(instrument, answers, partial=True, page=checked_page):
            # A stored value with a problem is invalid (missing ones are not stored): drop it.
            errors.setdefault(problem.item, problem.message_zh)
            answers.pop(problem.item, None)
    pages = visible_pages(instrument, answers)
    done = (
        not errors
        and not restart_screening
        and not back
        and page == pages[-1]
        and screening_outcome(instrument, answers).eligible
        and not validate_answers(instrument, answers, partial=False)
    )
    update: dict[object, object] = {
        Response.answers: json.dumps(answers, ensure_ascii=False, sort_keys=True),
        Response.updated_at: now,
        Response.current_page: pages.index(page) if page in pages else 0,
    }
    if done:
        started = (
            await Response.select(Response.started_at).where(Response.id == response_id).first()
        )
        assert started is not None
        demo = _demographics(instrument, answers)
        community_code = next(
            (answers.get(lv.id) for lv in instrument.unit.levels if lv.level == "community"),
            None,
        )
        community = (
            await Unit.select(Unit.id).where(Unit.code == str(community_code)).first()
            if community_code
            else None
        )
        update.update(
            {
                Response.status: "completed",
                Response.completed_at: now,
                Response.duration_seconds: int((now - started["started_at"]).total_seconds()),
                Response.sex: demo["sex"],
                Response.age_group: demo["age_group"],
                Response.community: community["id"] if community else None,
            }
        )
    await Response.update(update).where(Response.id == response_id)  # type: ignore[arg-type]
    if done:
        complete = outcome_by_code("complete")
        assert complete is not None
        await _record(
            case_id, pollster_id, complete, f"complete-{response_id}", now, None, False, ""
        )
    else:
        await Case.update({Case.next_call_at: now + rules.hold}).where(Case.id == case_id)
    next_page: str | None = None
    if not errors and not done and not restart_screening and page in pages:
        position = pages.index(page)
        next_page = pages[min(position + 1, len(pages) - 1)]
    if restart_screening:
        next_page = SCREENING_PAGE
    state = state_of(
        instrument,
        response_id,
        answers,
        "completed" if done else "in_progress",
        next_page or page,
    )
    return SaveResult(state, errors, done)


async def wave_of_case(case_id: int) -> int:
    """The wave id of a case's campaign."""
    row = await Case.select(Case.campaign.wave).where(Case.id == case_id).first()
    if row is None:
        raise CatiError("该号码不存在")
    return int(row["campaign.wave"])
