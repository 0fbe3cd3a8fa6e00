"""Benchmark of the CATI call queue on PostgreSQL: 1,000,000 cases, 100 concurrent pollsters.

Run: ``.venv/bin/python benchmarks/cati.py [--cases 1000000] [--pollsters 100] [--seconds 20]
[--processes 2]`` (about 2–3 minutes: up to half a minute to load the cases). It uses its own
database ``pingan_bench_cati`` (``PINGAN_BENCH_CATI_URL`` to change it), created if missing and
rebuilt on every run.

Set-up: one campaign, 20 strata with targets, 1,000,000 cases with 0–3 earlier attempts, retry
times spread over the past 10 days and 1 % due appointments; 20 connections in all, like two web
workers with 10 each (``--processes 2`` splits the pollsters over two processes with 10
connections each). Each simulated pollster asks for the next case (timed: the whole
``survey.cati.queue.next_case`` call, i.e. the atomic hand-out) and then records an outcome
(``record_outcome``, not timed) that frees the case. Four phases of ``--seconds`` each:

* saturation — every pollster asks again as soon as the previous outcome is stored (a closed
  loop: latency here is queueing for the two cores, ≈ pollsters / throughput);
* paced — each pollster waits a random time (exponential, mean 2 s or 5 s; random start)
  between an outcome and the next request (≈ 50 and 20 hand-outs/s offered: still 20–50× a
  real call centre, where a call lasts minutes);
* one pollster alone — the latency floor of a hand-out.

Target: next-case p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

BENCH_URL = os.environ.get(
    "PINGAN_BENCH_CATI_URL", "postgresql://postgres@127.0.0.1:5432/pingan_bench_cati"
)
os.environ["PINGAN_DATABASE_URL"] = BENCH_URL
os.environ["PICCOLO_CONF"] = "survey.piccolo_conf"

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402
from piccolo.engine import engine_finder  # noqa: E402
from piccolo.engine.postgres import PostgresEngine  # noqa: E402

from survey.cati.attempts import record_outcome  # noqa: E402
from survey.cati.queue import next_case  # noqa: E402
from survey.db import testing  # noqa: E402

STRATA = 20
POOL = 20
TARGET_P99_MS = 50.0
# (name, pause in seconds between a pollster's outcome and its next request)
PHASES = (("saturation", 0.0), ("paced 2 s", 2.0), ("paced 5 s", 5.0), ("one pollster", -1.0))
OUTCOMES = ("no_answer", "busy", "answering_machine", "refusal", "not_in_service", "soft_refusal")
PROBS = (0.45, 0.2, 0.15, 0.1, 0.05, 0.05)


async def create_database() -> None:
    """Create the benchmark database if it does not exist."""
    base, _, name = BENCH_URL.rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def load(cases: int, pollsters: int, now: dt.datetime) -> tuple[int, list[int]]:
    """Schema, campaign, users and ``cases`` cases (bulk SQL). Returns (campaign, user ids)."""
    await testing.reset_schema()
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine)
    run = engine.run_ddl
    await run("INSERT INTO region_unit (code, name, level) VALUES ('B01', '基准区', 'district')")
    await run(
        "INSERT INTO programme (code, name, region, instruments, policy, created_at) "
        "VALUES ('bench', '基准方案', 1, '[]', 'default', now())"
    )
    await run("INSERT INTO wave (programme, month, status) VALUES (1, '2026-11', 'collecting')")
    await run(
        "INSERT INTO cati_campaign (wave, mode, name, instrument_id, status, timezone, "
        "calling_windows, excluded_weekdays, excluded_dates, max_attempts, hold_minutes, "
        "created_at) VALUES (1, 'phone', '基准', 'liangshuaiyidu', 'running', 'Asia/Shanghai', "
        "'00:00-24:00', '', '', 5, 30, now())"
    )
    await run(
        "INSERT INTO app_user (username, display_name, password_hash, roles, is_active, "
        "created_at) SELECT 'bench' || g, 'bench' || g, 'x', 'pollster', true, "
        f"now() FROM generate_series(1, {pollsters}) g"
    )
    stamp = now.isoformat()
    # Retry times over the past 10 days; 1 % appointments due in the past day.
    await run(
        "INSERT INTO cati_case (campaign, phone, stratum, design_weight, batch, state, "
        "next_call_at, attempts, appointment_at, disposition, last_outcome, created_at) "
        "SELECT 1, '139' || lpad(g::text, 8, '0'), 'S' || lpad((g % "
        f"{STRATA})::text, 2, '0'), 50 + (g % 7), 1, 'open', "
        f"timestamptz '{stamp}' - (g % 864000) * interval '1 second', (g % 4), "
        f"CASE WHEN g % 100 = 0 THEN timestamptz '{stamp}' - (g % 86400) * interval '1 second' "
        f"END, '', '', now() FROM generate_series(1, {cases}) g"
    )
    await run(
        "INSERT INTO cati_stratum (campaign, stratum, completes, cases) "
        f"SELECT 1, 'S' || lpad(s::text, 2, '0'), s * 10, {cases // STRATA} "
        f"FROM generate_series(0, {STRATA - 1}) s"
    )
    await run(
        "INSERT INTO stratum_target (wave, stratum, target) "
        f"SELECT 1, 'S' || lpad(s::text, 2, '0'), 1000 FROM generate_series(0, {STRATA - 1}) s"
    )
    await run("ANALYZE")
    rows = await run("SELECT id FROM app_user ORDER BY id")
    return 1, [int(r["id"]) for r in rows]


async def phase(
    campaign: int, users: list[int], seconds: float, pause: float, now: dt.datetime, tag: str
) -> tuple[list[float], int, float]:
    """Run the pollsters for ``seconds``; returns next-case latencies (ms), hand-outs, elapsed.
    Requests start only inside the window; hand-outs/s is counted over the window."""
    latencies: list[float] = []
    handed = 0
    stop = time.perf_counter() + seconds
    rng = np.random.default_rng(20261124)

    async def pollster(index: int, user: int) -> None:
        nonlocal handed
        k = 0
        if pause > 0:  # start at a random moment, so pollsters do not ask in lock-step
            await asyncio.sleep(float(rng.uniform(0, pause)))
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            assignment = await next_case(campaign, user, now)
            latencies.append((time.perf_counter() - t0) * 1000)
            if assignment.case_id is not None:
                handed += 1
                outcome = str(rng.choice(OUTCOMES, p=PROBS))
                await record_outcome(
                    assignment.case_id, user, outcome, f"{tag}-{index:03d}-{k:07d}", now=now
                )
            k += 1
            if pause > 0:  # think time: exponential with mean ``pause`` (a Poisson stream)
                await asyncio.sleep(float(rng.exponential(pause)))

    start = time.perf_counter()
    if pause < 0:  # a single pollster alone: the latency floor
        await pollster(0, users[0])
        return latencies, handed, time.perf_counter() - start
    await asyncio.gather(*(pollster(i, u) for i, u in enumerate(users)))
    return latencies, handed, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q * len(ordered))) - 1))]


Result = tuple[str, list[float], int, float]


async def run_phases(
    campaign: int,
    users: list[int],
    seconds: float,
    now: dt.datetime,
    worker: int,
    pool: int,
    barrier: Any,
) -> list[Result]:
    """Every phase for ``users`` in this process (with its own pool of ``pool`` connections);
    ``barrier`` (or None) lines the phases up across processes."""
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine)
    await engine.start_connection_pool(min_size=pool, max_size=pool)
    results: list[Result] = []
    try:
        for number, (name, pause) in enumerate(PHASES):
            if barrier is not None:
                await asyncio.to_thread(barrier.wait)
            if pause < 0 and worker > 0:  # the lone pollster runs in the first process only
                continue
            latencies, handed, elapsed = await phase(
                campaign, users, seconds, pause, now, f"w{worker}p{number}"
            )
            results.append((name, latencies, handed, elapsed))
    finally:
        await engine.close_connection_pool()
    return results


def _worker(
    campaign: int,
    users: list[int],
    seconds: float,
    now: dt.datetime,
    worker: int,
    pool: int,
    barrier: Any,
    out: Any,
) -> None:
    out.send(asyncio.run(run_phases(campaign, users, seconds, now, worker, pool, barrier)))
    out.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--pollsters", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes (like web workers)"
    )
    args = parser.parse_args()
    await create_database()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    campaign, users = await load(args.cases, args.pollsters, now)
    load_s = time.perf_counter() - t0
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine)
    processes = max(1, args.processes)
    if processes == 1:
        results = await run_phases(campaign, users, args.seconds, now, 0, POOL, None)
    else:
        # Like web workers: each process has its share of the pollsters and POOL / n connections.
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(processes)
        pipes, children = [], []
        for worker in range(processes):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(
                target=_worker,
                args=(campaign, users[worker::processes], args.seconds, now, worker,
                      POOL // processes, barrier, send),
            )  # fmt: skip
            child.start()
            pipes.append(receive)
            children.append(child)
        per_worker = [await asyncio.to_thread(p.recv) for p in pipes]
        for child in children:
            child.join()
        results = []
        for name, _pause in PHASES:
            rows = [r for w in per_worker for r in w if r[0] == name]
            results.append(
                (
                    name,
                    [x for r in rows for x in r[1]],
                    sum(r[2] for r in rows),
                    max(r[3] for r in rows),
                )
            )
    held = await engine.run_ddl(
        "SELECT COUNT(*) AS n FROM cati_case WHERE held_by IS NOT NULL AND next_call_at > now()"
    )
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.cases:,} cases in {STRATA} strata, {args.pollsters} pollsters in "
        f"{args.processes} process(es), {POOL} connections in all; "
        f"load {load_s:.1f} s"
    )
    print()
    print("| phase | requests | hand-outs | hand-outs/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, latencies, handed, elapsed in results:
        print(
            f"| {name} | {len(latencies):,} | {handed:,} | {handed / min(elapsed, args.seconds):,.0f} | "
            f"{statistics.median(latencies):.1f} | {percentile(latencies, 0.95):.1f} | "
            f"{percentile(latencies, 0.99):.1f} | {max(latencies):.1f} |"
        )
    print()
    print(
        f"target: next-case p99 < {TARGET_P99_MS:.0f} ms; cases still held at the end: "
        f"{held[0]['n']}"
    )


if __name__ == "__main__":
    asyncio.run(main())
