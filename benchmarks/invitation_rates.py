"""Benchmark of web invitation dispositions and AAPOR rates on PostgreSQL: 1,000,000 invitations
with 10,000,000 events.

Run: ``.venv/bin/python benchmarks/invitation_rates.py [--invitations 1000000] [--repeat 5]``
(about a minute and a half, most of it loading). It uses its own database
``pingan_bench_field`` (``PINGAN_BENCH_FIELD_URL`` to change it), created if missing and rebuilt
on every run. Invitations and events are streamed in with ``COPY`` (CSV generated in chunks;
the foreign key and the unique index (invitation, kind, seq) are dropped for the load and
restored after it), then ``VACUUM ANALYZE``.

Data: one wave, 20 strata, design weights 50–56; each invitation gets exactly ten events —
created, sent, delivered (or failed), reminders (seq 1, 2, …) and the steps of its outcome
(opened, consent, partial, screened out, completed, refused, expired) — with the outcome drawn
from a fixed distribution (seeded).

Timed: ``survey.collection.dispositions.disposition_counts`` (the SQL aggregate over the
invitations: each one's current disposition — the highest kind of its events, kept on the row by
every event write — counted and weighted per stratum and disposition) plus ``rates_from_counts``
(the sixteen AAPOR rates, unweighted and weighted, overall and per stratum). Target: < 2 s. Also
timed once, and checked equal: ``disposition_counts_from_events`` (the same from the ten million
events, ``GROUP BY invitation``), the consistency check's path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

BENCH_URL = os.environ.get(
    "PINGAN_BENCH_FIELD_URL", "postgresql://postgres@127.0.0.1:5432/pingan_bench_field"
)
os.environ["PINGAN_DATABASE_URL"] = BENCH_URL
os.environ["PICCOLO_CONF"] = "survey.piccolo_conf"

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402
from piccolo.engine import engine_finder  # noqa: E402
from piccolo.engine.postgres import PostgresEngine  # noqa: E402

from survey.collection import dispositions as d  # noqa: E402
from survey.db import testing  # noqa: E402

STRATA = 20
EVENTS_PER_INVITATION = 10
TARGET_SECONDS = 2.0
# Outcome → its steps after created/sent/delivered; reminders fill up to ten events.
PATHS: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("delivered", 0.30, ()),
    ("failed", 0.05, (d.FAILED,)),
    ("expired", 0.05, (d.EXPIRED,)),
    ("opened", 0.10, (d.OPENED,)),
    ("breakoff", 0.06, (d.OPENED, d.CONSENT)),
    ("refused", 0.04, (d.OPENED, d.REFUSED)),
    ("partial", 0.04, (d.OPENED, d.CONSENT, d.PARTIAL)),
    ("screened_out", 0.06, (d.OPENED, d.CONSENT, d.SCREENED_OUT)),
    ("completed", 0.30, (d.OPENED, d.CONSENT, d.PARTIAL, d.COMPLETED)),
)


async def create_database() -> None:
    """Create the benchmark database if it does not exist."""
    base, _, name = BENCH_URL.rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _templates() -> tuple[list[list[str]], list[int]]:
    """Per outcome: the ten event lines after the invitation id, and the highest kind."""
    stamp = "2026-11-10 09:00:00+00"
    templates: list[list[str]] = []
    tops: list[int] = []
    for _name, _p, steps in PATHS:
        head = [(d.CREATED, 0), (d.SENT, 0)] + ([] if d.FAILED in steps else [(d.DELIVERED, 0)])
        body = [(k, 0) for k in steps]
        reminders = EVENTS_PER_INVITATION - len(head) - len(body)
        kinds = head + [(d.REMINDED, s) for s in range(1, reminders + 1)] + body
        templates.append([f'{k},{s},{stamp},""' for k, s in kinds])
        tops.append(max(k for k, _s in kinds))
    return templates, tops


async def load(invitations: int) -> int:
    """Schema and wave, then invitations and events by COPY (constraints and the unique index
    dropped during the load and restored after). Returns the wave id."""
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
    await run("DROP INDEX IF EXISTS uq_invitation_event_step")
    await run(
        "ALTER TABLE invitation_event DROP CONSTRAINT IF EXISTS invitation_event_invitation_fkey"
    )
    await run("ALTER TABLE invitation_event SET UNLOGGED")
    rng = np.random.default_rng(20261204)
    probs = np.array([p for _n, p, _k in PATHS])
    outcomes = rng.choice(len(PATHS), size=invitations, p=probs / probs.sum())
    templates, tops = _templates()
    chunk = 100_000
    conn = await asyncpg.connect(BENCH_URL)
    try:

        async def invitation_rows() -> AsyncIterator[bytes]:
            for first in range(0, invitations, chunk):
                yield "".join(
                    f"{i + 1},1,{i + 1:064x},liangshuaiyidu,2027-01-01 00:00:00+00,pending,"
                    f"S{i % STRATA:02d},{50 + i % 7},1,f,2026-11-10 08:00:00+00,"
                    f"{tops[int(outcomes[i])]}\n"
                    for i in range(first, min(first + chunk, invitations))
                ).encode()

        await conn.copy_to_table(
            "invitation",
            source=invitation_rows(),
            columns=[
                "id", "wave", "token_hash", "instrument_id", "expires_at", "status", "stratum",
                "design_weight", "batch", "open_link", "created_at", "disposition",
            ],
            format="csv",
        )  # fmt: skip
        await conn.execute(f"SELECT setval('invitation_id_seq', {invitations})")

        async def event_rows() -> AsyncIterator[bytes]:
            for first in range(0, invitations, chunk):
                yield "".join(
                    f"{i + 1},{line}\n"
                    for i in range(first, min(first + chunk, invitations))
                    for line in templates[int(outcomes[i])]
                ).encode()

        await conn.copy_to_table(
            "invitation_event",
            source=event_rows(),
            columns=["invitation", "kind", "seq", "at", "detail"],
            format="csv",
        )
    finally:
        await conn.close()
    await run("ALTER TABLE invitation_event SET LOGGED")
    await run(
        "CREATE UNIQUE INDEX uq_invitation_event_step ON invitation_event (invitation, kind, seq)"
    )
    await run(
        "ALTER TABLE invitation_event ADD CONSTRAINT invitation_event_invitation_fkey"
        " FOREIGN KEY (invitation) REFERENCES invitation (id) ON UPDATE CASCADE ON DELETE CASCADE"
    )
    await run("VACUUM ANALYZE invitation_event")
    await run("VACUUM ANALYZE invitation")
    return 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invitations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    await create_database()
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine)
    await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        started = time.perf_counter()
        wave_id = await load(args.invitations)
        loaded = time.perf_counter() - started
        events = (await engine.run_ddl("SELECT count(*) AS n FROM invitation_event"))[0]["n"]
        timings: list[float] = []
        report = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            counts = await d.disposition_counts(wave_id)
            report = d.rates_from_counts(counts)
            timings.append(time.perf_counter() - t0)
        assert report is not None
        # The same recomputed from the ten million events (the consistency check's path).
        t0 = time.perf_counter()
        from_events = await d.disposition_counts_from_events(wave_id)
        recompute = time.perf_counter() - t0
        assert from_events == counts, "kept dispositions differ from the events"
        un, w = report.overall
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
        print(f"loaded {args.invitations:,} invitations and {events:,} events in {loaded:.1f} s")
        print(
            f"dispositions + rates: median {statistics.median(timings):.3f} s, "
            f"best {min(timings):.3f} s, worst {max(timings):.3f} s over {len(timings)} runs "
            f"(target < {TARGET_SECONDS} s)"
        )
        print(f"recomputed from all events (check, not the page's path): {recompute:.3f} s")
        print(
            f"invitations {report.invitations:,}; e = {un.e:.4f}; RR1 {un.rr1:.4f}, "
            f"RR3 {un.rr3:.4f}, COOP1 {un.coop1:.4f}, REF2 {un.ref2:.4f}, weighted RR3 "
            f"{w.rr3:.4f}; {len(report.by_stratum)} strata"
        )
        print("PASS" if statistics.median(timings) < TARGET_SECONDS else "FAIL")
    finally:
        await engine.close_connection_pool()


if __name__ == "__main__":
    asyncio.run(main())
