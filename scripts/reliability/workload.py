"""The month-end workload shared by load.py and crash.py: residents completing surveys,
pollsters taking CATI cases and recording outcomes, committee members reloading the dashboard.
Every request is timed per route; a PostgreSQL database of its own is prepared from scratch."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.reliability.live import (  # noqa: E402
    CSRF,
    NO_LIMITS,
    Outcome,
    resident,
    timed,
)

PASSWORD = "pingan2026"
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/pingan_reliability"


def pg_database(url: str) -> None:
    """Create the database of ``url`` if missing and empty its public schema."""
    base, name = url.rsplit("/", 1)
    exists = subprocess.run(
        ["psql", f"{base}/postgres", "-Atc", f"SELECT 1 FROM pg_database WHERE datname='{name}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(["psql", f"{base}/postgres", "-qc", f'CREATE DATABASE "{name}"'],
                       check=True, capture_output=True)  # fmt: skip
    subprocess.run(["psql", url, "-qc", "DROP SCHEMA public CASCADE; CREATE SCHEMA public"],
                   check=True, capture_output=True)  # fmt: skip


def environment(database_url: str, workdir: Path) -> dict[str, str]:
    env = {**os.environ, **NO_LIMITS}
    env["PINGAN_DATABASE_URL"] = database_url
    env["PINGAN_SECRET_KEY"] = "reliability-secret-key-0123456789abcdef"
    env["PINGAN_VERIFY_FILE"] = str(workdir / "verify.json")
    return env


@dataclass
class Stats:
    """Timings of every request by route, and the residents' outcomes."""

    timings: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    residents: list[Outcome] = field(default_factory=list)
    pollster_actions: int = 0
    dashboard_loads: int = 0

    def add(self, outcome: Outcome) -> None:
        for route, status, seconds in outcome.timings:
            self.timings[route].append((status, seconds))

    def table(self, seconds: float) -> str:
        lines = [f"{'route':<34}{'requests':>9}{'errors':>8}{'err %':>7}{'p50 ms':>8}{'p99 ms':>8}"]
        total = errors = 0
        for route in sorted(self.timings):
            rows = self.timings[route]
            bad = sum(1 for s, _ in rows if s == 0 or s >= 500)
            ms = sorted(t * 1000 for _, t in rows)
            p50 = statistics.median(ms)
            p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
            total += len(rows)
            errors += bad
            lines.append(
                f"{route:<34}{len(rows):>9}{bad:>8}{100 * bad / len(rows):>7.2f}{p50:>8.0f}{p99:>8.0f}"
            )
        lines.append(f"{'all':<34}{total:>9}{errors:>8}{100 * errors / max(total, 1):>7.2f}")
        done = sum(1 for o in self.residents if o.acknowledged)
        lines.append(
            f"completes: {done} in {seconds:.1f} s = {done / seconds:.1f}/s; requests/s "
            f"{total / seconds:.0f}; pollster outcomes {self.pollster_actions}; dashboard loads "
            f"{self.dashboard_loads}"
        )
        return "\n".join(lines)


async def _login(client: httpx.AsyncClient, username: str, outcome: Outcome) -> bool:
    page = await timed(client, outcome, "GET", "/login")
    if page is None or page.status_code != 200:
        return False
    match = CSRF.search(page.text)
    if match is None:
        return False
    data = {"username": username, "password": PASSWORD, "next": "/", "_csrf_token": match.group(1)}
    done = await timed(client, outcome, "POST", "/login", data=data)
    return done is not None and done.status_code == 303


async def pollster_loop(
    base: str, username: str, campaign_id: int, stats: Stats, stop: Callable[[], bool]
) -> None:
    """Take the next case, open the console, record "no answer"; again until ``stop()``."""
    outcome = Outcome(username)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not stop() and not await _login(client, username, outcome):
            await asyncio.sleep(0.5)
        while not stop():
            home = await timed(client, outcome, "GET", "/cati")
            match = CSRF.search(home.text) if home is not None else None
            if match is None:
                await asyncio.sleep(0.5)
                if home is not None and home.status_code in (303, 401):
                    await _login(client, username, outcome)
                continue
            taken = await timed(
                client, outcome, "POST", f"/cati/{campaign_id}/next",
                data={"_csrf_token": match.group(1)},
            )  # fmt: skip
            if taken is None or taken.status_code != 303:
                await asyncio.sleep(0.5)
                continue
            case_url = taken.headers["location"]
            console = await timed(client, outcome, "GET", case_url)
            key = KEY.search(console.text) if console is not None else None
            csrf = CSRF.search(console.text) if console is not None else None
            if key is None or csrf is None:
                continue
            form = {"_csrf_token": csrf.group(1), "idempotency_key": key.group(1),
                    "outcome": "no_answer"}  # fmt: skip
            done = await timed(client, outcome, "POST", f"{case_url}/outcome", data=form)
            if done is not None and done.status_code == 303:
                stats.pollster_actions += 1
    stats.add(outcome)


async def committee_loop(
    base: str, username: str, wave_id: int, stats: Stats, stop: Callable[[], bool]
) -> None:
    """Reload the committee dashboard of a wave until ``stop()``."""
    outcome = Outcome(username)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not stop() and not await _login(client, username, outcome):
            await asyncio.sleep(0.5)
        while not stop():
            page = await timed(client, outcome, "GET", f"/results/{wave_id}")
            if page is not None and page.status_code == 200:
                stats.dashboard_loads += 1
            else:
                await asyncio.sleep(0.5)
    stats.add(outcome)


def committee_users(env: dict[str, str], count: int) -> list[str]:
    """``count`` committee accounts for the demo district (created if missing)."""
    names = [f"load_committee{i}" for i in range(count)]
    code = (
        "import asyncio\n"
        "from survey.accounts import create_user\n"
        "from survey.db.tables import AppUser\n"
        "async def go():\n"
        f"    for n in {names!r}:\n"
        "        if not await AppUser.exists().where(AppUser.username == n):\n"
        "            await create_user(n, 'pingan2026', frozenset({'committee'}), n, '990102')\n"
        "asyncio.run(go())\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    return names


async def run_workload(
    base: str,
    prepared: dict[str, Any],
    committee: list[str],
    *,
    residents: int,
    pollsters: int,
    seconds: float,
    events: list[tuple[float, Callable[[], Any]]] | None = None,
    retries: int = 10,
    drain: float = 0.0,
) -> tuple[Stats, float]:
    """Run the three populations for ``seconds``; ``events`` are (time offset, blocking callable)
    run in a thread during the load (kill, restart). After the deadline, residents already in
    a survey get ``drain`` more seconds to finish (crash test), then everything stops."""
    stats = Stats()
    tokens: list[str] = list(prepared["tokens"])
    started = time.monotonic()
    deadline = started + seconds
    hard_stop = deadline + drain

    def stop_new() -> bool:
        return time.monotonic() > deadline

    def stop_all() -> bool:
        return time.monotonic() > hard_stop

    async def resident_worker() -> None:
        while tokens and not stop_new():
            token = tokens.pop()
            outcome = await resident(base, token, retries=retries, pause=0.5, stop=stop_all)
            stats.residents.append(outcome)
            stats.add(outcome)

    async def run_events() -> None:
        for offset, action in events or []:
            delay = started + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await asyncio.to_thread(action)

    tasks = [asyncio.create_task(resident_worker()) for _ in range(residents)]
    tasks += [
        asyncio.create_task(pollster_loop(base, u, prepared["campaign_id"], stats, stop_new))
        for u in prepared["pollsters"][:pollsters]
    ]
    tasks += [
        asyncio.create_task(committee_loop(base, u, prepared["results_wave"], stats, stop_new))
        for u in committee
    ]
    tasks.append(asyncio.create_task(run_events()))
    await asyncio.gather(*tasks)
    return stats, time.monotonic() - started
