"""Concurrency of the call queue: many pollsters, each on its own database connection, ask
for the next case at once. No case may be held by two pollsters at the same time, and no case
may be dialled past its attempt limit or outside calling hours. Two consoles interviewing one
case at once store one response and complete it once.

PostgreSQL: 20 pollsters, 10,000 requests (``FOR UPDATE SKIP LOCKED``). SQLite: 6 pollsters,
600 requests (``BEGIN IMMEDIATE``). The clock is simulated: each request advances it by a fixed
step, so the run crosses the lunch break and the night, when nothing may be handed out.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import anyio
import numpy as np
import pytest
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

from survey.cati.attempts import record_outcome
from survey.cati.cases import CaseInput, CatiError, add_cases
from survey.cati.interview import save_screen
from survey.cati.queue import next_case
from survey.cati.selection import CallingHours
from survey.cati.tables import CallAttempt, Case, StratumProgress
from survey.collection.tables import Response
from tests.cati._setup import add_street_and_community, make_world

pytestmark = pytest.mark.anyio

WINDOWS = "09:00-12:00,14:00-21:00"
START = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)  # 08:30 in Shanghai: not yet open
OUTCOMES = ("no_answer", "busy", "answering_machine", "refusal", "not_in_service", "soft_refusal")
PROBS = (0.45, 0.2, 0.15, 0.1, 0.05, 0.05)


async def test_no_case_twice_never_past_limit_or_hours(db: None, db_engine_name: str) -> None:
    postgres = db_engine_name == "postgres"
    pollsters, requests, cases = (20, 10_000, 1_500) if postgres else (6, 600, 200)
    names = tuple(f"p{i}" for i in range(pollsters))
    # Holds longer than the simulated run: the simulated clock runs ahead of real time (requests
    # outside calling hours return at once), so a short hold would expire while its pollster is
    # still recording the outcome. Hold expiry has its own test.
    world = await make_world(windows=WINDOWS, max_attempts=4, pollsters=names, hold_minutes=14_400)
    await add_cases(
        world.campaign_id,
        [CaseInput(f"139{i:08d}", f"S{i % 4}") for i in range(cases)],
        now=START,
    )
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        # One connection per pollster: every transaction runs on its own connection.
        await engine.start_connection_pool(min_size=pollsters, max_size=pollsters)
    hours = CallingHours.parse(WINDOWS, "Asia/Shanghai")
    counter = itertools.count()
    step = dt.timedelta(seconds=20)
    holders: dict[int, str] = {}
    double: list[tuple[int, str, str]] = []
    handed: list[tuple[int, dt.datetime]] = []
    refused: Counter[str] = Counter()
    rng = np.random.default_rng(7)

    async def pollster(name: str) -> None:
        user = world.users[name]
        while True:
            k = next(counter)
            if k >= requests:
                return
            now = START + k * step
            assignment = await next_case(world.campaign_id, user, now)
            if assignment.case_id is None:
                refused[assignment.reason[:6]] += 1
                continue
            case_id = assignment.case_id
            # Checked and set without an await in between: atomic in this event loop.
            if case_id in holders:
                double.append((case_id, holders[case_id], name))
            holders[case_id] = name
            handed.append((case_id, now))
            outcome = str(rng.choice(OUTCOMES, p=PROBS))
            del holders[case_id]
            await record_outcome(case_id, user, outcome, f"test-{k:06d}-{name}", now=now)

    try:
        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(pollster, name)
    finally:
        if isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()

    assert double == []
    assert handed, "nothing was handed out"
    assert all(hours.allows(at) for _, at in handed)
    assert refused, "the clock should have left calling hours at least once"
    attempts = await CallAttempt.select(
        CallAttempt.call_case, CallAttempt.started_at, CallAttempt.interviewer
    )
    # One attempt per hand-out (record_outcome refuses a case its pollster no longer holds).
    assert len(attempts) == len(handed)
    per_case = Counter(a["call_case"] for a in attempts)
    assert max(per_case.values()) <= 4
    assert all(hours.allows(a["started_at"]) for a in attempts)
    assert await Case.count().where(Case.attempts > 4) == 0
    assert await Case.count().where(Case.held_by.is_not_null()) == 0


#: The screens of the phone interview (liangshuaiyidu) after the unit screen, all answered.
INTERVIEW = (
    ("security", {"q_anquan": ["2"]}),
    ("awareness", {"q_zhixiao": ["1"]}),
    ("satisfaction", {f"q_manyi_{d}": ["1"] for d in ("gongan", "jianchayuan", "fayuan", "sifa")}),
    ("about_you", {"d_sex": ["2"], "d_age_group": ["3"]}),
)


async def test_two_consoles_completing_one_case_store_one_response(
    db: None, db_engine_name: str
) -> None:
    """Two consoles (two tabs, or a double submit) run the whole interview of one case at once,
    each on its own connection: one response row, completed once, one ``complete`` attempt."""
    cases = 5
    world = await make_world(windows="00:00-24:00", targets={"A": cases})
    street, community = await add_street_and_community()
    await add_cases(
        world.campaign_id, [CaseInput(f"1380013800{i}", "A") for i in range(cases)], now=START
    )
    pollster = world.users["p1"]
    screens = (
        ("screening", {"s_age": ["1"], "s_resident": ["1"]}),
        ("unit", {"street": [street], "community": [community]}),
        *INTERVIEW,
    )
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=2, max_size=2)
    completed: Counter[int] = Counter()
    refused: Counter[int] = Counter()

    async def console(case_id: int) -> None:
        for page, form in screens:
            try:
                result = await save_screen(case_id, pollster, page, form, now=START)
            except CatiError:
                refused[case_id] += 1  # the other console finished the interview first
                return
            assert not result.errors, result.errors
            if result.completed:
                completed[case_id] += 1
                return

    try:
        for _ in range(cases):
            assignment = await next_case(world.campaign_id, pollster, START)
            assert assignment.case_id is not None, assignment.reason
            async with anyio.create_task_group() as group:
                group.start_soon(console, assignment.case_id)
                group.start_soon(console, assignment.case_id)
    finally:
        if isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()

    assert sorted(completed.values()) == [1] * cases  # each case completed by one console
    assert sorted(refused.values()) == [1] * cases  # and refused to the other
    rows = await Response.select(Response.status, Response.mode)
    assert [(r["status"], r["mode"]) for r in rows] == [("completed", "phone")] * cases
    linked = await Case.select(Case.response, Case.state, Case.disposition)
    assert {(r["state"], r["disposition"]) for r in linked} == {("final", "1.1")}
    assert len({r["response"] for r in linked}) == cases
    outcomes = await CallAttempt.select(CallAttempt.outcome)
    assert [a["outcome"] for a in outcomes] == ["complete"] * cases
    progress = await StratumProgress.select(StratumProgress.completes).first()
    assert progress is not None and progress["completes"] == cases
