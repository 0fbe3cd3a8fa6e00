"""Read services of the pollster console: a case with its attempt history, the pollster's
campaign list with today's figures and upcoming appointments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from questionnaires import Instrument, Item, flow
from questionnaires.model import UNIT_PAGE
from survey.cati.cases import CatiError, utc_now
from survey.cati.interview import InterviewState
from survey.cati.outcomes import default_outcomes
from survey.cati.supervisor import CampaignView, list_campaigns
from survey.cati.tables import CallAttempt, Campaign, Case

OUTCOME_LABELS = {o.code: o.label for o in default_outcomes()}


def local_text(at: dt.datetime | None, timezone: str) -> str:
    """``at`` as ``MM-DD HH:MM`` in ``timezone`` ('' for None)."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M") if at else ""


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One past attempt as shown in the console."""

    when: str
    outcome: str
    interviewer: str
    minutes: float
    note: str


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as the console shows it (times in the campaign's local time)."""

    id: int
    campaign_id: int
    campaign_name: str
    instrument_id: str
    timezone: str
    phone: str
    stratum: str
    attempts: int
    max_attempts: int
    state: str
    held_by: int | None
    appointment: str
    personal_appointment: bool
    history: tuple[AttemptView, ...]


async def case_view(case_id: int, district_id: int | None) -> CaseView:
    """A case of a campaign the user may see; ``CatiError`` if none."""
    case = await Case.select().where(Case.id == case_id).first()
    if case is None or case["campaign"] not in {c.id for c in await list_campaigns(district_id)}:
        raise CatiError("没有找到该号码，或您无权查看")
    campaign = await Campaign.select().where(Campaign.id == case["campaign"]).first()
    assert campaign is not None
    zone = campaign["timezone"]
    attempts = (
        await CallAttempt.select(
            CallAttempt.started_at,
            CallAttempt.ended_at,
            CallAttempt.outcome,
            CallAttempt.note,
            CallAttempt.interviewer.display_name,
        )
        .where(CallAttempt.call_case == case_id)
        .order_by(CallAttempt.id)
    )
    history = tuple(
        AttemptView(
            local_text(a["started_at"], zone),
            OUTCOME_LABELS.get(a["outcome"], a["outcome"]),
            a["interviewer.display_name"] or "",
            round((a["ended_at"] - a["started_at"]).total_seconds() / 60, 1),
            a["note"],
        )
        for a in attempts
    )
    return CaseView(
        id=int(case["id"]),
        campaign_id=int(campaign["id"]),
        campaign_name=campaign["name"],
        instrument_id=campaign["instrument_id"],
        timezone=zone,
        phone=case["phone"],
        stratum=case["stratum"],
        attempts=int(case["attempts"]),
        max_attempts=int(campaign["max_attempts"]),
        state=case["state"],
        held_by=case["held_by"],
        appointment=local_text(case["appointment_at"], zone),
        personal_appointment=case["appointment_user"] is not None,
        history=history,
    )


@dataclass(frozen=True, slots=True)
class PollsterCampaign:
    """A campaign on the pollster's page: today's calls and completes by this pollster, the
    case they hold (if any) and their upcoming personal appointments (local times)."""

    campaign: CampaignView
    calls_today: int
    completes_today: int
    held_case: int | None
    appointments: tuple[tuple[str, str], ...]


async def pollster_campaigns(
    pollster_id: int, district_id: int | None, now: dt.datetime | None = None
) -> list[PollsterCampaign]:
    """The campaigns a pollster may call, with their own figures for today (local day)."""
    now = now or utc_now()
    out: list[PollsterCampaign] = []
    for view in await list_campaigns(district_id):
        campaign = await Campaign.select(Campaign.timezone).where(Campaign.id == view.id).first()
        assert campaign is not None
        zone = ZoneInfo(campaign["timezone"])
        local = now.astimezone(zone)
        day_start = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone).astimezone(dt.UTC)
        today = await CallAttempt.select(CallAttempt.outcome).where(
            (CallAttempt.interviewer == pollster_id)
            & (CallAttempt.call_case.campaign == view.id)
            & (CallAttempt.ended_at >= day_start)
        )
        held = (
            await Case.select(Case.id)
            .where(
                (Case.campaign == view.id)
                & (Case.held_by == pollster_id)
                & (Case.state == "open")
                & (Case.next_call_at > now)
            )
            .first()
        )
        appointments = (
            await Case.select(Case.appointment_at, Case.phone)
            .where(
                (Case.campaign == view.id)
                & (Case.appointment_user == pollster_id)
                & (Case.state == "open")
            )
            .order_by(Case.appointment_at)
            .limit(10)
        )
        out.append(
            PollsterCampaign(
                view,
                len(today),
                sum(1 for a in today if a["outcome"] == "complete"),
                int(held["id"]) if held else None,
                tuple(
                    (local_text(a["appointment_at"], campaign["timezone"]), a["phone"])
                    for a in appointments
                ),
            )
        )
    return out


def parse_local_datetime(text: str, timezone: str) -> dt.datetime:
    """A ``datetime-local`` form value (``2026-11-24T15:30``) in ``timezone`` → aware UTC."""
    try:
        naive = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CatiError("预约时间格式应为 年-月-日 时:分，例如 2026-11-25 15:30") from exc
    if naive.tzinfo is not None:
        raise CatiError("预约时间请填写当地时间，不要带时区")
    return naive.replace(tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Question:
    """An item ready for the form: ``choices`` as (value, label) with ``selected`` values."""

    id: str
    text: str
    note: str
    type: str
    required: bool
    choices: tuple[tuple[str, str], ...]
    selected: tuple[str, ...]
    text_value: str


@dataclass(frozen=True, slots=True)
class ScreenView:
    """The screen of the interview to show: its questions (or the unit choice), position,
    and the screening verdict when the respondent did not qualify."""

    page: str
    title: str
    number: int
    count: int
    questions: tuple[Question, ...]
    is_unit: bool
    screening_failed: bool
    screening_message: str
    previous: str | None


PAGE_TITLES = {"screening": "甄别", "unit": "居住地"}


def _question(item: Item, value: object) -> Question:
    if item.type == "rating_0_10":
        choices = [(str(v), str(v)) for v in range(11)]
        choices += [(str(o.code), o.label) for o in item.options]
    else:
        choices = [(str(o.code), o.label) for o in item.options]
    if isinstance(value, list | tuple):
        selected = tuple(str(v) for v in value)
    elif value is None or item.type == "text":
        selected = ()
    else:
        selected = (str(value),)
    return Question(
        item.id,
        item.text,
        item.note,
        item.type,
        item.required,
        tuple(choices),
        selected,
        value if isinstance(value, str) and item.type == "text" else "",
    )


def screen_view(instrument: Instrument, state: InterviewState) -> ScreenView:
    """What the console shows for ``state.page``."""
    answers = state.answers
    page = state.page
    items = flow.screen_items(instrument, answers, page)
    titles = {p.id: p.title for p in instrument.pages} | PAGE_TITLES
    position = state.pages.index(page) if page in state.pages else 0
    return ScreenView(
        page=page,
        title=titles.get(page, page),
        number=position + 1,
        count=len(state.pages),
        questions=tuple(_question(it, answers.get(it.id)) for it in items),
        is_unit=page == UNIT_PAGE,
        screening_failed=state.screening_status == "not_eligible",
        screening_message=state.screening_message,
        previous=state.pages[position - 1] if position > 0 else None,
    )
