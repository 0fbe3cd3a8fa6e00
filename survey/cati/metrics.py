"""Supervisor arithmetic as pure functions: projected completes, outlier flags, back-check draw.

numpy only; randomness from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# A robust z beyond this flags an interviewer (median ± 3.5 scaled MADs, Iglewicz–Hoaglin).
OUTLIER_Z = 3.5
_MAD_SCALE = 0.6745
_MEAN_AD_SCALE = 1.253314  # √(π/2): mean absolute deviation → σ for normal data


@dataclass(frozen=True, slots=True)
class Projection:
    """``projected`` completes by the end of the wave at the pace so far (completes per day)."""

    completes: int
    target: int | None
    per_day: float
    projected: float

    @property
    def on_track(self) -> bool | None:
        """Whether the projection reaches the target (None without a target)."""
        return None if self.target is None else self.projected >= self.target


def project_completion(
    completes: int, target: int | None, elapsed_days: float, remaining_days: float
) -> Projection:
    """Linear projection: completes + pace × remaining days, pace = completes / elapsed days
    (at least one day elapsed, so a first morning's burst does not explode the pace)."""
    pace = completes / max(elapsed_days, 1.0)
    return Projection(completes, target, pace, completes + pace * max(remaining_days, 0.0))


def flag_outliers(values: Sequence[float | None], z: float = OUTLIER_Z) -> list[bool]:
    """Flag values whose modified z-score 0.6745·|x − median|/MAD exceeds ``z``.

    Needs at least three values (None ones are skipped and never flagged). When more than half
    the values are equal (MAD = 0) the scale is 1.253314 × the mean absolute deviation from the
    median instead; all values equal: nothing is flagged."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if len(present) < 3:
        return [False] * len(values)
    array = np.asarray(present, dtype=np.float64)
    median = float(np.median(array))
    mad = float(np.median(np.abs(array - median)))
    mean_ad = float(np.mean(np.abs(array - median)))
    flags: list[bool] = []
    for value in values:
        if value is None or not math.isfinite(value):
            flags.append(False)
        elif mad > 0.0:
            flags.append(_MAD_SCALE * abs(value - median) / mad > z)
        elif mean_ad > 0.0:
            flags.append(abs(value - median) / (_MEAN_AD_SCALE * mean_ad) > z)
        else:
            flags.append(False)
    return flags


def draw_back_checks(
    completes_by_interviewer: Mapping[int, Sequence[int]],
    rng: np.random.Generator,
    share: float = 0.1,
    minimum: int = 1,
) -> dict[int, list[int]]:
    """For each interviewer, a simple random sample without replacement of their completed
    interviews (ids): ``max(minimum, ceil(share · n))`` of them (all if fewer), ids sorted.
    Interviewers are visited in ascending id order so the draw depends only on the seed."""
    if not 0.0 < share <= 1.0:
        raise ValueError("share must lie in (0, 1]")
    out: dict[int, list[int]] = {}
    for interviewer in sorted(completes_by_interviewer):
        ids = sorted(completes_by_interviewer[interviewer])
        if not ids:
            continue
        k = min(len(ids), max(minimum, math.ceil(share * len(ids))))
        chosen = rng.choice(len(ids), size=k, replace=False)
        out[interviewer] = sorted(ids[i] for i in chosen.tolist())
    return out
