"""Mode mix and the web/phone difference of each index (a mode-effect diagnostic, not a
correction). Pure: numpy, scipy and the estimation core.

``mode_mix(units, modes)`` counts the interviews per unit and mode. ``mode_difference(weights,
strata, values, modes)`` estimates the index separately among web and phone interviews of the
wave (weighted means with the final weights; a share is the mean of its 0/1 values) and their
difference with a normal interval. The variance of each mode's mean is the Taylor
linearisation of ``survey.estimation.mean_by`` (strata = districts, PSU = respondent, with
replacement) on the final weights, without the calibration's variance reduction; the
difference's variance adds the two (their covariance through the stratum means of the scores is
left out). It is a diagnostic of how different the two modes' answers are — not a mode effect
free of the modes' different samples — and nothing is adjusted for it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt
from scipy import stats

from survey import estimation as est

MODE_NAMES = {"web": "网页", "phone": "电话", "import": "导入"}


@dataclass(frozen=True)
class ModeDifference:
    """One index: each mode's weighted mean and n, the difference web − phone, its SE and
    interval (None when a mode has fewer than two interviews with a value)."""

    web: float | None
    phone: float | None
    n_web: int
    n_phone: int
    difference: float | None
    se: float | None
    ci_lower: float | None
    ci_upper: float | None


def mode_mix(units: Sequence[str], modes: Sequence[str]) -> dict[str, dict[str, int]]:
    """Interviews per unit and mode: ``{unit: {mode: n}}`` (units and modes in sorted order)."""
    out: dict[str, dict[str, int]] = {}
    for (unit, mode), count in Counter(zip(units, modes, strict=True)).items():
        out.setdefault(unit, {})[mode] = count
    return {u: dict(sorted(out[u].items())) for u in sorted(out)}


def mode_groups(modes: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each interview's group for ``mode_difference``: 0 web, 1 phone, −1 any other mode."""
    return np.fromiter(
        map({"web": 0, "phone": 1}.get, modes, repeat(-1)), dtype=np.int64, count=len(modes)
    )


def mode_difference(
    weights: npt.ArrayLike,
    strata: npt.ArrayLike,
    values: npt.ArrayLike,
    modes: Sequence[str] | npt.NDArray[np.int64],
    level: float = 0.95,
) -> ModeDifference:
    """Web and phone weighted means of ``values`` (NaN = not in the base) and their
    difference with a normal ``level`` interval (see module doc). ``modes``: each interview's
    mode, or its ``mode_groups`` (a wave's indices share one coding)."""
    y = np.asarray(values, dtype=np.float64)
    groups = modes if isinstance(modes, np.ndarray) else mode_groups(modes)
    valid = np.isfinite(y)
    n_web = int(np.sum(valid & (groups == 0)))
    n_phone = int(np.sum(valid & (groups == 1)))
    if n_web < 2 or n_phone < 2:
        return ModeDifference(None, None, n_web, n_phone, None, None, None, None)
    design = est.Design.from_arrays(np.asarray(weights, dtype=np.float64), strata=strata)
    result = est.mean_by(design, y, groups, n_groups=2, ci="normal", level=level)
    web, phone = float(result.estimate[0]), float(result.estimate[1])
    var = float(result.var[0]) + float(result.var[1])
    se = math.sqrt(var)
    z = float(stats.norm.ppf(0.5 + level / 2))
    diff = web - phone
    return ModeDifference(web, phone, n_web, n_phone, diff, se, diff - z * se, diff + z * se)
