"""CATI services on the database: cases from samples, outcomes (idempotent, retry, appointment,
limit), holds that expire, the interview saved page by page, supervisor services, rates."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import anyio
import numpy as np
import pytest

from questionnaires import default_instruments
from survey.cati.attempts import record_outcome
from survey.cati.cases import CaseInput, CatiError, add_cases, add_cases_from_sample
from survey.cati.interview import campaign_instrument, load_interview, save_screen
from survey.cati.metrics import draw_back_checks
from survey.cati.queue import next_case
from survey.cati.reporting import response_rates_for_wave
from survey.cati.supervisor import (
    back_check_rows,
    batch_info,
    draw_back_check,
    progress_rows,
    record_back_check,
    release_next_batch,
)
from survey.cati.tables import BackCheck, CallAttempt, Campaign, Case, StratumProgress
from survey.collection.tables import Response
from survey.db import write_transaction
from survey.db.tables import Department, Unit, Wave
from survey.design.tables import Sample, SampledElement
from tests.cati._setup import add_street_and_community, make_world

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


async def _sample(wave_id: int) -> int:
    async with write_transaction():
        row = await Sample.insert(Sample(wave=wave_id, method="numbers", seed=1)).returning(
            Sample.id
        )
        sample_id = int(row[0]["id"])
        elements = [
            # (phone, stratum, weight, batch, released)
            ("13800000001", "A", 10.0, 1, True),
            ("13800000002", "A", 10.0, 1, True),
            ("13800000003", "B", 20.0, 1, True),
            ("", "B", 20.0, 1, True),  # no number: not a phone case
            ("13800000004", "B", 20.0, 2, False),  # reserve
            ("13800000005", "A", 10.0, 2, False),  # reserve
        ]
        await SampledElement.insert(
            *[
                SampledElement(
                    sample=sample_id,
                    position=i,
                    stratum=s,
                    phone=p,
                    inclusion_prob=1 / w,
                    design_weight=w,
                    batch=b,
                    released=r,
                )
                for i, (p, s, w, b, r) in enumerate(elements)
            ]
        )
    return sample_id


async def test_cases_from_sample_and_reserve_release(db: None) -> None:
    world = await make_world()
    async with write_transaction():
        await Campaign.delete().where(Campaign.id == world.campaign_id)
    sample_id = await _sample(world.wave_id)
    assert await add_cases_from_sample(sample_id) == 3
    assert await add_cases_from_sample(sample_id) == 0  # idempotent
    campaign = await Campaign.select().where(Campaign.wave == world.wave_id).first()
    assert campaign is not None and campaign["mode"] == "phone"  # created when missing
    rows = await Case.select(Case.phone, Case.stratum, Case.design_weight, Case.batch).order_by(
        Case.phone
    )
    assert [(r["phone"], r["stratum"], r["design_weight"], r["batch"]) for r in rows] == [
        ("13800000001", "A", 10.0, 1),
        ("13800000002", "A", 10.0, 1),
        ("13800000003", "B", 20.0, 1),
    ]
    info = (await batch_info(campaign["id"]))[0]
    assert (info.released, info.reserve, info.next_batch) == ({1: 3}, {2: 2}, 2)
    # The console releases through the design's release (weights: tests/design); here a stand-in
    # that releases the batch as the design would and hands it off.
    asked: list[tuple[int, int, str]] = []

    async def release(sample: int, batches: int, *, username: str) -> Any:
        asked.append((sample, batches, username))
        await SampledElement.update({SampledElement.released: True}).where(
            (SampledElement.sample == sample) & (SampledElement.batch <= batches)
        )
        return SimpleNamespace(handed_off=await add_cases_from_sample(sample))

    batch, created = await release_next_batch(
        campaign["id"], sample_id, "supervisor", release=release
    )
    assert (batch, created) == (2, 2) and asked == [(sample_id, 2, "supervisor")]
    assert await Case.count() == 5
    with pytest.raises(CatiError, match="没有未开放的备用批次"):
        await release_next_batch(campaign["id"], sample_id, "supervisor", release=release)
    assert len(asked) == 1
    cases = await StratumProgress.select(StratumProgress.stratum, StratumProgress.cases)
    assert {r["stratum"]: r["cases"] for r in cases} == {"A": 3, "B": 2}


async def test_add_cases_checks_every_number_first(db: None) -> None:
    world = await make_world()
    with pytest.raises(CatiError, match="第 2 行"):
        await add_cases(world.campaign_id, ["13800138000", "12345", "13900139000"])
    assert await Case.count() == 0  # nothing half-written
    assert await add_cases(world.campaign_id, ["138 0013 8000", CaseInput("13900139000", "B")]) == 2
    assert await add_cases(world.campaign_id, ["13800138000"]) == 0
    assert await Case.exists().where(Case.phone == "13800138000")


async def _take(world_campaign: int, user: int, now: dt.datetime = NOW) -> int:
    assignment = await next_case(world_campaign, user, now)
    assert assignment.case_id is not None, assignment.reason
    return assignment.case_id


async def test_double_submit_records_one_attempt(db: None) -> None:
    world = await make_world()
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    results = []

    async def submit() -> None:
        results.append(await record_outcome(case_id, p1, "busy", "key-0123456789", now=NOW))

    async with anyio.create_task_group() as group:
        group.start_soon(submit)
        group.start_soon(submit)
    assert sorted(r.duplicate for r in results) == [False, True]
    assert await CallAttempt.count() == 1
    case = await Case.select().where(Case.id == case_id).first()
    assert case is not None
    assert case["attempts"] == 1 and case["held_by"] is None
    assert case["next_call_at"] == NOW + dt.timedelta(minutes=15)  # busy: 15 minutes


async def test_retry_appointment_and_limit(db: None) -> None:
    world = await make_world(max_attempts=3)
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1, p2 = world.users["p1"], world.users["p2"]
    case_id = await _take(world.campaign_id, p1)
    with pytest.raises(CatiError, match="预约时间"):
        await record_outcome(case_id, p1, "appointment", "k-appt-000001", now=NOW)
    lunch = NOW + dt.timedelta(hours=2, minutes=30)  # 12:30 in Shanghai
    with pytest.raises(CatiError, match="不在呼叫时段"):
        await record_outcome(
            case_id, p1, "appointment", "k-appt-000002", now=NOW, appointment_at=lunch
        )
    later = NOW + dt.timedelta(hours=5)  # 15:00 in Shanghai
    await record_outcome(
        case_id, p1, "appointment", "k-appt-000003", now=NOW, appointment_at=later, personal=True
    )
    assert (await next_case(world.campaign_id, p2, later)).case_id is None  # personal
    assert await _take(world.campaign_id, p1, later) == case_id
    await record_outcome(case_id, p1, "no_answer", "k-noans-00001", now=later)
    again = later + dt.timedelta(hours=3)  # no answer: 3 hours
    assert (await next_case(world.campaign_id, p2, again - dt.timedelta(minutes=1))).case_id is None
    assert await _take(world.campaign_id, p2, again) == case_id
    result = await record_outcome(case_id, p2, "refusal", "k-refus-00001", now=again)
    assert result.final and result.disposition == "2.11"


async def test_attempt_limit_closes_with_most_informative_outcome(db: None) -> None:
    world = await make_world(max_attempts=2, windows="00:00-24:00")
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    await record_outcome(case_id, p1, "household_machine", "k-limit-00001", now=NOW)
    t = NOW + dt.timedelta(hours=3)
    assert await _take(world.campaign_id, p1, t) == case_id
    result = await record_outcome(case_id, p1, "no_answer", "k-limit-00002", now=t)
    # Second attempt reaches the limit: closed as 2.22 (household reached), not 3.13.
    assert result.final and result.disposition == "2.22"
    assert (await next_case(world.campaign_id, p1, t + dt.timedelta(days=1))).case_id is None


async def test_hold_expires_and_late_outcome_is_refused(db: None) -> None:
    world = await make_world(hold_minutes=30)
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1, p2 = world.users["p1"], world.users["p2"]
    case_id = await _take(world.campaign_id, p1)
    assert (await next_case(world.campaign_id, p2, NOW + dt.timedelta(minutes=29))).case_id is None
    assert await _take(world.campaign_id, p2, NOW + dt.timedelta(minutes=30)) == case_id
    with pytest.raises(CatiError, match="不在您名下"):
        await record_outcome(case_id, p1, "no_answer", "k-late-000001", now=NOW)
    assert await CallAttempt.count() == 0


SCREENS = {
    "security": {"q_anquan": ["2"]},
    "awareness": {"q_zhixiao": ["1"]},
    "satisfaction": {f"q_manyi_{d}": ["1"] for d in ("gongan", "jianchayuan", "fayuan", "sifa")},
    "about_you": {"d_sex": ["2"], "d_age_group": ["3"]},
}


async def test_interview_page_by_page_to_complete(db: None) -> None:
    world = await make_world(targets={"A": 5})
    street, community = await add_street_and_community()
    await add_cases(world.campaign_id, [CaseInput("13800138000", "A", 12.5)], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    t = NOW + dt.timedelta(minutes=1)
    result = await save_screen(case_id, p1, "screening", {"s_age": ["1"]}, now=t)
    assert result.errors == {"s_resident": "此题为必答题，请作答"}
    # The valid answer was stored even though the screen was incomplete: nothing typed is lost.
    assert (await load_interview(case_id)).answers == {"s_age": 1}
    # Every saved screen renews the hold (30 minutes from the save).
    held = await Case.select(Case.next_call_at).where(Case.id == case_id).first()
    assert held is not None and held["next_call_at"] == t + dt.timedelta(minutes=30)
    # The form posts every field of the screen (the stored answer comes back pre-selected).
    result = await save_screen(
        case_id, p1, "screening", {"s_age": ["1"], "s_resident": ["1"]}, now=t
    )
    assert not result.errors and result.state.page == "unit"
    bad = await save_screen(case_id, p1, "unit", {"street": [street], "community": ["X"]}, now=t)
    assert "community" in bad.errors
    await save_screen(case_id, p1, "unit", {"street": [street], "community": [community]}, now=t)
    for minute, (page, form) in enumerate(SCREENS.items(), start=2):
        result = await save_screen(case_id, p1, page, form, now=NOW + dt.timedelta(minutes=minute))
    assert result.completed
    response = await Response.select().first()
    assert response is not None
    assert (response["mode"], response["status"], response["interviewer"]) == (
        "phone", "completed", p1
    )  # fmt: skip
    assert (response["sex"], response["age_group"], response["design_weight"]) == (
        "F", "45-59", 12.5
    )  # fmt: skip
    assert response["duration_seconds"] == 4 * 60  # first saved screen (minute 1) to minute 5
    assert json.loads(response["answers"])["q_anquan"] == 2
    case = await Case.select().where(Case.id == case_id).first()
    assert case is not None and (case["state"], case["disposition"]) == ("final", "1.1")
    progress = await StratumProgress.select().where(StratumProgress.stratum == "A").first()
    assert progress is not None and progress["completes"] == 1
    attempts = await CallAttempt.select(CallAttempt.outcome, CallAttempt.disposition)
    assert [(a["outcome"], a["disposition"]) for a in attempts] == [("complete", "1.1")]


async def test_interview_refuses_an_instrument_changed_under_its_version(db: None) -> None:
    """The freeze check of the web pages holds on the phone too: the wave has answers to another
    content of the same instrument version, so no new interview starts with this one."""
    world = await make_world()
    # A wave id no other test uses: a passed check of (wave, instrument) is remembered by the
    # process, and emptied tables hand out the same ids again.
    wave_id = 900_001
    async with write_transaction():
        programme = await Wave.select(Wave.programme).where(Wave.id == world.wave_id).first()
        assert programme is not None
        await Wave.insert(
            Wave(id=wave_id, programme=programme["programme"], month="2026-12", status="collecting")
        )
        await Campaign.update({Campaign.wave: wave_id}).where(Campaign.id == world.campaign_id)
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    shipped = default_instruments()["liangshuaiyidu"]
    async with write_transaction():
        await Response.insert(
            Response(
                wave=wave_id,
                instrument_id=shipped.id,
                instrument_version=str(shipped.version),
                instrument_hash="0" * 64,
                mode="web",
                status="completed",
            )
        )
    with pytest.raises(CatiError, match="进行中的测评期不能修改问卷"):
        await save_screen(case_id, p1, "screening", {"s_age": ["1"], "s_resident": ["1"]}, now=NOW)
    assert await Response.count() == 1  # nothing started
    case = await Case.select(Case.response).where(Case.id == case_id).first()
    assert case is not None and case["response"] is None


async def test_screening_other_adult_and_breakoff_keeps_partial(db: None) -> None:
    world = await make_world()
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    result = await save_screen(case_id, p1, "screening", {"s_age": ["2"], "s_resident": ["1"]})
    assert result.state.screening_status == "not_eligible"
    assert "其他成员" in result.state.screening_message  # ask for another adult
    result = await save_screen(case_id, p1, "screening", {}, restart_screening=True)
    assert result.state.screening_status == "incomplete" and "s_age" not in result.state.answers
    await save_screen(case_id, p1, "screening", {"s_age": ["1"], "s_resident": ["1"]})
    result = await record_outcome(case_id, p1, "breakoff", "k-break-00001", now=NOW)
    assert result.disposition == "2.12"  # nothing of the interview proper: a break-off
    response = await Response.select(Response.status, Response.answers).first()
    assert response is not None and response["status"] == "partial"
    assert json.loads(response["answers"]) == {"s_age": 1, "s_resident": 1}


async def test_breakoff_late_in_the_interview_is_a_partial(db: None) -> None:
    world = await make_world()
    street, community = await add_street_and_community()
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    await save_screen(case_id, p1, "screening", {"s_age": ["1"], "s_resident": ["1"]})
    await save_screen(case_id, p1, "unit", {"street": [street], "community": [community]})
    for page in ("security", "awareness", "satisfaction"):
        await save_screen(case_id, p1, page, SCREENS[page])
    # Items of the interview proper: q_anquan, q_zhixiao, four q_manyi and four about_you items;
    # 6 of these 10 are answered, at least half: AAPOR's partial interview.
    result = await record_outcome(case_id, p1, "breakoff", "k-break-00002", now=NOW)
    assert (result.final, result.disposition) == (True, "1.2")
    attempt = await CallAttempt.select(CallAttempt.outcome).first()
    assert attempt is not None and attempt["outcome"] == "partial"
    response = await Response.select(Response.status).first()
    assert response is not None and response["status"] == "partial"


async def test_back_check_draw_is_seeded_and_recorded(db: None) -> None:
    world = await make_world(windows="00:00-24:00")
    numbers = [CaseInput(f"1380013{i:04d}", "A") for i in range(12)]
    await add_cases(world.campaign_id, numbers, now=NOW)
    completes: dict[int, list[int]] = {}
    for i in range(12):
        who = world.users["p1" if i % 3 else "p2"]
        case_id = await _take(world.campaign_id, who)
        # Complete by hand: the outcome path the interview uses.
        async with write_transaction():
            await Case.update({Case.response: None}).where(Case.id == case_id)
        await record_outcome(case_id, who, "complete", f"k-compl-{i:05d}", now=NOW)
        completes.setdefault(who, []).append(case_id)
    drawn = await draw_back_check(world.campaign_id, 42, 0.25, "supervisor")
    expected = draw_back_checks(completes, np.random.default_rng(42), share=0.25)
    assert drawn == sum(len(v) for v in expected.values()) == 2 + 1  # ceil(8/4), ceil(4/4)
    rows = await BackCheck.select(BackCheck.call_case, BackCheck.interviewer)
    assert {(r["interviewer"], r["call_case"]) for r in rows} == {
        (w, c) for w, ids in expected.items() for c in ids
    }
    assert await draw_back_check(world.campaign_id, 43, 0.25, "supervisor") == 2 + 1  # new ones
    first = (await back_check_rows(world.campaign_id, with_phones=True))[0]
    with pytest.raises(CatiError, match="请选择复核结果"):
        await record_back_check(world.campaign_id, first.id, "pending", "", "supervisor")
    await record_back_check(world.campaign_id, first.id, "doubtful", "受访者记不清", "supervisor")
    updated = (await back_check_rows(world.campaign_id, with_phones=True))[0]
    assert (updated.result_name, updated.note, updated.checked_by) == (
        "存疑", "受访者记不清", "supervisor"
    )  # fmt: skip
    phone = (await Case.select(Case.phone).where(Case.id == first.case_id).first())["phone"]
    assert updated.phone == phone
    masked = (await back_check_rows(world.campaign_id, with_phones=False))[0]
    assert masked.phone == phone[:3] + "****" + phone[-4:]


async def test_wave_rates_for_the_method_box(db: None) -> None:
    world = await make_world(windows="00:00-24:00")
    rows = [CaseInput(f"1380013{i:04d}", "A", w) for i, w in enumerate((1.0, 2.0, 3.0, 4.0))]
    await add_cases(world.campaign_id, rows, now=NOW)
    p1 = world.users["p1"]
    for i, outcome in enumerate(("complete", "refusal", "not_in_service")):
        case_id = await _take(world.campaign_id, p1)
        await record_outcome(case_id, p1, outcome, f"k-rates-{i:05d}", now=NOW)
    # Cases in order of weight 1, 2, 3 got I, R, NE; the fourth (weight 4) was never dialled: UH.
    rates = await response_rates_for_wave(world.wave_id)
    assert rates is not None and rates.cases == 4
    e = 2 / 3  # (I + R) / (I + R + NE)
    assert rates.unweighted.e == pytest.approx(e)
    assert rates.unweighted.rr3 == pytest.approx(1 / (2 + e * 1))
    we = (1 + 2) / (1 + 2 + 3)
    assert rates.weighted.rr3 == pytest.approx(1 / (1 + 2 + we * 4))
    async with write_transaction():
        await Campaign.update({Campaign.e_override: 0.5}).where(Campaign.id == world.campaign_id)
    rates = await response_rates_for_wave(world.wave_id)
    assert rates is not None and rates.unweighted.rr3 == pytest.approx(1 / (2 + 0.5))
    assert await response_rates_for_wave(world.wave_id + 99) is None


async def test_progress_projection(db: None) -> None:
    world = await make_world(targets={"A": 10}, windows="00:00-24:00")
    async with write_transaction():
        await Campaign.update({Campaign.created_at: NOW - dt.timedelta(days=4)}).where(
            Campaign.id == world.campaign_id
        )
    await add_cases(
        world.campaign_id, [CaseInput(f"1380013{i:04d}", "A") for i in range(4)], now=NOW
    )
    p1 = world.users["p1"]
    for i in range(2):
        case_id = await _take(world.campaign_id, p1)
        await record_outcome(case_id, p1, "complete", f"k-proj-{i:06d}", now=NOW)
    (row,) = await progress_rows(world.campaign_id, now=NOW)
    assert (row.cases, row.open_cases, row.completes, row.target) == (4, 2, 2, 10)
    # 2 completes in 4 days: 0.5 a day; wave 2026-11 ends 2026-11-30 24:00 UTC = 6.917 days ahead.
    remaining = (dt.datetime(2026, 12, 1, tzinfo=dt.UTC) - NOW).total_seconds() / 86400
    assert row.projection.per_day == pytest.approx(0.5)
    assert row.projection.projected == pytest.approx(2 + 0.5 * remaining)
    assert row.projection.on_track is False


async def test_the_console_asks_the_districts_own_departments(db: None) -> None:
    """The pollster reads the district's 政法 departments from the registry (as the residents'
    pages do), and the answers are stored under their codes: a district whose 司法局 is
    `sifaju` gets `q_manyi_sifaju` from the telephone too. The old console asked the file's
    generic list (司法行政机关, `q_manyi_sifa`), which no unit of the district has, so the phone
    answers about it counted for nothing. The response still records the file's hash."""
    world = await make_world(targets={"A": 5})
    street, community = await add_street_and_community()
    district = await Unit.select(Unit.id).where(Unit.code == "T01").first()
    assert district is not None
    departments = [("gongan", "测试区公安分局"), ("sifaju", "测试区司法局")]
    for order, (code, name) in enumerate(departments):
        await Department.insert(
            Department(district=district["id"], code=code, name=name, sort_order=order)
        )
    await add_cases(world.campaign_id, [CaseInput("13800138000", "A", 12.5)], now=NOW)
    p1 = world.users["p1"]
    case_id = await _take(world.campaign_id, p1)
    state = await load_interview(case_id, "satisfaction")
    asked = await campaign_instrument(world.campaign_id, "liangshuaiyidu")
    satisfaction = next(p for p in asked.pages if p.id == "satisfaction")
    assert [(i.id, i.text) for i in satisfaction.items] == [
        ("q_manyi_gongan", "您对测试区公安分局的执法工作满意吗？"),
        ("q_manyi_sifaju", "您对测试区司法局的执法工作满意吗？"),
    ]
    assert state.response_id is None
    t = NOW + dt.timedelta(minutes=1)
    screens = {
        **SCREENS,
        "satisfaction": {"q_manyi_gongan": ["2"], "q_manyi_sifaju": ["4"]},
    }
    await save_screen(case_id, p1, "screening", {"s_age": ["1"], "s_resident": ["1"]}, now=t)
    await save_screen(case_id, p1, "unit", {"street": [street], "community": [community]}, now=t)
    for page, form in screens.items():
        result = await save_screen(case_id, p1, page, form, now=t)
        assert not result.errors, (page, result.errors)
    assert result.completed
    response = await Response.select(Response.answers, Response.instrument_hash).first()
    assert response is not None
    answers = json.loads(response["answers"])
    assert {k: v for k, v in answers.items() if k.startswith("q_manyi")} == {
        "q_manyi_gongan": 2,
        "q_manyi_sifaju": 4,
    }
    assert response["instrument_hash"] == default_instruments()["liangshuaiyidu"].content_hash
