"""Confidence intervals, vectorised over domains, exactly as R's ``confint``/``svyciprop``.

``df`` is an array of degrees of freedom; ``inf`` means the normal quantile.

The normal quantile is Python's ``statistics.NormalDist`` (Wichura's AS 241, the algorithm of
R's ``qnorm``, exact to double precision); ``scipy.special`` (``stdtrit``, ``betaincinv``,
``ndtr``: the functions ``scipy.stats`` calls itself) is imported only by the intervals that
need t or beta quantiles. Importing it costs ≈ 0.15–0.3 s, the largest share of a
``survey estimate --ci normal`` process (docs/benchmarks.md, "Whole processes").
"""

from __future__ import annotations

import importlib
import math
from statistics import NormalDist
from types import ModuleType
from typing import Literal

import numpy as np

from survey.estimation.design import FloatArray

IntervalMethod = Literal["normal", "t", "logit", "mean", "arcsine", "beta", "likelihood"]
MEAN_METHODS: tuple[str, ...] = ("normal", "t")
PROPORTION_METHODS: tuple[str, ...] = (
    "logit",
    "t",
    "normal",
    "beta",
    "mean",
    "arcsine",
    "likelihood",
)


def _special() -> ModuleType:
    """``scipy.special``, imported on first use (t and beta quantiles only)."""
    return importlib.import_module("scipy.special")


_STANDARD_NORMAL = NormalDist()


def normal_quantile(p: float) -> float:
    """Quantile of the standard normal (R ``qnorm``): −inf at 0, inf at 1, NaN outside [0, 1]."""
    if 0.0 < p < 1.0:
        return _STANDARD_NORMAL.inv_cdf(p)
    if p == 0.0:
        return -math.inf
    return math.inf if p == 1.0 else math.nan


def t_quantile(p: float, df: FloatArray) -> FloatArray:
    """Quantile ``p`` of t with each ``df`` (normal where df is infinite, NaN where df ≤ 0)."""
    df = np.asarray(df, dtype=np.float64)
    out = np.full(df.shape, normal_quantile(p))
    finite = np.isfinite(df) & (df > 0)
    if finite.any():
        out[finite] = _special().stdtrit(df[finite], p)
    out[np.isfinite(df) & ~(df > 0)] = np.nan
    return out


def quantile(level: float, df: FloatArray) -> FloatArray:
    """Upper (1+level)/2 quantile of t with ``df`` (normal where df is infinite)."""
    return t_quantile(0.5 + level / 2.0, df)


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
        ratio = t_quantile(alpha / 2, nrow - 1.0) / t_quantile(alpha / 2, df)
        n_eff = np.where(var > 0, p * (1.0 - p) / var, nrow) * ratio**2
        edge = (p <= 0.0) | (p >= 1.0) | ~(var > 0)
        n_eff = np.where(edge, nrow, n_eff)
        lo = _beta_ppf(alpha / 2, n_eff * p, n_eff * (1.0 - p) + 1.0)
        hi = _beta_ppf(1.0 - alpha / 2, n_eff * p + 1.0, n_eff * (1.0 - p))
    lo = np.where(p <= 0.0, 0.0, lo)
    hi = np.where(p >= 1.0, 1.0, hi)
    return lo, hi


def _beta_ppf(q: float, a: FloatArray, b: FloatArray) -> FloatArray:
    """Quantile of Beta(a, b) (R ``qbeta``); NaN where a or b is not positive (as scipy.stats)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = (a > 0) & (b > 0)
        out = _special().betaincinv(np.where(valid, a, 1.0), np.where(valid, b, 1.0), q)
    return np.where(valid, out, np.nan)


def _fmm_spline(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Forsythe–Malcolm–Moler cubic spline coefficients (b, c, d), as R's ``spline(method="fmm")``."""
    n = x.size
    b = np.zeros(n)
    c = np.zeros(n)
    d = np.zeros(n)
    if n < 3:
        t = (y[1] - y[0]) / (x[1] - x[0])
        b[:] = t
        return b, c, d
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, n - 1):
        d[i] = x[i + 1] - x[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0] = -d[0]
    b[n - 1] = -d[n - 2]
    c[0] = c[n - 1] = 0.0
    if n > 3:
        c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
        c[n - 1] = c[n - 2] / (x[n - 1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
        c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
        c[n - 1] = -c[n - 1] * d[n - 2] * d[n - 2] / (x[n - 1] - x[n - 4])
    for i in range(1, n):
        t = d[i - 1] / b[i - 1]
        b[i] = b[i] - t * d[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[n - 1] = c[n - 1] / b[n - 1]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[n - 1] = (y[n - 1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[n - 1])
    for i in range(n - 1):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[n - 1] = 3.0 * c[n - 1]
    d[n - 1] = d[n - 2]
    return b, c, d


def _r_spline(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """R's ``spline(x, y)``: the fmm spline evaluated at 3·n equally spaced points."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    b, c, d = _fmm_spline(x, y)
    m = 3 * x.size
    lo, hi = x[0], x[-1]
    step = (hi - lo) / (m - 1)
    idx = np.arange(m)
    # R's seq.int(from, to, length.out): the first half counts up from `from`, the rest down from `to`
    u = np.where(idx < m // 2, lo + idx * step, hi - (m - 1 - idx) * step)
    u[0], u[-1] = lo, hi
    i = np.clip(np.searchsorted(x, u, side="right") - 1, 0, x.size - 1)
    dx = u - x[i]
    return u, y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


_EPS = float(np.finfo(np.float64).eps)


def _r_expit(eta: float) -> float:
    """R's logit link inverse (``C_logit_linkinv``): exp(η)/(1+exp(η)), η clamped beyond ±30."""
    tmp = _EPS if eta < -30.0 else (1.0 / _EPS if eta > 30.0 else math.exp(eta))
    return tmp / (1.0 + tmp)


def glm_information(omega: FloatArray, y: FloatArray) -> tuple[float, float]:
    """R's ``glm.fit`` (binomial, logit, intercept only): the fitted intercept and Σ working weights.

    R's IRLS starts from μ_i = (ω_i y_i + 0.5)/(ω_i + 1), stops when the relative change of the
    deviance is < 1e-8, and reports the working weights ω μ(1−μ) computed at the *start* of its
    last iteration; their sum is the inverse of svyglm's ``naive.cov`` (needed for λ). The
    intercept differs from logit(p̂) by ~1e-10 (IRLS stops early); R profiles around it.
    """
    good = omega > 0
    om, yy = omega[good], y[good]

    def deviance(mu: FloatArray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(yy > 0, yy * np.log(yy / mu), 0.0)
            b = np.where(yy < 1, (1 - yy) * np.log((1 - yy) / (1 - mu)), 0.0)
        return float(2.0 * np.sum(om * (a + b)))

    mu = (om * yy + 0.5) / (om + 1.0)
    eta = np.log(mu / (1.0 - mu))
    dev_old = deviance(mu)
    info = 0.0
    beta = float(eta[0])
    for _ in range(25):
        var_mu = mu * (1.0 - mu)
        z = eta + (yy - mu) / var_mu
        w2 = om * var_mu
        info = float(w2.sum())
        beta = float(np.sum(w2 * z) / info)
        eta = np.full(om.size, beta)
        mu = 1.0 / (1.0 + np.exp(-eta))
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    return beta, info


def profile_likelihood(
    p: FloatArray,
    var: FloatArray,
    df: FloatArray,
    n_valid: FloatArray,
    n_frame: FloatArray,
    weight_total: FloatArray,
    information: FloatArray,
    intercept: FloatArray,
    level: float,
) -> tuple[FloatArray, FloatArray]:
    """svyciprop ``likelihood``: R's profile of the quasibinomial ``svyglm`` intercept.

    Per domain: se = √var/(p̂(1−p̂)) (design SE of the logit), dispersion n_valid/(n_valid−1),
    deviance 2·Σω·KL(p̂‖μ) with Σω = ``weight_total`` (svyglm rescales the weights to mean 1
    over the design's rows), λ = var·information/(p̂(1−p̂))² with ``information`` from :func:`glm_information`,
    cut-off ±t_{α/2,df}·√λ; the profile is MASS's ``profile.glm`` grid (steps of zmax/5 SEs,
    fewer than 10 per side, zmax from F(1, n_frame − 1)) read by R's ``spline`` + ``approx``,
    as survey's ``confint_profile``. [p, p] where p is 0 or 1.
    """
    alpha_level = (1.0 - level) / 2.0
    special = _special()
    out_lo = np.full(p.shape, np.nan)
    out_hi = np.full(p.shape, np.nan)
    for g in range(p.size):
        pg, vg = float(p[g]), float(var[g])
        nv, nf, info = float(n_valid[g]), float(n_frame[g]), float(information[g])
        total_w = float(weight_total[g])
        if pg in (0.0, 1.0):
            out_lo[g] = out_hi[g] = pg
            continue
        if not (0.0 < pg < 1.0) or not (vg > 0) or nv < 2 or nf < 2:
            continue
        # R works at the IRLS fit μ0 (≈ p̂ to 1e-9): the logit's design SE is √var/(μ0(1−μ0))
        # and the Pearson dispersion n/(n−1)·p̂(1−p̂)/(μ0(1−μ0))
        b0 = float(intercept[g])
        mu0 = _r_expit(b0)
        pq = mu0 * (1.0 - mu0)
        lam = vg * info / (pq * pq)
        dfg = float(df[g])
        if not dfg > 0:
            continue
        tq = (
            normal_quantile(alpha_level)
            if not np.isfinite(dfg)
            else special.stdtrit(dfg, alpha_level)
        )
        alpha = special.ndtr(tq * math.sqrt(lam)) / 2.0
        # sqrt of R's qf(alpha, 1, n - 1, lower.tail = FALSE), via t (scipy's F overflows at 1e-18)
        zmax = float(-special.stdtrit(nf - 1, alpha / 2.0))
        delta = zmax / 5.0
        dispersion = nv / (nv - 1.0) * pg * (1.0 - pg) / pq
        se = math.sqrt(vg) / pq
        pars = [b0]
        zs = [0.0]
        for sgn in (-1.0, 1.0):
            step = 0
            z = 0.0
            while True:
                step += 1
                if not (step < 10 and abs(z) < zmax):
                    break
                bi = b0 + sgn * step * delta * se
                mu = _r_expit(bi)
                dev = (
                    2.0
                    * total_w
                    * (pg * math.log(mu0 / mu) + (1.0 - pg) * math.log((1.0 - mu0) / (1.0 - mu)))
                )
                z = sgn * math.sqrt(max(dev / dispersion, 0.0))
                pars.append(bi)
                zs.append(z)
        order = np.argsort(np.array(zs), kind="stable")
        xs, ys = _r_spline(np.array(pars)[order], np.array(zs)[order])
        # approx(sp$y, sp$x, xout = cutoff): linear interpolation of the inverse
        inv = np.argsort(ys, kind="stable")
        z_cut = normal_quantile(float(2 * alpha))
        cut = (z_cut, -z_cut)
        bounds = np.interp(cut, ys[inv], xs[inv], left=np.nan, right=np.nan)
        out_lo[g], out_hi[g] = 1.0 / (1.0 + np.exp(-bounds))
    return out_lo, out_hi
