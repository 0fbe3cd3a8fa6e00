"""Cost of the questionnaire core on the hot paths, against per-request and per-wave budgets.

Budgets: the submit benchmark (issue 4) runs ≈ 2,000 completes/s on 2 cores, i.e. ≈ 1 ms of CPU
per request for everything; the pure answer checks a submit runs (validate, visible items, drop
hidden) should take under 5 % of it (50 µs). Loading happens once per process and
``with_departments`` once per wave (cached), so 50 ms and 1 ms are generous. Scoring a large
district-month (100,000 responses) feeds the estimation core and should stay under 1 s.

Run: ``.venv/bin/python benchmarks/questionnaire_core.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from questionnaires import (
    default_instruments,
    drop_hidden,
    load_instrument,
    score_departments,
    score_responses,
    shipped_instrument_paths,
    validate_answers,
    visible_items,
)

REGISTRY = [("gongan", "公安机关"), ("jiaojing", "交警"), ("fayuan", "法院"), ("sifa", "司法局")]


def best_of(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Best mean seconds per call over ``repeat`` runs of ``number`` calls (min is the least noisy)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(20261124)
    combined = default_instruments()["liangshuaiyidu"]
    path = shipped_instrument_paths()[3]
    answers: dict[str, object] = {
        "s_age": 1,
        "s_resident": 1,
        "street": "110105001",
        "community": "110105001001",
        "q_anquan": 2,
        "q_zhixiao": 1,
        "q_manyi_gongan": 1,
        "q_manyi_jianchayuan": 2,
        "q_manyi_fayuan": 8,
        "q_manyi_sifa": 3,
        "d_sex": 1,
        "d_age_group": 2,
    }
    codes = rng.choice([1, 2, 3, 4, 5, 8, 9], size=100_000)
    wave = [
        {**answers, "q_anquan": int(c), "q_manyi_gongan": int(c), "q_manyi_sifa": int(c)}
        for c in codes
    ]
    combined.with_departments(REGISTRY)  # warm the per-wave cache, as the web layer would

    rows: list[tuple[str, float, float, str]] = [
        ("load liangshuaiyidu.toml", best_of(lambda: load_instrument(path), 20), 50e-3, "ms"),
        (
            "with_departments (cached)",
            best_of(lambda: combined.with_departments(REGISTRY), 2000),
            1e-3,
            "µs",
        ),
        (
            "validate_answers, full response",
            best_of(lambda: validate_answers(combined, answers, False), 5000),
            50e-6,
            "µs",
        ),
        (
            "visible_items + drop_hidden",
            best_of(
                lambda: (visible_items(combined, answers), drop_hidden(combined, answers)), 5000
            ),
            50e-6,
            "µs",
        ),
        (
            "score_responses anquangan, 100k",
            best_of(lambda: score_responses(combined, "anquangan", wave), 1, 3),
            1.0,
            "ms",
        ),
        (
            "score_departments manyidu, 100k",
            best_of(lambda: score_departments(combined, "manyidu", wave), 1, 3),
            1.0,
            "ms",
        ),
    ]
    scale = {"ms": 1e3, "µs": 1e6}
    print(f"{'operation':36} {'time':>12} {'budget':>12}  ok")
    for name, seconds, budget, unit in rows:
        f = scale[unit]
        ok = "yes" if seconds <= budget else "NO"
        print(f"{name:36} {seconds * f:9.2f} {unit} {budget * f:9.0f} {unit}  {ok}")


if __name__ == "__main__":
    main()
