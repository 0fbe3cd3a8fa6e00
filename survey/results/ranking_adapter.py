"""The one place the results service reaches into the pure ranking core (``survey.ranking``).

The ranking package was built at the same time as this app; this adapter keeps every use of its
public API (``survey.ranking``) in one file, so a change there touches only this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from survey.ranking import (
    INSUFFICIENT,
    LEVEL_NAMES,
    MODEL_LABEL,
    RANKED,
    Policy,
    PolicyError,
    UnitOutcome,
    UnitResult,
    WaveEvaluation,
    display_interval,
    effective_se,
    evaluate_wave,
    fay_herriot,
    variances_usable,
)

__all__ = [
    "INSUFFICIENT",
    "LEVEL_NAMES",
    "MODEL_LABEL",
    "RANKED",
    "Policy",
    "PolicyError",
    "UnitOutcome",
    "UnitResult",
    "WaveEvaluation",
    "display_interval",
    "evaluate",
    "shrink",
]


def evaluate(
    policy: Policy,
    history: Iterable[UnitResult],
    wave: str,
    *,
    seed: int,
    decisions: Mapping[tuple[str, str, str, str], str] | None = None,
) -> WaveEvaluation:
    """Apply the policy to ``wave`` (rankings, P(bottom k), rank intervals, the ladder), with
    the reviewers' and appeals' ``decisions`` on sanctions (confirmed / withdrawn)."""
    return evaluate_wave(
        policy, list(history), wave, rng=np.random.default_rng(seed), decisions=decisions
    )


def shrink(
    estimates: Sequence[float], ses: Sequence[float], n_effs: Sequence[float], *, share: bool
) -> tuple[list[float], list[float]] | None:
    """Fay–Herriot EB estimates and their RMSE, shrinking towards the precision-weighted mean
    of the units (None when fewer than three units make a model impossible, or when a unit's
    variance is 0 — up to rounding, as for a mean score whose answers are all the same). A share
    at 0 % or 100 % (SE 0) gets the binomial SE from its effective n as its design variance."""
    values = np.asarray(estimates, dtype=float)
    se = np.asarray(
        [
            effective_se(e, s, n) if share else s
            for e, s, n in zip(estimates, ses, n_effs, strict=True)
        ],
        dtype=float,
    )
    var = se**2
    if values.size < 3 or not variances_usable(values, var):
        return None
    fit = fay_herriot(values, var)
    return [float(x) for x in fit.eb], [float(x) for x in fit.rmse]
