"""Confidence intervals, vectorised over domains, exactly as R's ``confint``/``svyciprop``.

``df`` is an array of degrees of freedom; ``inf`` means the normal quantile.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats

from survey.estimation.design import FloatArray

IntervalMethod = Literal["normal", "t", "logit", "mean", "arcsine", "beta"]
MEAN_METHODS: tuple[str, ...] = ("normal", "t")
PROPORTION_METHODS: tuple[str, ...] = ("logit", "t", "normal", "beta", "mean", "arcsine")


def quantile(level: float, df: FloatArray) -> FloatArray:
    """Upper (1+level)/2 quantile of t with ``df`` (normal where df is infinite)."""
    q = 0.5 + level / 2.0
    df = np.asarray(df, dtype=np.float64)
    out = np.full(df.shape, float(stats.norm.ppf(q)))
    finite = np.isfinite(df) & (df > 0)
    if finite.any():
        out[finite] = stats.t.ppf(q, df[finite])
    out[np.isfinite(df) & ~(df > 0)] = np.nan
    return out


def wald(
    estimate: FloatArray, se: FloatArray, df: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """estimate ∓ q·se (R ``confint(x, df=df)``; also svyciprop ``method="mean"``)."""
    half = quantile(level, df) * se
    return estimate - half, estimate + half


def logit(
    p: FloatArray, se: FloatArray, df: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """expit(logit p ∓ q·se/(p(1−p))) (svyciprop ``logit``); [p, p] where p is 0 or 1."""
    q = quantile(level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.log(p / (1.0 - p))
        half = q * se / (p * (1.0 - p))
        lo = 1.0 / (1.0 + np.exp(-(centre - half)))
        hi = 1.0 / (1.0 + np.exp(-(centre + half)))
    edge = (p <= 0.0) | (p >= 1.0)
    return np.where(edge, p, lo), np.where(edge, p, hi)


def arcsine(
    p: FloatArray, se: FloatArray, df: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """sin²(asin √p ∓ q·se/(2√(p(1−p)))) (svyciprop ``asin``); [p, p] where p is 0 or 1.

    Unlike R, the transformed bounds are clamped to [0, π/2] (R's bounds fold back there).
    """
    q = quantile(level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.arcsin(np.sqrt(p))
        half = q * se / (2.0 * np.sqrt(p * (1.0 - p)))
        # R does not clamp; past 0 or π/2 the sine folds back and the "interval" would
        # exclude the estimate, so the transformed bounds are kept inside [0, π/2].
        lo = np.sin(np.clip(centre - half, 0.0, np.pi / 2)) ** 2
        hi = np.sin(np.clip(centre + half, 0.0, np.pi / 2)) ** 2
    edge = (p <= 0.0) | (p >= 1.0)
    return np.where(edge, p, lo), np.where(edge, p, hi)


def korn_graubard(
    p: FloatArray, var: FloatArray, df: FloatArray, nrow: FloatArray, level: float
) -> tuple[FloatArray, FloatArray]:
    """Korn–Graubard beta interval (svyciprop ``beta``).

    n_eff = p(1−p)/var · (t_{α/2, nrow−1} / t_{α/2, df})²,
    [qbeta(α/2, n_eff p, n_eff(1−p)+1), qbeta(1−α/2, n_eff p+1, n_eff(1−p))].
    Where p is 0 or 1 (var = 0) n_eff is taken as ``nrow``: the Clopper–Pearson interval.
    """
    alpha = 1.0 - level
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _t_low(alpha / 2, nrow - 1.0) / _t_low(alpha / 2, df)
        n_eff = np.where(var > 0, p * (1.0 - p) / var, nrow) * ratio**2
        edge = (p <= 0.0) | (p >= 1.0) | ~(var > 0)
        n_eff = np.where(edge, nrow, n_eff)
        lo = stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1.0 - p) + 1.0)
        hi = stats.beta.ppf(1.0 - alpha / 2, n_eff * p + 1.0, n_eff * (1.0 - p))
    lo = np.where(p <= 0.0, 0.0, lo)
    hi = np.where(p >= 1.0, 1.0, hi)
    return lo, hi


def _t_low(a: float, df: FloatArray) -> FloatArray:
    df = np.asarray(df, dtype=np.float64)
    out = np.full(df.shape, float(stats.norm.ppf(a)))
    finite = np.isfinite(df) & (df > 0)
    out[finite] = stats.t.ppf(a, df[finite])
    out[np.isfinite(df) & ~(df > 0)] = np.nan
    return out
