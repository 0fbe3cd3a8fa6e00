"""The demo city's telephone campaign: numbers drawn from number blocks (seeded), a running
campaign with targets per street, three past days of calls by four pollsters with varied
outcomes, completed interviews, appointments and a back-check draw. Idempotent: a campaign that
already has cases is left alone."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from questionnaires import visible_pages
from questionnaires.model import SCREENING_PAGE, UNIT_PAGE
from sampling.numbers import MobileBlock, generate_mobile_numbers
from survey.accounts import create_user
from survey.cati.attempts import record_outcome
from survey.cati.cases import add_cases_from_sample, ensure_campaign, utc_now
from survey.cati.interview import campaign_instrument, load_interview, save_screen, unit_choices
from survey.cati.queue import next_case
from survey.cati.supervisor import draw_back_check, record_back_check
from survey.cati.tables import BackCheck, CallAttempt, Campaign, Case
from survey.db import write_transaction
from survey.db.tables import AppUser, Unit
from survey.demo_context import DEMO_PASSWORD, DemoContext
from survey.design.tables import Sample, SampledElement, StratumTarget

EXTRA_POLLSTERS = (("pollster3", "王访问员"), ("pollster4", "刘访问员"))
PER_STREET = 40  # numbers drawn per street (3 of 4 released, 1 of 4 held in reserve)
TARGET_PER_STREET = 12
TARGET_SHARE = 0.3  # target completes per stratum as a share of its released numbers
SIMULATED_DAYS = 2  # the two days before yesterday; the campaign started three days ago
CALL_MINUTES = 10  # simulated calling each morning per pollster
ZONE = ZoneInfo("Asia/Shanghai")
# Outcome of a dial in the simulation (before interviews): (code, probability).
DIAL_OUTCOMES = (
    ("no_answer", 0.30), ("busy", 0.07), ("answering_machine", 0.08), ("refusal", 0.08),
    ("soft_refusal", 0.04), ("not_in_service", 0.10), ("business", 0.03), ("appointment", 0.05),
    ("interview", 0.25),
)  # fmt: skip


async def _pollsters(context: DemoContext) -> dict[str, int]:
    template = (
        await AppUser.select(AppUser.password_hash, AppUser.district)
        .where(AppUser.username == "pollster1")
        .first()
    )
    for username, name in EXTRA_POLLSTERS:
        if await AppUser.exists().where(AppUser.username == username):
            continue
        if template is None:
            await create_user(
                username, DEMO_PASSWORD, frozenset({"pollster"}), name, context.district_code
            )
            continue
        # Same demo password as pollster1: reuse its argon2 hash instead of hashing again
        # (hashing costs ≈ 0.3 s a user, and the demo city is built by many tests).
        async with write_transaction():
            await AppUser.insert(
                AppUser(
                    username=username,
                    display_name=name,
                    password_hash=template["password_hash"],
                    roles="pollster",
                    district=template["district"],
                )
            )
    rows = await AppUser.select(AppUser.id, AppUser.username).where(
        AppUser.username.is_in(["pollster1", "pollster2", *(u for u, _ in EXTRA_POLLSTERS)])
    )
    return {r["username"]: int(r["id"]) for r in rows}


async def _phone_sample(context: DemoContext, streets: list[str], rng: np.random.Generator) -> int:
    """The wave's telephone sample: the one whose numbers are already cases (the design demo
    releases its own), else one drawn here from number blocks."""
    linked = await Case.raw(
        "SELECT e.sample AS sample FROM cati_case c JOIN sampled_element e "
        "ON e.id = c.sampled_element JOIN sample s ON s.id = e.sample "
        "WHERE s.wave = {} LIMIT 1",
        context.wave_id,
    )
    if linked:
        return int(linked[0]["sample"])
    blocks = [MobileBlock(f"13900{i:02d}", "中国移动", street) for i, street in enumerate(streets)]
    drawn = generate_mobile_numbers(
        blocks, dict.fromkeys(streets, PER_STREET), rng, batch_shares=(0.75, 0.25)
    )
    selection = drawn.selection
    labels = selection.stratum_labels
    async with write_transaction():
        created = await Sample.insert(
            Sample(
                wave=context.wave_id,
                method="mobile_numbers",
                params=json.dumps({"per_street": PER_STREET, "batch_shares": [0.75, 0.25]}),
                seed=context.seed,
                created_by="demo",
            )
        ).returning(Sample.id)
        sample_id = int(created[0]["id"])
        await SampledElement.insert(
            *[
                SampledElement(
                    sample=sample_id,
                    position=i,
                    stratum=str(labels[int(selection.strata[i])]),
                    phone=str(drawn.numbers[i]),
                    inclusion_prob=float(selection.inclusion_probabilities[i]),
                    design_weight=1.0 / float(selection.inclusion_probabilities[i]),
                    batch=int(selection.batches[i]),
                    released=int(selection.batches[i]) == 1,
                )
                for i in range(len(drawn))
            ]
        )
    return sample_id


def _interview_forms(
    instrument: Any, street: str, units: list[Any], rng: np.random.Generator
) -> list[tuple[str, dict[str, list[str]]]]:
    """Plausible answers, screen by screen, for a simulated interview."""
    answers: dict[str, object] = {}
    forms: list[tuple[str, dict[str, list[str]]]] = []
    choice = next((u for u in units if u.name == street), units[0] if units else None)
    page_index = 0
    while True:
        pages = visible_pages(instrument, answers)
        if page_index >= len(pages):
            return forms
        page = pages[page_index]
        form: dict[str, list[str]] = {}
        if page == SCREENING_PAGE:
            for item in instrument.screening.items:
                form[item.id] = ["1"]
                answers[item.id] = 1
        elif page == UNIT_PAGE:
            if choice is not None:
                community = choice.communities[int(rng.integers(len(choice.communities)))][0]
                levels = [lv.id for lv in instrument.unit.levels]
                form[levels[0]], form[levels[1]] = [choice.code], [community]
        else:
            for p in instrument.pages:
                if p.id != page:
                    continue
                for item in p.items:
                    codes = [o.code for o in item.options if o.substantive]
                    if not codes:
                        continue
                    # Mostly favourable answers, as in real 两率一度 data.
                    weights = np.linspace(2.0, 0.5, len(codes))
                    code = int(rng.choice(codes, p=weights / weights.sum()))
                    form[item.id] = [str(code)]
                    answers[item.id] = code
        forms.append((page, form))
        page_index += 1


async def extend_demo(context: DemoContext) -> list[str]:
    """Build the demo campaign (see the module doc); returns lines for the console."""
    campaign_id = await ensure_campaign(context.wave_id)
    if await CallAttempt.exists().where(CallAttempt.call_case.campaign == campaign_id):
        return [f"电话访问：呼叫任务 {campaign_id} 已有拨打记录，未改动"]
    rng = np.random.default_rng(context.seed + 7)
    users = await _pollsters(context)
    district = await Unit.select(Unit.id).where(Unit.code == context.district_code).first()
    assert district is not None
    streets = [
        r["name"]
        for r in await Unit.select(Unit.name)
        .where((Unit.parent == district["id"]) & (Unit.level == "street"))
        .order_by(Unit.code)
    ]
    sample_id = await _phone_sample(context, streets, rng)
    today = utc_now().astimezone(ZONE).date()
    start_day = today - dt.timedelta(days=3)
    start = dt.datetime.combine(start_day, dt.time(9, 0), tzinfo=ZONE).astimezone(dt.UTC)
    async with write_transaction():
        # Round-the-clock hours so the demo console works whenever it is opened; the supervisor
        # sets real hours (e.g. 09:00-12:00,14:00-21:00) under 呼叫规则.
        await Campaign.update(
            {Campaign.calling_windows: "00:00-24:00", Campaign.created_at: start}
        ).where(Campaign.id == campaign_id)
        strata = {
            r["stratum"]
            for r in await SampledElement.select(SampledElement.stratum).where(
                SampledElement.sample == sample_id
            )
        }
        have = {
            r["stratum"]
            for r in await StratumTarget.select(StratumTarget.stratum).where(
                StratumTarget.wave == context.wave_id
            )
        }
        released = await SampledElement.count().where(
            (SampledElement.sample == sample_id) & (SampledElement.released.eq(True))
        )
        for stratum in sorted(strata - have):
            size = await SampledElement.count().where(
                (SampledElement.sample == sample_id)
                & (SampledElement.stratum == stratum)
                & (SampledElement.released.eq(True))
            )
            # About a third of the released numbers end in an interview: aim a little above.
            target = (
                max(TARGET_PER_STREET, round(size * TARGET_SHARE))
                if released
                else TARGET_PER_STREET
            )
            await StratumTarget.insert(
                StratumTarget(wave=context.wave_id, stratum=stratum, target=target)
            )
    await add_cases_from_sample(sample_id)
    created = await Case.count().where(Case.campaign == campaign_id)
    await Case.update({Case.next_call_at: start}).where(Case.campaign == campaign_id)
    instrument = await campaign_instrument(campaign_id, "liangshuaiyidu")  # as the console asks
    units = await unit_choices(campaign_id)
    codes = [c for c, _ in DIAL_OUTCOMES]
    probs = np.array([p for _, p in DIAL_OUTCOMES])
    names = sorted(users)
    calls = 0
    for day in range(SIMULATED_DAYS):
        date = start_day + dt.timedelta(days=day)
        for who_index, username in enumerate(names):
            pollster = users[username]
            clock = dt.datetime.combine(date, dt.time(9, 0), tzinfo=ZONE).astimezone(dt.UTC)
            clock += dt.timedelta(minutes=int(rng.integers(0, 20)) + who_index)
            end = clock + dt.timedelta(minutes=CALL_MINUTES)
            while clock < end:
                assignment = await next_case(campaign_id, pollster, clock)
                if assignment.case_id is None:
                    break
                case_id = assignment.case_id
                outcome = str(rng.choice(codes, p=probs / probs.sum()))
                clock += dt.timedelta(seconds=int(rng.integers(30, 90)))
                calls += 1
                if outcome == "interview":
                    stratum = await Case.select(Case.stratum).where(Case.id == case_id).first()
                    street = stratum["stratum"] if stratum else ""
                    # pollster4 rushes through interviews: the supervisor view flags it.
                    per_page = (5, 12) if username == "pollster4" else (40, 90)
                    for page, form in _interview_forms(instrument, street, units, rng):
                        clock += dt.timedelta(seconds=int(rng.integers(*per_page)))
                        await save_screen(case_id, pollster, page, form, now=clock)
                    state = await load_interview(case_id)
                    if state.status != "completed":
                        await record_outcome(
                            case_id, pollster, "breakoff", f"demo-{case_id}-{calls}", now=clock
                        )
                else:
                    when = None
                    if outcome == "appointment":
                        local = (clock + dt.timedelta(days=int(rng.integers(1, 4)))).astimezone(
                            ZONE
                        )
                        when = local.replace(hour=15, minute=0, second=0).astimezone(dt.UTC)
                    await record_outcome(
                        case_id,
                        pollster,
                        outcome,
                        f"demo-{case_id}-{calls}",
                        now=clock,
                        appointment_at=when,
                        personal=bool(rng.random() < 0.5),
                    )
                clock += dt.timedelta(seconds=int(rng.integers(20, 60)))
    drawn = await draw_back_check(campaign_id, context.seed, 0.2, "demo")
    first = await BackCheck.select(BackCheck.id).where(BackCheck.campaign == campaign_id).first()
    if first:
        await record_back_check(
            campaign_id, int(first["id"]), "confirmed", "受访者确认接受过访问", "demo"
        )
    return [
        f"电话访问：呼叫任务 {campaign_id}，{created} 个号码（另有备用批次），"
        f"模拟拨打 {calls} 次，回访复核 {drawn} 份；访问员 pollster1–pollster4，督导 supervisor"
    ]
