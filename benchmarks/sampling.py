"""Benchmark of the pure sampling package against the issue-6 targets, beside plain Python.

Run: ``.venv/bin/python benchmarks/sampling.py`` (about 30 s, ≈ 1 GB peak memory). Targets:

* stratified SRSWOR of 100,000 from a 10,000,000-row frame with 1,000 strata in under 1 s;
* 1,000,000 random mobile numbers from 2,000 blocks (10,000 excluded) in under 1 s.

Each is printed beside a straightforward alternative with Python's ``random.sample`` per
stratum (pandas is not a dependency of the project). Times are the best of ``REPEATS`` runs
in this process, after one warm-up run; the pure-Python grouping runs once.
"""

from __future__ import annotations

import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This script is named like the package: drop its own directory from the path so that
# ``import sampling`` finds the package in the repository root, not this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from sampling import (  # noqa: E402
    MobileBlock,
    allocate,
    frame_fingerprint,
    generate_mobile_numbers,
    select_srswor,
    validate_frame,
)

REPEATS = 5
FRAME_ROWS = 10_000_000
STRATA = 1_000
SAMPLE = 100_000
BLOCKS = 2_000
NUMBERS = 1_000_000
EXCLUDED = 10_000


def best_of(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Best wall time in seconds over ``repeats`` runs after one warm-up, and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def once(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def row(name: str, seconds: float, target: float | None) -> None:
    verdict = "" if target is None else ("OK" if seconds < target else "OVER")
    budget = "" if target is None else f"{target:.1f} s"
    print(f"| {name} | {seconds * 1000:,.0f} ms | {budget} | {verdict} |")


def main() -> None:
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print("| operation | time | target | verdict |")
    print("|---|---|---|---|")

    setup = np.random.default_rng(20261124)
    codes = setup.integers(0, STRATA, FRAME_ROWS).astype(np.int32)  # frame order is random
    big_n = np.bincount(codes, minlength=STRATA)
    t, alloc = best_of(lambda: allocate(SAMPLE, {h: int(n) for h, n in enumerate(big_n)}))
    row("allocate 100,000 over 1,000 strata (proportional)", t, None)
    n_h = alloc.as_dict()

    t, sel = best_of(lambda: select_srswor(codes, n_h, np.random.default_rng(1)))
    assert len(sel) == SAMPLE and np.unique(sel.indices).size == SAMPLE
    row("`select_srswor` 100,000 of 10,000,000 rows, 1,000 strata", t, 1.0)
    t, sel = best_of(
        lambda: select_srswor(codes, n_h, np.random.default_rng(1), batch_shares=(0.6, 0.2, 0.2))
    )
    row("same, in 3 reserve batches", t, 1.0)

    def numpy_group_random_sample() -> np.ndarray:
        gen = random.Random(1)
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(big_n)[:-1]])
        parts = [
            order[starts[h] + np.array(gen.sample(range(int(big_n[h])), n_h[h]), dtype=np.int64)]
            for h in range(STRATA)
        ]
        return np.concatenate(parts)

    t, base = best_of(numpy_group_random_sample, 3)
    assert base.size == SAMPLE
    row("baseline: numpy grouping + `random.sample` per stratum", t, None)

    def python_group_random_sample() -> list[int]:
        gen = random.Random(1)
        groups: dict[int, list[int]] = {}
        for i, h in enumerate(codes.tolist()):
            groups.setdefault(h, []).append(i)
        return [i for h in range(STRATA) for i in gen.sample(groups[h], n_h[h])]

    t, _ = once(python_group_random_sample)
    row("baseline: Python dict grouping + `random.sample` (1 run)", t, None)

    blocks = [MobileBlock(f"13{i:05d}", "中国移动", f"d{i % 20}") for i in range(BLOCKS)]
    exclude = [f"13{(7 * i) % BLOCKS:05d}{(13 * i) % 10_000:04d}" for i in range(EXCLUDED)]
    t, gen_numbers = best_of(
        lambda: generate_mobile_numbers(blocks, NUMBERS, np.random.default_rng(2), exclude=exclude)
    )
    numbers = gen_numbers.numbers
    assert numbers.size == NUMBERS and np.unique(numbers).size == NUMBERS
    assert not set(exclude) & set(numbers[:100_000].tolist())
    row("`generate_mobile_numbers` 1,000,000 from 2,000 blocks, 10,000 excluded", t, 1.0)

    def python_random_numbers() -> list[str]:
        gen = random.Random(2)
        excluded = set(exclude)
        prefixes = [b.prefix for b in blocks]
        out: list[str] = []
        for number_id in gen.sample(range(BLOCKS * 10_000), NUMBERS + EXCLUDED):
            number = f"{prefixes[number_id // 10_000]}{number_id % 10_000:04d}"
            if number not in excluded:
                out.append(number)
                if len(out) == NUMBERS:
                    break
        return out

    t, base_numbers = best_of(python_random_numbers, 3)
    assert len(base_numbers) == NUMBERS
    row("baseline: `random.sample` over all ids + formatting", t, None)

    # What the platform does around a draw: check and fingerprint an imported frame.
    frame = [[f"h{i}", f"s{i % 100}", f"u{i % 100}", f"1380{i:07d}"] for i in range(100_000)]
    header = ["household", "stratum", "unit", "phone"]
    units = {f"u{i}" for i in range(100)}
    t, problems = best_of(
        lambda: validate_frame(
            header, frame, known_units=units, phone_column="phone", id_column="household"
        ),
        3,
    )
    assert problems == []
    row("`validate_frame` 100,000 rows (unit, phone, id checks)", t, None)
    t, _ = best_of(lambda: frame_fingerprint(header, frame), 3)
    row("`frame_fingerprint` 100,000 rows", t, None)


if __name__ == "__main__":
    main()
