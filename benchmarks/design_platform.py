"""Sample design in the platform: import a 100,000-row frame, draw, release, verify.

Run: ``.venv/bin/python benchmarks/design_platform.py [DATABASE_URL]`` (default: a fresh SQLite
file in a temporary directory; a PostgreSQL URL must name a database this script may wipe).
Builds the demo registry (no other demo areas), imports a phone frame of 100,000 rows
(stratified by street), draws 10,000 (SRSWOR, 2 batches), releases batch 1 without hand-off to
collection, and redraws it for verification. One run each; the targets are for an analyst's
patience, not a service level: import < 10 s, draw < 5 s, release and verify < 5 s each.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = 100_000
DRAW = 10_000


async def main(url: str) -> None:
    os.environ["PINGAN_DATABASE_URL"] = url
    os.environ["PICCOLO_CONF"] = "survey.piccolo_conf"
    from piccolo.engine import engine_finder
    from piccolo.engine.postgres import PostgresEngine

    import survey.demo as demo
    import survey.design.service as service
    from survey.db import testing
    from survey.db.tables import Unit
    from survey.design.frames import import_frame_file

    await testing.reset_schema()
    engine = engine_finder()
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(max_size=10)
    await demo.build_demo(steps=())  # the registry, users and wave only
    codes = [r["code"] for r in await Unit.select(Unit.code).where(Unit.level == "community")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["unit", "phone"])
    for i in range(ROWS):
        writer.writerow([codes[i % len(codes)], f"139{i:08d}"])
    data = out.getvalue().encode()

    timings: list[tuple[str, float, float]] = []
    start = time.perf_counter()
    frame = await import_frame_file(1, "frame.csv", data)
    timings.append(
        (f"import a {ROWS:,}-row phone frame (check + store)", time.perf_counter() - start, 10)
    )
    start = time.perf_counter()
    drawn = await service.draw_sample(1, service.DesignSpec(frame.frame_id, total=DRAW), seed=1)
    timings.append(
        (
            f"plan + draw {DRAW:,} (SRSWOR, 12 strata, 2 batches) + store",
            time.perf_counter() - start,
            5,
        )
    )
    start = time.perf_counter()
    # the release itself, not invitations or CATI cases: nothing to hand off or reweigh
    await service.release_batches(drawn.sample_id, fielding=service.Fielding({}, ()))
    timings.append(("release batch 1 (weights of 7,000 elements)", time.perf_counter() - start, 5))
    start = time.perf_counter()
    check = await service.verify_sample(drawn.sample_id)
    timings.append(("verify (fingerprint + redraw + compare)", time.perf_counter() - start, 5))
    assert check.identical
    engine_name = "PostgreSQL" if isinstance(engine, PostgresEngine) else "SQLite"
    print(f"{engine_name}, Python {sys.version.split()[0]}")
    print("| operation | time | target |")
    print("|---|---|---|")
    for label, seconds, target in timings:
        verdict = "✔" if seconds < target else "✘"
        print(f"| {label} | {seconds:.2f} s | < {target} s {verdict} |")
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


if __name__ == "__main__":
    default = f"sqlite:///{Path(tempfile.mkdtemp(prefix='pingan-bench-')) / 'bench.sqlite'}"
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
