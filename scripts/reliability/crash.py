"""Crash test under load: ``.venv/bin/python scripts/reliability/crash.py [--sqlite]``.

The load of load.py (default 200 residents, 20 pollsters, 5 committee users, uvicorn --workers 2
on PostgreSQL ``pingan_reliability``) runs for ``--seconds``; at ``--kill-at`` s every server
process (workers and supervisor) gets SIGKILL and the server is started again; on PostgreSQL, at
``--pg-restart-at`` s the cluster is restarted with
``pg_ctlcluster --skip-systemctl-redirect 15 main restart`` (and checked to be up at the end).
Residents whose request fails reload their current screen, as a person would, for up to
``--drain`` s after the load stops. Then every response a resident saw acknowledged (the
thank-you page) must be stored exactly once, and every response stored as complete must hold a
full, valid set of answers. Reports what clients saw while the server or the database was down
(dropped connections, 503 retry pages, 500s, stack traces). Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_PG, committee_users, environment, pg_database, run_workload

from tests.reliability.live import Server, free_port, prepare, verify

PG_VERSION = "15"


def pg_restart() -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "restart"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def pg_ensure_up() -> str:
    ready = subprocess.run(["pg_isready", "-h", "127.0.0.1"], capture_output=True, check=False)
    if ready.returncode == 0:
        return "up"
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "start"],
        capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    ready = subprocess.run(["pg_isready", "-h", "127.0.0.1"], capture_output=True, check=False)
    return "started again" if ready.returncode == 0 else "DOWN"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--pollsters", type=int, default=20)
    parser.add_argument("--committee", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=75)
    parser.add_argument("--kill-at", type=float, default=10)
    parser.add_argument("--pg-restart-at", type=float, default=45)
    parser.add_argument("--drain", type=float, default=45)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--invitations", type=int, default=6000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pingan-crash-"))
    url = f"sqlite:///{work / 'crash.sqlite'}" if args.sqlite else args.pg_url
    if not args.sqlite:
        pg_database(url)
    env = environment(url, work)
    prepared = prepare(env, args.invitations, args.pollsters)
    committee = committee_users(env, args.committee)
    server = Server(env, free_port(), workers=args.workers, log_path=work / "server.log")
    server.start()
    log: list[str] = []
    t0 = time.monotonic()

    def kill_and_restart() -> None:
        pids = server.kill9()
        log.append(f"{time.monotonic() - t0:5.1f} s  kill -9 of {len(pids)} server processes")
        time.sleep(1.0)
        server.start()
        log.append(f"{time.monotonic() - t0:5.1f} s  server up again")

    def restart_database() -> None:
        log.append(f"{time.monotonic() - t0:5.1f} s  PostgreSQL restart begins")
        pg_restart()
        log.append(f"{time.monotonic() - t0:5.1f} s  PostgreSQL restart done")

    events = [(args.kill_at, kill_and_restart)]
    if not args.sqlite:
        events.append((args.pg_restart_at, restart_database))
    try:
        stats, elapsed = asyncio.run(
            run_workload(
                server.base, prepared, committee, residents=args.residents,
                pollsters=args.pollsters, seconds=args.seconds, events=events,
                retries=400, drain=args.drain,
            )
        )  # fmt: skip
    finally:
        server.stop()
        database_state = "sqlite" if args.sqlite else pg_ensure_up()
    print(f"engine: {'sqlite' if args.sqlite else 'postgresql'}, uvicorn --workers "
          f"{args.workers}, {args.residents} residents + {args.pollsters} pollsters + "
          f"{args.committee} committee, load {args.seconds:.0f} s + drain ≤ {args.drain:.0f} s")  # fmt: skip
    for line in log:
        print("  " + line)
    print(stats.table(elapsed))
    seen: Counter[int] = Counter()
    for route_rows in stats.timings.values():
        seen.update(status for status, _ in route_rows if status == 0 or status >= 500)
    print(f"failed requests seen by clients: {dict(sorted(seen.items()))} "
          f"(0 = connection dropped/refused); retry pages (503, Chinese): "
          f"{sum(o.retry_pages for o in stats.residents)}")  # fmt: skip
    acknowledged = [o.token for o in stats.residents if o.acknowledged]
    started = [o.token for o in stats.residents]
    unfinished = sum(1 for o in stats.residents if not o.acknowledged)
    report = verify(env, acknowledged, started)
    for o in [o for o in stats.residents if not o.acknowledged][:5]:
        print(
            f"  not finished: {len(o.timings)} requests, last {[(r[0], s) for r, s, _ in o.timings[-4:]]}"
        )
        if os.environ.get("CRASH_DEBUG"):
            print("   ", [s for _r, s, _ in o.timings])
    print(f"residents started {len(started)}, acknowledged {len(acknowledged)}, "
          f"not finished {unfinished}")  # fmt: skip
    print(f"stored: {report}")
    traces = sum(o.traces for o in stats.residents)
    print(f"stack traces shown to clients: {traces}; database at the end: {database_state}")
    ok = report["acknowledged_lost"] == 0 and report["duplicated"] == 0
    ok = ok and report["half_written_counted_complete"] == 0 and not traces
    ok = ok and database_state != "DOWN"
    print(f"every acknowledged response stored exactly once, nothing half-written counted → "
          f"{'OK' if ok else 'FAIL'}")  # fmt: skip
    print(f"server log: {work / 'server.log'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
