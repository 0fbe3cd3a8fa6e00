"""Live-server helpers for the crash test and the load/crash scripts in scripts/reliability/:
start uvicorn on a loopback port, prepare a database with many invitations, walk a resident
through the survey like a browser without JavaScript, and check what was stored.

A resident *acknowledged* = the client saw the thank-you page ("您的回答已经提交") after its
final submit. The checks: every acknowledged invitation has exactly one completed response, and
every completed response holds a full, valid set of answers for its instrument.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
THANK_YOU = "您的回答已经提交"
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
SCREEN = re.compile(r'name="_screen" value="([^"]+)"')
INPUT = re.compile(r'<input type="(radio|checkbox)" name="([^"]+)" value="([^"]+)"')
TEXTAREA = re.compile(r'<textarea name="([^"]+)"')
NO_LIMITS = {
    "PINGAN_RATE_SURVEY_IP": "0",  # every simulated resident shares 127.0.0.1
    "PINGAN_RATE_SURVEY_MISS_IP": "0",
    "PINGAN_RATE_LOGIN_IP": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A uvicorn process serving the app (``workers`` processes) on ``port``."""

    env: dict[str, str]
    port: int
    workers: int = 1
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(BIN / "uvicorn"), "survey.web.asgi:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--no-access-log"],
            env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"server on {self.base} did not come up in {timeout} s")

    def worker_pids(self) -> list[int]:
        """The pids of the serving processes: the supervisor's children, or itself."""
        assert self.process is not None
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        children = [int(p) for p in out.stdout.split()]
        # uvicorn --workers N: a supervisor plus N children (and a resource tracker).
        return children if self.workers > 1 else [self.process.pid]

    def kill9(self) -> list[int]:
        """kill -9 every process of the server (workers and supervisor); returns the pids."""
        assert self.process is not None
        pids = [*self.worker_pids(), self.process.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return pids

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def survey_cli(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(BIN / "survey"), *args], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"survey {' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done.stdout


def first_choices(html: str) -> dict[str, str]:
    """For every question on a page: its first option ("无" for free text)."""
    fields: dict[str, str] = {}
    for _kind, name, value in INPUT.findall(html):
        fields.setdefault(name, value)
    for name in TEXTAREA.findall(html):
        fields.setdefault(name, "无")
    return fields


@dataclass
class Outcome:
    """What one resident's client saw."""

    token: str
    acknowledged: bool = False
    errors: int = 0  # 5xx answers and transport errors (each retried)
    retry_pages: int = 0  # 503 pages with the Chinese "please retry" text
    traces: int = 0  # responses that showed a stack trace
    timings: list[tuple[str, int, float]] = field(default_factory=list)  # (route, status, s)


def _route(method: str, path: str) -> str:
    if path.startswith("/s/"):
        return f"{method} /s/<token>"
    return f"{method} {re.sub(r'/[0-9]+', '/<id>', path.split('?')[0])}"


async def timed(
    client: httpx.AsyncClient, outcome: Outcome, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    """One request, timed and recorded; None on a transport error (server down)."""
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kw)
    except httpx.HTTPError:
        outcome.errors += 1
        outcome.timings.append((_route(method, url), 0, time.perf_counter() - started))
        return None
    outcome.timings.append(
        (_route(method, url), response.status_code, time.perf_counter() - started)
    )
    if response.status_code >= 500:
        outcome.errors += 1
        if response.status_code == 503 and "稍后" in response.text:
            outcome.retry_pages += 1
    if "Traceback" in response.text:
        outcome.traces += 1
    return response


async def resident(
    base: str,
    token: str,
    *,
    retries: int = 60,
    pause: float = 0.5,
    think: float = 0.0,
    stop: Callable[[], bool] = lambda: False,
    timeout: float = 30,
) -> Outcome:
    """Answer the survey behind ``token`` with the first option of every question, as a browser
    would (its own cookie jar; GET a screen, POST it, follow the redirect). On a 5xx or a dropped
    connection the resident waits ``pause`` s and reloads the current screen (at most
    ``retries`` times)."""
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as client:
        return await _answer(client, token, retries, pause, think, stop)


async def _answer(
    client: httpx.AsyncClient,
    token: str,
    retries: int,
    pause: float,
    think: float,
    stop: Callable[[], bool],
) -> Outcome:
    outcome = Outcome(token)
    url = f"/s/{token}"
    failures = 0
    page: httpx.Response | None = None
    while failures <= retries and not stop():
        if page is None:
            page = await timed(client, outcome, "GET", url)
            if page is None or page.status_code >= 500:
                failures += 1
                page = None
                await asyncio.sleep(pause)
                continue
        if THANK_YOU in page.text:
            outcome.acknowledged = True
            return outcome
        screen = SCREEN.search(page.text)
        csrf = CSRF.search(page.text)
        if screen is None or csrf is None:
            return outcome  # a page without a form (link problem): not acknowledged
        if think:
            await asyncio.sleep(think)
        data = {"_csrf_token": csrf.group(1), "_screen": screen.group(1), "_nav": "next"}
        data.update(first_choices(page.text))
        posted = await timed(client, outcome, "POST", url, data=data)
        if posted is None or posted.status_code >= 500:
            failures += 1
            page = None  # reload the screen, as a resident pressing 刷新 would
            await asyncio.sleep(pause)
            continue
        if posted.status_code == 303:
            page = await timed(client, outcome, "GET", posted.headers["location"])
            if page is None or page.status_code >= 500:
                failures += 1
                page = None
                await asyncio.sleep(pause)
            continue
        page = posted  # a validation page (422) or the thank-you page rendered directly
    return outcome


# ----------------------------------------------------------------------------- preparing data


def prepare(
    env: dict[str, str],
    invitations: int,
    pollsters: int = 0,
    areas: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Migrate, build the demo (only the demo steps of ``areas`` if given) and create
    ``invitations`` fresh links, plus ``pollsters`` extra pollster accounts and enough CATI
    cases, callable at any hour. Returns tokens and ids. Runs in a subprocess with ``env``."""
    code = (
        "import asyncio, json\n"
        "from tests.reliability.live import _prepare_db\n"
        f"print(json.dumps(asyncio.run(_prepare_db({invitations}, {pollsters}, {areas!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def _prepare_db(
    invitations: int, pollsters: int, areas: Sequence[str] | None = None
) -> dict[str, Any]:
    from piccolo.engine import engine_finder
    from piccolo.engine.postgres import PostgresEngine

    import survey.demo
    from survey.accounts import create_user
    from survey.cati.cases import add_cases
    from survey.cati.tables import Campaign
    from survey.collection.invitations import create_invitations
    from survey.db.migrate import migrate_forwards
    from survey.db.tables import Wave
    from survey.results.tables import ResultRun

    await migrate_forwards()
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=4)
    # ``areas`` crossed a process boundary as module names (``prepare``): the modules themselves.
    steps = None if areas is None else tuple(importlib.import_module(name) for name in areas)
    await survey.demo.build_demo(steps=steps)
    wave = await Wave.select(Wave.id).where(Wave.status == "collecting").first()
    assert wave is not None
    tokens: list[str] = []
    for start in range(0, invitations, 2000):
        phones = [f"177{n:08d}" for n in range(start, min(invitations, start + 2000))]
        summary = await create_invitations(wave["id"], phones, "liangshuaiyidu_web", None)
        tokens.extend(c.token for c in summary.created)
    campaign = await Campaign.select(Campaign.id).first()
    users: list[str] = []
    if pollsters and campaign is not None:
        await Campaign.update(
            {Campaign.calling_windows: "00:00-24:00", Campaign.excluded_weekdays: "",
             Campaign.excluded_dates: ""}
        ).where(Campaign.id == campaign["id"])  # fmt: skip
        await add_cases(campaign["id"], [f"166{n:08d}" for n in range(pollsters * 400)])
        for i in range(pollsters):
            name = f"load_pollster{i:02d}"
            await create_user(name, "pingan2026", frozenset({"pollster"}), name, "990102")
            users.append(name)
    results_wave = await ResultRun.select(ResultRun.wave).output(as_list=True)
    return {
        "wave_id": wave["id"],
        "tokens": tokens,
        "campaign_id": campaign["id"] if campaign else None,
        "pollsters": users,
        "results_wave": max(results_wave) if results_wave else None,
    }


def verify(
    env: dict[str, str], acknowledged: Sequence[str], started: Sequence[str]
) -> dict[str, Any]:
    """Check the stored responses of the ``started`` tokens (in a subprocess, so the engine of
    ``env`` is used): see the module docstring."""
    path = Path(env.get("PINGAN_VERIFY_FILE", "/tmp/pingan-verify.json"))
    path.write_text(json.dumps({"acknowledged": list(acknowledged), "started": list(started)}))
    code = (
        "import asyncio, json\n"
        "from tests.reliability.live import _verify_db\n"
        f"print(json.dumps(asyncio.run(_verify_db({str(path)!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def _verify_db(path: str) -> dict[str, Any]:
    from questionnaires import validate_answers
    from survey.collection.invitations import token_hash
    from survey.collection.respondent import instrument_for, wave_context
    from survey.collection.tables import Invitation, Response

    spec = json.loads(Path(path).read_text())
    acknowledged = set(spec["acknowledged"])
    hashes = {token_hash(t): t for t in spec["started"]}
    invitations = {
        r["id"]: hashes[r["token_hash"]]
        for r in await Invitation.select(Invitation.id, Invitation.token_hash).where(
            Invitation.token_hash.is_in(list(hashes) or ["-"])
        )
    }
    responses = await Response.select(
        Response.id, Response.invitation, Response.status, Response.answers,
        Response.instrument_id, Response.completed_at, Response.wave,
    ).where(Response.invitation.is_in(list(invitations) or [-1]))  # fmt: skip
    # The instrument as the resident saw it: with the district's departments.
    instruments: dict[tuple[int, str], Any] = {}
    for r in responses:
        key = (r["wave"], r["instrument_id"])
        if key not in instruments:
            context = await wave_context(r["wave"])
            assert context is not None
            instruments[key] = instrument_for(r["instrument_id"], context)
    per_token: dict[str, list[dict[str, Any]]] = {}
    for r in responses:
        per_token.setdefault(invitations[r["invitation"]], []).append(r)
    completed = [r for r in responses if r["status"] == "completed"]
    invalid_complete = []
    for r in completed:
        problems = validate_answers(
            instruments[(r["wave"], r["instrument_id"])], json.loads(r["answers"]), partial=False
        )
        if problems or r["completed_at"] is None:
            invalid_complete.append(r["id"])
    lost = [
        t for t in acknowledged
        if sum(1 for r in per_token.get(t, []) if r["status"] == "completed") != 1
    ]  # fmt: skip
    duplicated = [t for t, rows in per_token.items() if len(rows) > 1]
    return {
        "acknowledged": len(acknowledged),
        "stored_complete": len(completed),
        "complete_not_acknowledged": len(
            {invitations[r["invitation"]] for r in completed} - acknowledged
        ),
        "acknowledged_lost": len(lost),
        "duplicated": len(duplicated),
        "half_written_counted_complete": len(invalid_complete),
        "in_progress": sum(1 for r in responses if r["status"] == "in_progress"),
    }
