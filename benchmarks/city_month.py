"""A city's month on one installation (issue 20), on PostgreSQL.

    .venv/bin/python benchmarks/city_month.py [--sizes 100000,1000000] [--url URL]

A seeded city of 20 districts (``survey.demo.city_registry_csv(20)``: per district 12 streets,
8 stations, 4 departments, ≈ 80 communities with populations), a programme per district
(default policy) and the city's programme (``survey/policies/city.toml``, districts ranked), one
wave each for 2026-12. For each size N (interviews in the month, N/20 per district):

1. import — the 20 districts' delivered files (CSV, N/20 rows each) into their own waves
   (``import_responses``: validation, then COPY);          target for 1,000,000: ≤ 60 s
2. compute — the 20 district waves and the city wave (which reads the districts' interviews);
                                                           target for 1,000,000: ≤ 30 s
3. report — the city's PDF 通报 (``render_report``).

Each step runs in its own process (so its peak resident memory is its own; target < 4 GB),
and prints wall time and peak memory. The database (default ``pingan_bench_city``,
``PINGAN_BENCH_CITY_URL`` or ``--url``) is dropped and rebuilt for each size; the files are
written to a temporary folder beforehand (not timed). Results go to docs/benchmarks.md
("A city's month"). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# Run as a script, this folder is first on the path and benchmarks/sampling.py would shadow
# the ``sampling`` package the app imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

DEFAULT_URL = os.environ.get(
    "PINGAN_BENCH_CITY_URL", "postgresql://postgres@127.0.0.1:5432/pingan_bench_city"
)
DISTRICTS = 20
MONTH = "2026-12"
CITY_CODE = "990100"
HEADER = (
    "respondent_id,community,sex,age_group,design_weight,q_anquan,q_zhixiao,"
    "q_manyi_gongan,q_manyi_jianchayuan,q_manyi_fayuan,q_manyi_sifaju\n"
)
AGES = ("18-29", "30-44", "45-59", "60+")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


async def _create_database(url: str) -> None:
    import asyncpg

    base, _, name = url.rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _setup(folder: Path, size: int) -> None:
    """Schema, registry, programmes, waves, and the districts' delivered files in ``folder``."""
    import numpy as np

    from survey.db import testing
    from survey.db.tables import Unit, Wave
    from survey.demo import city_districts, city_registry_csv
    from survey.programmes.service import create_programme
    from survey.ranking.policy import policies_dir
    from survey.registry.service import import_registry_table
    from survey.tabular import read_table

    await testing.reset_schema()
    await import_registry_table(
        read_table("city.csv", city_registry_csv(DISTRICTS)), username="bench"
    )
    default = (policies_dir() / "default.toml").read_text(encoding="utf-8")
    city = (policies_dir() / "city.toml").read_text(encoding="utf-8")
    waves: dict[str, int] = {}
    regions = [*((code, name) for code, name in city_districts(DISTRICTS)), (CITY_CODE, "示范市")]
    for code, name in regions:
        programme = await create_programme(
            f"p{code}",
            f"{name}两率一度",
            code,
            policy_text=city if code == CITY_CODE else default,
            policy_name="city.toml" if code == CITY_CODE else "default.toml",
        )
        row = await Wave.insert(
            Wave(programme=programme, month=MONTH, status="collecting")
        ).returning(Wave.id)
        waves[code] = int(row[0]["id"])
    (folder / "waves.json").write_text(json.dumps(waves))
    per = size // DISTRICTS
    rng = np.random.default_rng(20261204 + size)
    for k, (code, _name) in enumerate(city_districts(DISTRICTS)):
        communities = np.array(
            [
                r["code"]
                for r in await Unit.select(Unit.code).where(
                    (Unit.level == "community") & Unit.code.like(f"{code}%")
                )
            ]
        )
        community = communities[rng.integers(0, communities.size, per)]
        sex = np.where(np.arange(per) % 2 == 0, "男", "女")
        age = np.array(AGES)[(np.arange(per) // 2) % 4]
        weight = np.round(rng.uniform(50, 150, per), 2)
        shift = 0.05 * (k % 5)
        anquan = rng.choice([1, 2, 3, 4, 5], per, p=[0.3 - shift, 0.3, 0.2, 0.1, 0.1 + shift])
        zhixiao = np.where(rng.random(per) < 0.8 - shift, 1, 2)
        manyi = rng.choice([1, 2, 3, 4, 5, 8], (per, 4), p=[0.35, 0.3, 0.15, 0.1, 0.05, 0.05])
        lines = [HEADER]
        for i in range(per):
            m = manyi[i]
            lines.append(
                f"{code}-{i:07d},{community[i]},{sex[i]},{age[i]},{weight[i]},{anquan[i]},"
                f"{zhixiao[i]},{m[0]},{m[1]},{m[2]},{m[3]}\n"
            )
        (folder / f"{code}.csv").write_text("".join(lines), encoding="utf-8")


async def _step(folder: Path, step: str) -> dict[str, float]:
    from piccolo.engine import engine_finder
    from piccolo.engine.postgres import PostgresEngine

    from survey.demo import city_districts
    from survey.results.compute import compute_wave
    from survey.results.importing import import_responses
    from survey.results.report import render_report

    waves: dict[str, int] = json.loads((folder / "waves.json").read_text())
    engine = engine_finder()
    assert isinstance(engine, PostgresEngine)
    await engine.start_connection_pool(min_size=1, max_size=4)
    try:
        if step == "report":  # the imports of WeasyPrint and the fonts are not the report's
            from survey.results import report as _report  # noqa: F401
        server = await _server_cpu(engine)
        children = _children_cpu()
        start = time.perf_counter()
        cpu = time.process_time()
        extra: dict[str, float] = {}
        if step == "import":
            rows = 0
            for code, _name in city_districts(DISTRICTS):
                summary = await import_responses(
                    waves[code], folder / f"{code}.csv", "liangshuaiyidu", username="bench"
                )
                rows += summary.created
            extra["rows"] = rows
        elif step == "compute":
            city_start = 0.0
            for code, _name in city_districts(DISTRICTS):
                await compute_wave(waves[code], username="bench")
            city_start = time.perf_counter()
            summary = await compute_wave(waves[CITY_CODE], username="bench")
            extra["city_wave_s"] = time.perf_counter() - city_start
            extra["city_responses"] = summary.n_responses
        elif step == "report":
            content, _media, _name = await render_report(waves[CITY_CODE], "pdf")
            (folder / "city.pdf").write_bytes(content)
            extra["pdf_kb"] = len(content) / 1024
        seconds = time.perf_counter() - start
        extra["cpu_s"] = time.process_time() - cpu  # this process only
        extra["worker_cpu_s"] = _children_cpu() - children  # the upload worker pool (import)
        extra["pg_cpu_s"] = sum(
            v - server.get(pid, 0.0) for pid, v in (await _server_cpu(engine)).items()
        )
        extra["load_avg"] = os.getloadavg()[0]
    finally:
        await engine.close_connection_pool()
    return {"seconds": seconds, "peak_mb": _peak_mb(), **extra}


def _children_cpu() -> float:
    """User + system CPU seconds of this process's descendants, running (the upload worker
    pool, a forkserver's children: read from /proc) and finished."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    pending, seen = [os.getpid()], set()
    while pending:
        pid = pending.pop()
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                pending.extend(int(c) for c in task.read_text().split() if int(c) not in seen)
            except OSError:
                continue
        if pid != os.getpid() and pid not in seen:
            seen.add(pid)
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


async def _server_cpu(engine: Any) -> dict[int, float]:
    """User + system CPU seconds so far of each PostgreSQL backend serving this database
    (read from /proc: the server runs on this machine). The pool keeps its connections, so the
    difference over a step is the server's work for it."""
    rows = await engine._run_in_pool(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for row in rows:
        try:
            fields = Path(f"/proc/{row['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(row["pid"])] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return out


def _child(url: str, folder: Path, what: str) -> dict[str, float]:
    env = dict(os.environ, PINGAN_DATABASE_URL=url, PICCOLO_CONF="survey.piccolo_conf")
    out = subprocess.run(
        [sys.executable, __file__, "--url", url, "--child", what, "--folder", str(folder)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        sys.exit(f"step {what} failed (exit {out.returncode}):\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder = Path(args.folder)
        kind, _, size = args.child.partition(":")
        result = (
            asyncio.run(_setup(folder, int(size))) or {"peak_mb": _peak_mb()}
            if kind == "setup"
            else asyncio.run(_step(folder, kind))
        )
        print(json.dumps(result))
        return
    asyncio.run(_create_database(args.url))
    print(f"{'interviews':>10}  {'step':<8} {'seconds':>8} {'peak MB':>8}  notes", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="city-month-") as tmp:
            folder = Path(tmp)
            _child(args.url, folder, f"setup:{size}")
            for step in ("import", "compute", "report"):
                r = _child(args.url, folder, step)
                notes = ", ".join(
                    f"{k} {v:,.1f}" for k, v in r.items() if k not in ("seconds", "peak_mb")
                )
                print(
                    f"{size:>10,}  {step:<8} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f}  {notes}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
