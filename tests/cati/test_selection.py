"""Case selection, table-driven: the pure order (``pick_case``) and the database queue
(``next_case``) must both give the expected case for every scenario.

Times: the campaign calls 09:00–12:00 and 14:00–21:00 in Asia/Shanghai (UTC+8, no DST).
``NOW`` is Tuesday 2026-11-24 10:00 in Shanghai = 02:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from survey.cati.queue import next_case
from survey.cati.selection import CallingHours, CaseRecord, QueuePolicy, StratumProgress, pick_case
from survey.cati.tables import Case
from survey.cati.tables import StratumProgress as ProgressRow
from survey.db import write_transaction
from tests.cati._setup import make_world

pytestmark = pytest.mark.anyio

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 Asia/Shanghai, a Tuesday


def at(minutes: float) -> dt.datetime:
    return NOW + dt.timedelta(minutes=minutes)


@dataclass(frozen=True)
class C:
    """A case in a scenario: minutes relative to the scenario's base time ``NOW``."""

    name: str
    stratum: str = "A"
    next_in: float = -60  # next_call_at − NOW, minutes (negative: due)
    attempts: int = 0
    appointment_in: float | None = None
    appointment_user: str | None = None
    state: str = "open"


@dataclass(frozen=True)
class Scenario:
    id: str
    cases: tuple[C, ...]
    expected: str | None
    pollster: str = "p1"
    now: dt.datetime = NOW
    targets: dict[str, int] = field(default_factory=dict)
    completes: dict[str, int] = field(default_factory=dict)
    weekdays: str = ""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("due appointment beats retry", (C("retry", next_in=-600), C("appt", appointment_in=-5)), "appt"),
    Scenario("appointment not yet due", (C("retry"), C("appt", appointment_in=30)), "retry"),
    Scenario("only a future appointment", (C("appt", appointment_in=30),), None),
    Scenario("earliest due appointment first", (C("late", appointment_in=-5), C("early", appointment_in=-20)), "early"),
    Scenario("retry delay not passed", (C("busy", next_in=10),), None),
    Scenario("retry delay just passed", (C("busy", next_in=0),), "busy"),
    Scenario("oldest retry first", (C("newer", next_in=-5), C("older", next_in=-50)), "older"),
    Scenario("personal appointment of another pollster", (C("retry"), C("mine", appointment_in=-5, appointment_user="p2")), "retry"),
    Scenario("personal appointment for me", (C("retry"), C("mine", appointment_in=-5, appointment_user="p2")), "mine", pollster="p2"),
    Scenario("personal appointment past grace goes to anyone", (C("retry"), C("late", appointment_in=-31, appointment_user="p2")), "late"),
    Scenario("attempt limit reached", (C("tired", attempts=5),), None),
    Scenario("one attempt left", (C("tired", attempts=4),), "tired"),
    Scenario("appointment at attempt limit", (C("appt", attempts=5, appointment_in=-5), C("retry")), "retry"),
    Scenario("final case never", (C("done", state="final"),), None),
    Scenario("held by another pollster", (C("held", next_in=20),), None),
    Scenario("met target skipped", (C("a", "A", next_in=-100), C("b", "B", next_in=-1)), "b", targets={"A": 10, "B": 10}, completes={"A": 10, "B": 3}),
    Scenario("all targets met", (C("a", "A"), C("b", "B")), None, targets={"A": 10, "B": 10}, completes={"A": 10, "B": 12}),
    Scenario("met target also blocks appointments", (C("appt", "A", appointment_in=-5), C("b", "B")), "b", targets={"A": 5, "B": 5}, completes={"A": 5}),
    Scenario("furthest from target first", (C("a", "A", next_in=-500), C("b", "B", next_in=-1)), "b", targets={"A": 100, "B": 50}, completes={"A": 80, "B": 10}),
    Scenario("relative shortfall, not absolute", (C("a", "A", next_in=-500), C("b", "B", next_in=-1)), "a", targets={"A": 100, "B": 10}, completes={"A": 20, "B": 5}),
    Scenario("stratum without target after targeted ones", (C("free", "Z", next_in=-500), C("b", "B", next_in=-1)), "b", targets={"B": 10}, completes={"B": 9}),
    Scenario("lunch break in Shanghai", (C("x"),), None, now=dt.datetime(2026, 11, 24, 4, 30, tzinfo=UTC)),
    Scenario("window opens 14:00 local", (C("x"),), "x", now=dt.datetime(2026, 11, 24, 6, 0, tzinfo=UTC)),
    Scenario("window closed 21:00 local", (C("x"),), None, now=dt.datetime(2026, 11, 24, 13, 0, tzinfo=UTC)),
    Scenario("20:59 local still open", (C("x"),), "x", now=dt.datetime(2026, 11, 24, 12, 59, tzinfo=UTC)),
    Scenario("09:30 local is 01:30 UTC", (C("x", next_in=-1000),), "x", now=dt.datetime(2026, 11, 24, 1, 30, tzinfo=UTC)),
    Scenario("10:00 UTC is 18:00 local", (C("x", next_in=-1000),), "x", now=dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
    Scenario("Sunday excluded", (C("x", next_in=-1000),), None, now=dt.datetime(2026, 11, 29, 2, 0, tzinfo=UTC), weekdays="7"),
    Scenario("Saturday allowed when only Sunday excluded", (C("x", next_in=-1000),), "x", now=dt.datetime(2026, 11, 28, 2, 0, tzinfo=UTC), weekdays="7"),
    Scenario("local date decides the weekday", (C("x", next_in=-2000),), None, now=dt.datetime(2026, 11, 29, 1, 30, tzinfo=UTC), weekdays="7"),
)  # fmt: skip

USER_IDS = {"p1": 1, "p2": 2}


def _policy(s: Scenario) -> QueuePolicy:
    hours = CallingHours.parse("09:00-12:00,14:00-21:00", "Asia/Shanghai", s.weekdays)
    return QueuePolicy(hours=hours, max_attempts=5)


def _progress(s: Scenario) -> list[StratumProgress]:
    strata = {c.stratum for c in s.cases} | set(s.targets)
    return [StratumProgress(x, s.completes.get(x, 0), s.targets.get(x)) for x in sorted(strata)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_pure_order(scenario: Scenario) -> None:
    records = [
        CaseRecord(
            id=i + 1,
            stratum=c.stratum,
            state=c.state,
            next_call_at=at(c.next_in),
            attempts=c.attempts,
            appointment_at=None if c.appointment_in is None else at(c.appointment_in),
            appointment_user=USER_IDS[c.appointment_user] if c.appointment_user else None,
        )
        for i, c in enumerate(scenario.cases)
    ]
    picked = pick_case(
        records, _progress(scenario), USER_IDS[scenario.pollster], scenario.now, _policy(scenario)
    )
    names = {i + 1: c.name for i, c in enumerate(scenario.cases)}
    assert (names[picked.id] if picked else None) == scenario.expected


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
async def test_database_queue(db: None, scenario: Scenario) -> None:
    world = await make_world(targets=scenario.targets, weekdays=scenario.weekdays)
    ids: dict[int, str] = {}
    async with write_transaction():
        for number, c in enumerate(scenario.cases):
            row = await Case.insert(
                Case(
                    campaign=world.campaign_id,
                    phone=f"1380000{number:04d}",
                    stratum=c.stratum,
                    state=c.state,
                    next_call_at=at(c.next_in),
                    attempts=c.attempts,
                    appointment_at=None if c.appointment_in is None else at(c.appointment_in),
                    appointment_user=world.users[c.appointment_user]
                    if c.appointment_user
                    else None,
                    held_by=world.users["p2"] if c.name == "held" else None,
                )
            ).returning(Case.id)
            ids[int(row[0]["id"])] = c.name
        for stratum in {c.stratum for c in scenario.cases}:
            await ProgressRow.insert(
                ProgressRow(
                    campaign=world.campaign_id,
                    stratum=stratum,
                    completes=scenario.completes.get(stratum, 0),
                )
            )
    assignment = await next_case(world.campaign_id, world.users[scenario.pollster], scenario.now)
    picked = ids[assignment.case_id] if assignment.case_id is not None else None
    assert picked == scenario.expected, assignment.reason
    if picked is None:
        assert assignment.reason
    else:
        # The case is now held: nobody else gets it, its holder gets it back.
        other = "p2" if scenario.pollster == "p1" else "p1"
        again = await next_case(world.campaign_id, world.users[other], scenario.now)
        assert again.case_id != assignment.case_id
        mine = await next_case(world.campaign_id, world.users[scenario.pollster], scenario.now)
        assert mine.case_id == assignment.case_id and mine.resumed
