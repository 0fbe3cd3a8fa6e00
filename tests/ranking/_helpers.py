"""Compact history tables for the ladder tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from survey.ranking import Policy, UnitResult, WaveEvaluation, evaluate_wave

# A cell: a published value (ranked, SE 1, n_eff 200), "insufficient" (样本不足 by the
# estimation step), ("small", value) (n_eff 20: under the policy's minimum) or absent.
Cell = float | str | tuple[str, float]


def history(index: str, table: Mapping[str, Mapping[str, Cell]]) -> list[UnitResult]:
    """``{wave: {unit: cell}}`` → UnitResult records of one index."""
    out = []
    for wave, row in table.items():
        for unit, cell in row.items():
            if cell == "insufficient":
                out.append(UnitResult(wave, index, unit, None, None, 12, 10.0, "insufficient"))
            elif isinstance(cell, tuple):
                out.append(UnitResult(wave, index, unit, float(cell[1]), 1.0, 25, 20.0))
            else:
                out.append(UnitResult(wave, index, unit, float(cell), 1.0, 250, 200.0))
    return out


def evaluate(policy: Policy, records: list[UnitResult], wave: str) -> WaveEvaluation:
    return evaluate_wave(policy, records, wave, rng=np.random.default_rng(20261124), draws=400)


def levels(result: WaveEvaluation, index: str) -> dict[str, str | None]:
    """unit → its most severe sanction level (None if none)."""
    out: dict[str, str | None] = {}
    for o in result.for_index(index):
        top = o.highest_sanction
        out[o.unit_code] = top.level if top else None
    return out


def reasons(result: WaveEvaluation, index: str) -> dict[str, list[str]]:
    """unit → every sanction and praise reason."""
    return {
        o.unit_code: [s.reason for s in o.sanctions] + [p.reason for p in o.praises]
        for o in result.for_index(index)
    }
