"""A small crash test on SQLite (the full one is scripts/reliability/crash.py): residents submit
surveys to a uvicorn server that is killed with SIGKILL mid-way and restarted. Every response a
resident saw acknowledged is stored exactly once, and nothing half-written counts as complete.
Runs its own SQLite file (WAL), so it is not a ``db`` test; about 20 s."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.reliability.live import NO_LIMITS, Outcome, Server, free_port, prepare, resident, verify

pytestmark = pytest.mark.anyio

RESIDENTS = 16


@pytest.fixture()
def sqlite_env(tmp_path: Path, db_engine_name: str) -> dict[str, str]:
    if db_engine_name != "sqlite":
        pytest.skip("SQLite crash test (PostgreSQL: scripts/reliability/crash.py)")
    import os

    env = {**os.environ, **NO_LIMITS}
    env["PINGAN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'crash.sqlite'}"
    env["PINGAN_VERIFY_FILE"] = str(tmp_path / "verify.json")
    return env


def test_kill_9_during_submits_loses_no_acknowledged_response(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    prepared = prepare(sqlite_env, RESIDENTS, areas=("survey.collection.demo",))
    tokens: list[str] = prepared["tokens"]
    server = Server(sqlite_env, free_port(), workers=1, log_path=tmp_path / "server.log")
    server.start()
    killed: list[int] = []

    async def run() -> list[Outcome]:
        tasks = [
            asyncio.create_task(
                resident(server.base, t, retries=200, pause=0.2, think=0.05, timeout=10)
            )
            for t in tokens
        ]
        await asyncio.sleep(1.0)  # residents are mid-survey
        killed.extend(await asyncio.to_thread(server.kill9))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)
        return list(await asyncio.wait_for(asyncio.gather(*tasks), timeout=60))

    started = time.monotonic()
    try:
        outcomes = asyncio.run(run())
    finally:
        server.stop()
    assert killed
    assert sum(o.errors for o in outcomes) > 0, "the kill hit no request: not a crash test"
    acknowledged = [o.token for o in outcomes if o.acknowledged]
    # Every resident finishes after the restart: a start cut short by the kill is continued.
    stuck = [o.timings[-3:] for o in outcomes if not o.acknowledged]
    assert not stuck, stuck
    assert len(acknowledged) == RESIDENTS
    assert not any(o.traces for o in outcomes)
    report = verify(sqlite_env, acknowledged, tokens)
    assert report["acknowledged_lost"] == 0, report
    assert report["duplicated"] == 0, report
    assert report["half_written_counted_complete"] == 0, report
    assert report["stored_complete"] == len(acknowledged), report
    assert report["in_progress"] == 0, report
    database = sqlite_env["PINGAN_DATABASE_URL"].removeprefix("sqlite:///")
    con = sqlite3.connect(database)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    assert time.monotonic() - started < 60


async def test_a_start_interrupted_between_its_two_writes_can_be_continued(db: None) -> None:
    import httpx

    import survey.collection.demo
    from questionnaires import default_instruments
    from survey.collection import responses
    from survey.web.app import create_app
    from tests.collection._support import invite, walk
    from tests.conftest import build_test_demo

    await build_test_demo((survey.collection.demo,))
    (token,) = await invite("liangshuaiyidu_web", 1, start=150)
    link = await responses.find_link(token)
    assert link is not None
    invitation, _ = link
    # The first of the two writes of the intro POST, as if the process died right after it.
    await responses.start_response(
        wave_id=invitation.wave_id,
        instrument=default_instruments()["liangshuaiyidu_web"],
        invitation_id=invitation.id,
        stratum=invitation.stratum,
        design_weight=invitation.design_weight,
    )
    app = create_app()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            screens = await walk(c, token)
            final = await c.get(f"/s/{token}")
    assert len(set(screens)) > 3, screens  # got past the intro
    assert "您的回答已经提交" in final.text
