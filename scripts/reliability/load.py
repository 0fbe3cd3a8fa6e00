"""Month-end load: ``.venv/bin/python scripts/reliability/load.py``.

200 residents completing surveys back to back (each a fresh browser, no think time), 20
pollsters taking CATI cases and recording outcomes, and 5 committee members reloading the
dashboard, for 60 s against ``uvicorn --workers 2`` on PostgreSQL (its own database,
``pingan_reliability``, wiped first). Loopback only; bounded by ``--seconds`` and the number of
prepared invitations. Prints error rate and p50/p99 per route, completes/s, and checks that
every acknowledged response is stored exactly once. The per-address rate limits are off (every
simulated resident is 127.0.0.1); the per-token limit stays on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import (
    DEFAULT_PG,
    committee_users,
    environment,
    pg_database,
    run_workload,
)

from tests.reliability.live import Server, free_port, prepare, verify


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--sqlite", action="store_true", help="SQLite file instead of PostgreSQL")
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--pollsters", type=int, default=20)
    parser.add_argument("--committee", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--invitations", type=int, default=8000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pingan-load-"))
    url = f"sqlite:///{work / 'load.sqlite'}" if args.sqlite else args.pg_url
    if not args.sqlite:
        pg_database(url)
    env = environment(url, work)
    t0 = time.monotonic()
    prepared = prepare(env, args.invitations, args.pollsters)
    committee = committee_users(env, args.committee)
    print(f"prepared {len(prepared['tokens'])} invitations, {len(prepared['pollsters'])} "
          f"pollsters, {len(committee)} committee users in {time.monotonic() - t0:.0f} s")  # fmt: skip
    server = Server(env, free_port(), workers=args.workers, log_path=work / "server.log")
    server.start()
    try:
        stats, elapsed = asyncio.run(
            run_workload(
                server.base, prepared, committee, residents=args.residents,
                pollsters=args.pollsters, seconds=args.seconds, retries=0,
            )
        )  # fmt: skip
    finally:
        server.stop()
    print(f"engine: {'sqlite' if args.sqlite else 'postgresql'}, uvicorn --workers "
          f"{args.workers}, {args.residents} residents + {args.pollsters} pollsters + "
          f"{args.committee} committee, {elapsed:.1f} s")  # fmt: skip
    print(stats.table(elapsed))
    acknowledged = [o.token for o in stats.residents if o.acknowledged]
    started = [o.token for o in stats.residents]
    report = verify(env, acknowledged, started)
    print(f"stored: {report}")
    traces = sum(o.traces for o in stats.residents)
    log = (work / "server.log").read_text(errors="replace")
    print(f"stack traces shown: {traces}; server log tracebacks: {log.count('Traceback')}")
    ok = report["acknowledged_lost"] == 0 and report["duplicated"] == 0 and not traces
    ok = ok and report["half_written_counted_complete"] == 0
    print(f"acknowledged responses stored exactly once → {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
