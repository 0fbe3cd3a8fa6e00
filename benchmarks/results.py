"""Benchmark of wave results: statistics of a 1,000,000-interview wave with 2,000 ranked units,
and the monthly report (HTML and PDF) of the demo city.

Run: ``.venv/bin/python benchmarks/results.py`` (about a minute). Prints a table and the targets:
statistics (weights, every index per unit, rankings with P(bottom k) and rank intervals, the
ladder, Fay–Herriot) < 5 s; report < 3 s.

What is timed for the statistics (``survey.results.compute`` minus the database): the input is
the per-respondent index values the questionnaires' scoring core produces, as arrays —

1. ``build_weights``: base weights scaled to 20 districts' populations, raking to district × sex
   and district × age margins, trimming of the factors to [0.25, 4] with re-raking;
2. ``compute_wave_statistics``: 安全感 per station (1,200) and district, 知晓率 per street (800)
   and district, 满意度 per department (4 × 20) and the composite per district — estimates,
   linearised SEs, logit/t intervals, n, n_eff, don't-know rates;
3. ``rank_results``: the seed's policy on the 2,000 ranked units plus the 80 departments, with
   two earlier waves of history — ranks, P(bottom 2) and 90 % rank intervals from 2,000 seeded
   draws, the distinguishability test, the ladder, Fay–Herriot estimates.

Reading 1,000,000 responses from the database and scoring their JSON answers are not in the
5 s (they are I/O and per-row parsing, reported separately for the scoring of 100,000 rows).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N = 1_000_000
DISTRICTS = 20
STATIONS = 1_200
STREETS = 800
DEPARTMENTS = ("gongan", "jianchayuan", "fayuan", "sifaju")
SEED = 20261124


def synthetic_wave(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """A 1,000,000-row ``WaveInput`` with stations and streets nested in 20 districts."""
    from survey.results.statistics import IndexValues, LevelUnits, WaveInput

    station = rng.integers(0, STATIONS, N)
    district = station * DISTRICTS // STATIONS
    street = (district * (STREETS // DISTRICTS) + rng.integers(0, STREETS // DISTRICTS, N)).astype(
        np.int64
    )
    sex = (rng.random(N) < 0.55).astype(np.int64)
    age = rng.choice(4, N, p=[0.15, 0.25, 0.3, 0.3]).astype(np.int64)
    population = rng.uniform(20_000, 60_000, (DISTRICTS, 2, 4))
    p_true = rng.uniform(0.85, 0.97, STATIONS)[station]
    safe = (rng.random(N) < p_true).astype(float)
    safe_dk = rng.random(N) < 0.03
    safe[safe_dk] = np.nan
    aware = (rng.random(N) < rng.uniform(0.8, 0.95, STREETS)[street]).astype(float)
    dept_values = {}
    dept_dk = {}
    for d in DEPARTMENTS:
        values = rng.choice([100.0, 80.0, 60.0, 30.0, 0.0], N, p=[0.5, 0.3, 0.12, 0.06, 0.02])
        dk = rng.random(N) < 0.08
        values[dk] = np.nan
        dept_values[d], dept_dk[d] = values, dk
    district_codes = tuple(f"D{d:02d}" for d in range(DISTRICTS))
    levels = {
        "district": LevelUnits(
            "district", district_codes, district_codes, district_codes, district.astype(np.int64)
        ),
        "station": LevelUnits(
            "station",
            tuple(f"P{s:04d}" for s in range(STATIONS)),
            tuple(f"派出所{s}" for s in range(STATIONS)),
            tuple(district_codes[s * DISTRICTS // STATIONS] for s in range(STATIONS)),
            station.astype(np.int64),
        ),
        "street": LevelUnits(
            "street",
            tuple(f"S{s:04d}" for s in range(STREETS)),
            tuple(f"街道{s}" for s in range(STREETS)),
            tuple(district_codes[s // (STREETS // DISTRICTS)] for s in range(STREETS)),
            street,
        ),
    }
    ones = np.ones(N, dtype=bool)
    indices = (
        IndexValues("anquangan", "公众安全感", "share", "station", safe, safe_dk, ones, target=0.9),
        IndexValues(
            "zhixiaolv", "平安建设知晓率", "share", "street", aware, np.zeros(N, bool), ones
        ),
        IndexValues(
            "manyidu_bumen",
            "政法部门满意度",
            "score",
            "department",
            departments=tuple((d, d) for d in DEPARTMENTS),
            department_values=dept_values,
            department_dk=dept_dk,
            department_answered={d: ones for d in DEPARTMENTS},
            composite_id="manyidu",
            composite_name="群众对政法队伍满意度",
            composite_weights={d: 0.25 for d in DEPARTMENTS},
            pass_score=85.0,
        ),
    )
    return WaveInput(
        districts=district_codes,
        district_names=district_codes,
        district=district.astype(np.int64),
        sex=sex,
        age=age,
        base_weight=np.full(N, np.nan),
        stratum=np.full(N, -1, np.int64),
        population=population,
        levels=levels,
        indices=indices,
    )


def _now() -> tuple[float, float]:
    """(wall clock, this process's CPU time): on a machine shared with other jobs the CPU time
    shows the work itself, the wall time what a user waits."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    return end[0] - start[0], end[1] - start[1]


def bench_statistics() -> list[tuple[str, tuple[float, float]]]:
    from survey.ranking.records import UnitResult
    from survey.results import ranking_adapter as ranking
    from survey.results.compute import rank_results
    from survey.results.statistics import build_weights, compute_wave_statistics

    rng = np.random.default_rng(SEED)
    data = synthetic_wave(rng)
    levels = {"anquangan": "station", "zhixiaolv": "street", "manyidu_bumen": "department"}
    policy = ranking.load_programme_policy("default")
    rows: list[tuple[str, tuple[float, float]]] = []
    t0 = _now()
    build_weights(data)
    t1 = _now()
    stats = compute_wave_statistics(data)  # includes the weights again
    t2 = _now()
    history = [
        UnitResult(month, e.index_id, e.unit_code, e.estimate, e.se, e.n, e.n_eff)
        for month in ("2026-08", "2026-09")
        for e in stats.estimates
        if levels.get(e.index_id) == e.level
    ]
    out = rank_results("2026-10", policy, stats, levels, history, seed=SEED)
    t3 = _now()
    ranked = sum(1 for r in out if r.outcome is not None and r.estimate.level != "department")
    assert ranked == STATIONS + STREETS, ranked
    assert all(r.outcome.evidence.p_bottom_k is not None for r in out if r.outcome and r.estimate.level == "station")  # fmt: skip
    rows.append(("weights: scale, rake (2 margins × 20 districts), trim", _since(t0, t1)))
    rows.append(("weights + every index per unit (SE, CI, n_eff, dk)", _since(t1, t2)))
    rows.append(("rankings, P(bottom 2), rank intervals, ladder, FH", _since(t2, t3)))
    rows.append(("statistics total (weights + indices + rankings)", _since(t1, t3)))
    return rows


def bench_scoring() -> tuple[str, tuple[float, float]]:
    from questionnaires import default_instruments, score_responses

    instrument = default_instruments()["anquangan"]
    rng = np.random.default_rng(SEED)
    answers = [{"q_anquan": int(c)} for c in rng.choice([1, 2, 3, 4, 5, 8], 100_000)]
    t0 = _now()
    score_responses(instrument, "anquangan", answers)
    return ("scoring 100,000 stored answers (per-row, not in the 5 s)", _since(t0, _now()))


def bench_report() -> list[tuple[str, tuple[float, float]]]:
    tmp = Path(tempfile.mkdtemp(prefix="pingan-bench-"))
    os.environ["PINGAN_DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite'}"
    os.environ.setdefault("PINGAN_SECRET_KEY", "benchmark-secret-key-0123456789abcdef")

    async def go() -> list[tuple[str, tuple[float, float]]]:
        from survey.db.migrate import migrate_forwards
        from survey.demo import build_demo
        from survey.results import dashboard
        from survey.results.compute import resolve_wave
        from survey.results.report import render_report

        await migrate_forwards()
        await build_demo()
        wave = await resolve_wave("2026-10")
        await render_report(wave.id, "pdf")  # warm-up: imports, matplotlib fonts
        html_times, pdf_times = [], []
        for _ in range(3):
            # Every timed report draws its charts again (no cached dashboard view).
            dashboard._CACHE.clear()
            t0 = _now()
            await render_report(wave.id, "html")
            html_times.append(_since(t0, _now()))
            dashboard._CACHE.clear()
            t0 = _now()
            await render_report(wave.id, "pdf")
            pdf_times.append(_since(t0, _now()))

        def median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
            return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)

        return [
            ("report HTML (demo, 2026-10), median of 3", median(html_times)),
            ("report PDF (demo, 2026-10), median of 3", median(pdf_times)),
        ]

    return asyncio.run(go())


def main() -> None:
    rows = bench_statistics()
    rows.append(bench_scoring())
    rows.extend(bench_report())
    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  wall s   CPU s")
    for name, (wall, cpu) in rows:
        print(f"{name:<{width}}  {wall:6.2f}  {cpu:6.2f}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    print(
        f"\n{N:,} interviews, {STATIONS + STREETS:,} ranked units (+{len(DEPARTMENTS) * DISTRICTS}"
        " departments).\nTargets: statistics total < 5 s; report PDF < 3 s."
    )


if __name__ == "__main__":
    main()
