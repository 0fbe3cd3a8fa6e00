"""How sure a ranking is: P(truly in the bottom k), rank intervals, non-degenerate intervals at
0 % / 100 %, P(below a threshold) and the test of a difference at the cut-off.

Sampling distribution of a unit's estimate θ̂ (on the 0–100 scale, divided by ``scale`` to 0–1):

* interior estimate with SE s > 0: normal on the logit scale, logit θ ~ N(logit p̂, s / (p̂(1−p̂)))
  (the delta method; the same scale as the logit interval ``svyciprop(method="logit")`` that the
  estimation core reports, and draws stay inside (0, 1)). ``transform="identity"`` uses
  N(p̂, s) instead, for unbounded indices or closed-form checks.
* estimate at 0 or 1, or SE 0 (small streets often are): the Clopper–Pearson confidence
  distribution with the effective sample size n_eff, i.e. θ ~ Beta(n_eff, 1) at p̂ = 1 and
  Beta(1, n_eff) at p̂ = 0, whose quantiles are exactly the one-sided Clopper–Pearson bounds
  (with the design's n_eff this is the Korn–Graubard interval). An interior estimate with SE 0
  gets the binomial SE √(p̂(1−p̂)/n_eff).

Mean scores (0–100 points) are treated the same way on score/100: a Bernoulli variable has the
largest variance of any variable on [0, 1] with that mean, so the boundary interval is conservative.

Probabilities and quantiles come from ``scipy.special`` (``ndtr``, ``ndtri``, ``betainc``,
``betaincinv``: what ``scipy.stats.norm`` and ``scipy.stats.beta`` compute, bit for bit), imported
on first use. Readers of stored results — the change from the previous wave in the dashboard and
the report — import none of scipy (``scipy.special`` alone costs 0.15–0.5 s a process): Φ is
``survey.ranking.normal.normal_cdf`` (``ndtr`` to the bit), the 95 % quantile the constant ``ndtri``
gives, and a unit at 100 % takes its Clopper–Pearson lower bound, Beta(n_eff, 1)'s quantile, in
closed form (:func:`_beta_quantile`). A unit at 0 % or with SE 0 inside (0, 1) still imports
``scipy.special`` for ``betaincinv``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from survey.ranking.normal import Z_975, normal_cdf

Transform = Literal["logit", "identity"]
# Estimates this close to 0 or 1 are boundary estimates: the logit SE would overflow.
_EDGE = 1e-9
_CHUNK_CELLS = 1_000_000  # draws × units per block: bounds memory at 2,000 units × 2,000 draws


def _special() -> ModuleType:
    """``scipy.special``, imported on first use."""
    return importlib.import_module("scipy.special")


@dataclass(frozen=True)
class Interval:
    """An interval on the caller's scale (0–100) and how it was made (``logit`` or
    ``clopper_pearson``)."""

    lower: float
    upper: float
    method: str


@dataclass(frozen=True)
class RankSimulation:
    """Result of ``simulate_ranks`` for m units, in input order.

    ``p_bottom_k[i]``: share of draws in which unit i is among the k lowest; ``rank_lower``/
    ``rank_upper``: the ``level`` rank interval (rank 1 = highest value), the (1−level)/2 and
    (1+level)/2 quantiles of the simulated rank (inverted-CDF quantiles); ``rank_mean``: mean
    simulated rank; ``draws``: number of draws.
    """

    p_bottom_k: NDArray[np.float64]
    rank_lower: NDArray[np.int64]
    rank_upper: NDArray[np.int64]
    rank_mean: NDArray[np.float64]
    k: int
    level: float
    draws: int


@dataclass(frozen=True)
class DifferenceTest:
    """Two-sided z-test of θ_b − θ_a = 0 from independent estimates: ``z``, ``p_value`` and
    ``distinguishable`` (p_value < alpha)."""

    difference: float
    se: float
    z: float
    p_value: float
    distinguishable: bool


def clopper_pearson(p: float, n_eff: float, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval for a proportion ``p`` (0–1) from ``n_eff`` (may be
    non-integer: x = p·n_eff successes), at ``level``. With the design's effective n this is
    the Korn–Graubard interval. Never degenerate for n_eff > 0."""
    if not 0 <= p <= 1:
        raise ValueError(f"比例 {p} 不在 0–1 之间")
    if not n_eff > 0:
        raise ValueError("有效样本量必须大于 0")
    alpha = 1 - level
    x = p * n_eff
    lower = 0.0 if x <= 0 else _beta_quantile(x, n_eff - x + 1, alpha / 2)
    upper = 1.0 if x >= n_eff else _beta_quantile(x + 1, n_eff - x, 1 - alpha / 2)
    return lower, upper


def _beta_quantile(a: float, b: float, q: float) -> float:
    """The ``q`` quantile of Beta(a, b), ``scipy.special.betaincinv(a, b, q)``. For b = 1 and
    q < 0.5 (the lower bound at 100 %) in closed form, q^(1/a): the same double as SciPy's
    (Boost's) result, checked on 100,000 (a, q) pairs (``tests/ranking/test_normal.py``)."""
    if b == 1.0 and 0.0 < q < 0.5:
        return float(q) ** (1.0 / float(a))
    return float(_special().betaincinv(a, b, q))


def _is_boundary(p: float, s: float) -> bool:
    return p <= _EDGE or p >= 1 - _EDGE or s <= 0


def _snap(p: float) -> float:
    """A boundary estimate to exactly 0 or 1; others clipped into [0, 1]."""
    if p <= _EDGE:
        return 0.0
    if p >= 1 - _EDGE:
        return 1.0
    return min(max(p, 0.0), 1.0)


def _interior_sd(p: float, s: float, n_eff: float) -> float:
    # An interior share with SE 0 can only come from degenerate weights: use the binomial SE.
    return s if s > 0 else float(np.sqrt(p * (1 - p) / max(n_eff, 1.0)))


def display_interval(
    estimate: float, se: float, n_eff: float, level: float = 0.95, *, scale: float = 100.0
) -> Interval:
    """Interval for showing one estimate (0–``scale``): the logit interval
    expit(logit p̂ ± z·s/(p̂(1−p̂))) for interior estimates; Clopper–Pearson from ``n_eff`` at
    0 %, 100 % or SE 0, so that a small street at 100 % shows e.g. [74.1, 100] instead of
    [100, 100]."""
    p = estimate / scale
    s = se / scale
    if _is_boundary(p, s):
        lower, upper = clopper_pearson(_snap(p), max(n_eff, 1.0), level)
        return Interval(lower * scale, upper * scale, "clopper_pearson")
    special = _special()
    z = float(special.ndtri(0.5 + level / 2))
    half = z * _interior_sd(p, s, n_eff) / (p * (1 - p))
    centre = float(special.logit(p))
    return Interval(
        float(special.expit(centre - half)) * scale,
        float(special.expit(centre + half)) * scale,
        "logit",
    )


def effective_se(estimate: float, se: float, n_eff: float, *, scale: float = 100.0) -> float:
    """SE to use in tests on the 0–``scale`` scale: ``se`` itself, or for a unit at 0 %/100 %
    (or SE 0) the half-width of its 95 % Clopper–Pearson interval divided by 1.96."""
    p = estimate / scale
    if not _is_boundary(p, se / scale):
        return se
    lower, upper = clopper_pearson(_snap(p), max(n_eff, 1.0), 0.95)
    return (upper - lower) * scale / (2 * Z_975)


def p_below(
    estimate: float,
    se: float,
    n_eff: float,
    threshold: float,
    *,
    scale: float = 100.0,
    transform: Transform = "logit",
) -> float:
    """P(true value < ``threshold``) under the sampling distribution of the module docstring
    (exact, no simulation). ``threshold`` on the 0–``scale`` scale."""
    p = estimate / scale
    s = se / scale
    t = threshold / scale
    if p <= _EDGE or p >= 1 - _EDGE:
        n = max(n_eff, 1.0)
        a, b = (n, 1.0) if p >= 0.5 else (1.0, n)
        return float(_special().betainc(a, b, min(max(t, 0.0), 1.0)))
    sd = _interior_sd(p, s, n_eff)
    if transform == "identity":
        return normal_cdf((t - p) / sd)
    if t <= 0:
        return 0.0
    if t >= 1:
        return 1.0
    logit = _special().logit
    return normal_cdf(float((logit(t) - logit(p)) / (sd / (p * (1 - p)))))


def difference_test(
    estimate_a: float,
    se_a: float,
    n_eff_a: float,
    estimate_b: float,
    se_b: float,
    n_eff_b: float,
    *,
    alpha: float = 0.05,
    scale: float = 100.0,
) -> DifferenceTest:
    """Two-sided z-test that two independent units differ: z = (θ̂_b − θ̂_a)/√(s_a² + s_b²)
    on the 0–``scale`` scale, with ``effective_se`` for units at 0 %/100 %."""
    sa = effective_se(estimate_a, se_a, n_eff_a, scale=scale)
    sb = effective_se(estimate_b, se_b, n_eff_b, scale=scale)
    diff = estimate_b - estimate_a
    se = float(np.hypot(sa, sb))
    # Zero SE on both sides (impossible with n_eff > 0, kept for safety): any difference is sure.
    z = diff / se if se > 0 else (0.0 if diff == 0 else float(np.copysign(np.inf, diff)))
    p_value = 2 * normal_cdf(-abs(z))
    return DifferenceTest(diff, se, z, p_value, p_value < alpha)


def _draw(
    p: NDArray[np.float64],
    s: NDArray[np.float64],
    n_eff: NDArray[np.float64],
    rows: int,
    rng: np.random.Generator,
    transform: Transform,
) -> NDArray[np.float64]:
    """``rows`` draws of every unit's true value on the 0–1 scale (shape rows × m)."""
    special = _special()
    m = p.size
    boundary = (p <= _EDGE) | (p >= 1 - _EDGE)
    interior = ~boundary
    out = np.empty((rows, m))
    if interior.any():
        pi = p[interior]
        sd = np.where(s[interior] > 0, s[interior], np.sqrt(pi * (1 - pi) / n_eff[interior]))
        z = rng.standard_normal((rows, int(interior.sum())))
        if transform == "logit":
            out[:, interior] = special.expit(special.logit(pi) + z * (sd / (pi * (1 - pi))))
        else:
            out[:, interior] = pi + z * sd
    if boundary.any():
        nb = n_eff[boundary]
        top = p[boundary] >= 0.5
        a = np.where(top, nb, 1.0)
        b = np.where(top, 1.0, nb)
        out[:, boundary] = rng.beta(a, b, size=(rows, int(boundary.sum())))
    return out


def simulate_ranks(
    estimates: Sequence[float] | NDArray[np.float64],
    ses: Sequence[float] | NDArray[np.float64],
    n_effs: Sequence[float] | NDArray[np.float64],
    *,
    k: int,
    rng: np.random.Generator,
    draws: int = 2000,
    level: float = 0.90,
    scale: float = 100.0,
    transform: Transform = "logit",
) -> RankSimulation:
    """Simulate the units' true values from their sampling distributions (module docstring) and
    return P(bottom ``k``) and the ``level`` rank interval of each unit.

    ``estimates``/``ses`` on the 0–``scale`` scale, ``n_effs`` effective sample sizes (used for
    units at 0 or ``scale`` or with SE 0). Vectorised in blocks; randomness only from ``rng``.
    """
    est = np.asarray(estimates, dtype=float)
    p = est / scale
    s = np.asarray(ses, dtype=float) / scale
    n_eff = np.maximum(np.asarray(n_effs, dtype=float), 1.0)
    m = p.size
    if not (s.size == m and n_eff.size == m):
        raise ValueError("estimates、ses、n_effs 的长度必须相同")
    if m == 0:
        empty = np.zeros(0)
        return RankSimulation(
            empty, empty.astype(np.int64), empty.astype(np.int64), empty, k, level, draws
        )
    if not np.all(np.isfinite(p)) or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("估计值和标准误必须是有限数，标准误不能为负")
    if k < 1:
        raise ValueError("k 必须 ≥ 1")
    if np.any(p < -_EDGE) or np.any(p > 1 + _EDGE):
        raise ValueError(f"估计值必须在 0 到 {scale:g} 之间")
    p = np.clip(p, 0.0, 1.0)
    in_bottom = np.zeros(m, dtype=np.int64)
    # Every draw's ranks (1 = highest), int32: 16 MB for 2,000 units × 2,000 draws.
    ranks = np.empty((draws, m), dtype=np.int32)
    positions = np.arange(1, m + 1, dtype=np.int32)
    block = max(1, _CHUNK_CELLS // m)
    done = 0
    while done < draws:
        rows = min(block, draws - done)
        values = _draw(p, s, n_eff, rows, rng, transform)
        order = np.argsort(values, axis=1)
        rank_low = np.empty((rows, m), dtype=np.int32)
        np.put_along_axis(rank_low, order, np.broadcast_to(positions, (rows, m)), axis=1)
        in_bottom += (rank_low <= k).sum(axis=0)
        ranks[done : done + rows] = (m + 1) - rank_low
        done += rows
    # Inverted-CDF quantile q = the ⌈q·draws⌉-th smallest simulated rank (tiny slack for floats).
    lo = min(max(int(np.ceil((1 - level) / 2 * draws - 1e-9)) - 1, 0), draws - 1)
    hi = min(max(int(np.ceil((1 + level) / 2 * draws - 1e-9)) - 1, 0), draws - 1)
    ordered = np.partition(ranks, [lo, hi], axis=0)
    rank_lower = ordered[lo].astype(np.int64)
    rank_upper = ordered[hi].astype(np.int64)
    rank_mean = ranks.mean(axis=0)
    return RankSimulation(
        p_bottom_k=in_bottom / draws,
        rank_lower=rank_lower,
        rank_upper=rank_upper,
        rank_mean=rank_mean,
        k=k,
        level=level,
        draws=draws,
    )
