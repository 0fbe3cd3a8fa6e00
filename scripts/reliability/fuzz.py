"""Fuzz every file loader with hypothesis: ``.venv/bin/python scripts/reliability/fuzz.py``.

Runs ``--per-target`` inputs (default 1,700 → 10,200 in all) through each target of
tests/reliability/fuzz_targets.py (questionnaire, policy, frame, number blocks, margins, registry)
and prints a table: inputs, accepted, rejected with a clear message, unexpected (must be 0).
Bounded: at most ``--max-seconds`` per target. Exit 1 if anything unexpected happened.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from tests.reliability.fuzz_targets import TARGETS, UnexpectedError, run_target  # noqa: E402


def fuzz(name: str, examples: int, max_seconds: float, seed: int) -> dict[str, object]:
    _fn, strategy = TARGETS[name]
    counts = {"inputs": 0, "accepted": 0, "rejected": 0, "unexpected": 0}
    failures: list[str] = []
    started = time.monotonic()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def check(value: object) -> None:
        if time.monotonic() - started > max_seconds:
            return
        counts["inputs"] += 1
        try:
            accepted = run_target(name, value)
        except UnexpectedError as exc:
            counts["unexpected"] += 1
            if len(failures) < 5:
                failures.append(str(exc)[:400])
            return
        counts["accepted" if accepted else "rejected"] += 1

    check._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    check()
    return {**counts, "seconds": time.monotonic() - started, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-target", type=int, default=1700)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    total = {"inputs": 0, "accepted": 0, "rejected": 0, "unexpected": 0}
    print(f"{'loader':<14}{'inputs':>8}{'accepted':>10}{'rejected':>10}{'unexpected':>12}{'s':>8}")
    all_failures: list[str] = []
    for name in sorted(TARGETS):
        r = fuzz(name, args.per_target, args.max_seconds, args.seed)
        for k in total:
            total[k] += int(r[k])  # type: ignore[call-overload]
        all_failures.extend(f"{name}: {f}" for f in r["failures"])  # type: ignore[attr-defined]
        print(
            f"{name:<14}{r['inputs']:>8}{r['accepted']:>10}{r['rejected']:>10}"
            f"{r['unexpected']:>12}{r['seconds']:>8.1f}"
        )
    print(
        f"{'total':<14}{total['inputs']:>8}{total['accepted']:>10}{total['rejected']:>10}"
        f"{total['unexpected']:>12}"
    )
    print(
        f"target: ≥ 10,000 inputs, 0 unexpected → {'OK' if total['inputs'] >= 10_000 and not total['unexpected'] else 'FAIL'}"
    )
    for f in all_failures:
        print("  " + f)
    return 0 if not total["unexpected"] else 1


if __name__ == "__main__":
    sys.exit(main())
