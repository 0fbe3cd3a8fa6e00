"""Estimators over a :class:`~survey.estimation.design.Design`: mean, total, proportion, distribution.

Each has a by-domain form (``*_by``) taking integer domain codes per row (−1 = in no domain) and
returning :class:`DomainEstimates` (one column array per field, all domains at once), and a
single-domain form returning an :class:`Estimate`. Missing answers (NaN) are out of the domain, as
R's ``na.rm=TRUE`` (the rows stay in the design: n_h is unchanged). Domain estimates always use
the full design (R's ``svyby``/``subset``), never a sample rebuilt from the domain's rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from survey.estimation import intervals
from survey.estimation.design import Design, FloatArray, IntArray
from survey.estimation.errors import EstimationError
from survey.estimation.variance import domain_variance

Statistic = Literal["mean", "total", "proportion"]


@dataclass(frozen=True)
class Estimate:
    """One estimate with its uncertainty.

    estimate/se/var/ci_lower/ci_upper in the estimator's units (a proportion as a share 0..1);
    df: degrees of freedom of the interval (None = normal quantile); n: valid answers in the
    domain; n_missing: missing answers in the domain; deff: design effect vs SRS without
    replacement (None where undefined, e.g. a proportion of exactly 0 or 1); n_eff = n / deff;
    level: confidence level; method: interval method.
    """

    estimate: float
    se: float
    var: float
    ci_lower: float
    ci_upper: float
    df: float | None
    n: int
    n_missing: int
    deff: float | None
    n_eff: float | None
    level: float
    method: str
    statistic: str


def _opt(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass(frozen=True, eq=False)
class DomainEstimates:
    """Estimates for domains 0..G-1 as read-only column arrays of length G.

    Same fields as :class:`Estimate`; ``df`` holds ``inf`` for the normal quantile, ``deff`` and
    ``n_eff`` hold NaN where undefined; a domain without valid answers has NaN estimates.
    ``result[g]`` gives domain g as an :class:`Estimate`.
    """

    estimate: FloatArray
    se: FloatArray
    var: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    df: FloatArray
    n: IntArray
    n_missing: IntArray
    deff: FloatArray
    n_eff: FloatArray
    level: float
    method: str
    statistic: str

    def __len__(self) -> int:
        return int(self.estimate.size)

    def __getitem__(self, g: int) -> Estimate:
        return Estimate(
            estimate=float(self.estimate[g]),
            se=float(self.se[g]),
            var=float(self.var[g]),
            ci_lower=float(self.ci_lower[g]),
            ci_upper=float(self.ci_upper[g]),
            df=_opt(float(self.df[g])),
            n=int(self.n[g]),
            n_missing=int(self.n_missing[g]),
            deff=_opt(float(self.deff[g])),
            n_eff=_opt(float(self.n_eff[g])),
            level=self.level,
            method=self.method,
            statistic=self.statistic,
        )

    def __iter__(self) -> Iterator[Estimate]:
        for g in range(len(self)):
            yield self[g]


def _ro(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.setflags(write=False)
    return a


def _as_values(design: Design, y: npt.ArrayLike, name: str = "y") -> FloatArray:
    v = np.asarray(y, dtype=np.float64).reshape(-1)
    if v.size != design.n:
        raise EstimationError(f"{name} 长度 {v.size} 与设计行数 {design.n} 不一致")
    if np.isinf(v).any():
        raise EstimationError(f"{name} 含无穷大值")
    return v


def _as_groups(
    design: Design, groups: npt.ArrayLike | None, n_groups: int | None
) -> tuple[IntArray, int]:
    if groups is None:
        return np.zeros(design.n, dtype=np.intp), 1
    g = np.asarray(groups)
    if g.dtype.kind not in "iu":
        raise EstimationError("groups 必须是整数域代码（−1 表示不属于任何域）")
    g = g.astype(np.intp, copy=False).reshape(-1)
    if g.size != design.n:
        raise EstimationError(f"groups 长度 {g.size} 与设计行数 {design.n} 不一致")
    top = int(g.max()) + 1 if g.size else 0
    count = top if n_groups is None else int(n_groups)
    if top > count or (g.size and int(g.min()) < -1):
        raise EstimationError("groups 代码超出 0..n_groups−1（或小于 −1）")
    return g, count


def _domain_df(design: Design, rows: IntArray, g: IntArray, count: int) -> FloatArray:
    """Per domain R's degf of the design restricted to the domain's valid rows."""
    if count == 0:
        return np.zeros(0)
    if design.psu_is_row:
        n_psu = np.bincount(g, minlength=count)
    else:
        pairs = np.unique(design.psu[rows].astype(np.int64) * count + g)
        n_psu = np.bincount((pairs % count).astype(np.intp), minlength=count)
    key = design.stratum[rows].astype(np.int64) * count + g
    if design.n_strata * count <= 20_000_000:
        present = np.bincount(key, minlength=design.n_strata * count) > 0
        n_str = present.reshape(design.n_strata, count).sum(axis=0)
    else:
        pairs = np.unique(key)
        n_str = np.bincount((pairs % count).astype(np.intp), minlength=count)
    return (n_psu - n_str).astype(np.float64)


def _estimate_by(
    design: Design,
    values: FloatArray,
    groups: IntArray,
    count: int,
    statistic: Statistic,
    ci: str,
    level: float,
    df: float | None,
) -> DomainEstimates:
    if not 0.0 < level < 1.0:
        raise EstimationError(f"置信水平必须在 0 与 1 之间，收到 {level}")
    in_domain = groups >= 0
    missing = np.isnan(values)
    valid = in_domain & ~missing
    rows = np.flatnonzero(valid)
    g = groups[rows]
    w = design.weights[rows]
    y = values[rows]
    n = np.bincount(g, minlength=count)
    n_missing = np.bincount(groups[in_domain & missing], minlength=count)
    w_sum = np.bincount(g, weights=w, minlength=count)
    wy_sum = np.bincount(g, weights=w * y, minlength=count)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = wy_sum / w_sum
        if statistic == "total":
            est = np.where(n > 0, wy_sum, np.nan)
            scores = w * y
        else:
            est = ybar
            scores = w * (y - ybar[g]) / w_sum[g]
    var = domain_variance(design, rows, g, scores, count)
    var = np.where(n > 0, var, np.nan)
    se = np.sqrt(var)
    # deff vs SRS without replacement, as R: svyvar·(W − n)/(W n) for a mean, ×W² for a total.
    resid = y - ybar[g]
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.bincount(g, weights=w * resid * resid, minlength=count) / w_sum * n / (n - 1)
        vsrs = s2 * (w_sum - n) / (w_sum * n)
        if statistic == "total":
            vsrs = vsrs * w_sum * w_sum
        deff = np.where((vsrs > 0) & np.isfinite(vsrs), var / vsrs, np.nan)
        n_eff = np.where(deff > 0, n / deff, np.nan)
    if statistic == "proportion":
        # a share of exactly 0 or 1 has no sampling variance (rounding may leave ~1e-35): SE 0,
        # every interval [p, p] (beta: Clopper–Pearson), no design effect
        edge = (est <= 0.0) | (est >= 1.0)
        se = np.where(edge, 0.0, se)
        var = np.where(edge, 0.0, var)
        deff = np.where(edge, np.nan, deff)
        n_eff = np.where(edge, np.nan, n_eff)
    # degrees of freedom
    if df is not None:
        df_arr = np.full(count, float(df))
    elif ci == "normal":
        df_arr = np.full(count, np.inf)
    elif ci == "t":
        df_arr = np.full(count, float(design.df))
    else:
        df_arr = _domain_df(design, rows, g, count)
    if ci in ("normal", "t", "mean"):
        lo, hi = intervals.wald(est, se, df_arr, level)
    elif ci == "logit":
        lo, hi = intervals.logit(est, se, df_arr, level)
    elif ci == "arcsine":
        lo, hi = intervals.arcsine(est, se, df_arr, level)
    elif ci == "beta":
        # R's nrow(design) of the domain design: its valid rows, except that a subset of a
        # calibrated design keeps every row (with weight zero), so there it is all rows.
        nrow = np.full(count, float(design.n)) if design.calibrations else n.astype(np.float64)
        lo, hi = intervals.korn_graubard(est, var, df_arr, nrow, level)
    elif ci == "likelihood":
        lo, hi = _likelihood_interval(
            design, values, rows, g, w, y, est, var, df_arr, n, count, level
        )
    else:
        raise EstimationError(f"未知的置信区间方法「{ci}」")
    return DomainEstimates(
        estimate=_ro(np.asarray(est, dtype=np.float64)),
        se=_ro(np.asarray(se, dtype=np.float64)),
        var=_ro(np.asarray(var, dtype=np.float64)),
        ci_lower=_ro(np.asarray(lo, dtype=np.float64)),
        ci_upper=_ro(np.asarray(hi, dtype=np.float64)),
        df=_ro(df_arr),
        n=_ro(n.astype(np.intp)),
        n_missing=_ro(n_missing.astype(np.intp)),
        deff=_ro(np.asarray(deff, dtype=np.float64)),
        n_eff=_ro(np.asarray(n_eff, dtype=np.float64)),
        level=float(level),
        method=ci,
        statistic=statistic,
    )


def _likelihood_interval(
    design: Design,
    values: FloatArray,
    rows: IntArray,
    g: IntArray,
    w: FloatArray,
    y: FloatArray,
    est: FloatArray,
    var: FloatArray,
    df_arr: FloatArray,
    n: IntArray,
    count: int,
    level: float,
) -> tuple[FloatArray, FloatArray]:
    """R's ``svyciprop(method="likelihood")`` per domain (see ``intervals.profile_likelihood``).

    The svyglm's model frame is the domain's valid rows, or — a subset of a calibrated design
    keeps every row — all rows with an answer; its weights are rescaled to mean 1 over the
    design's rows (all rows of a calibrated design, NA rows included).
    """
    if design.calibrations:
        frame = np.full(count, float(np.count_nonzero(~np.isnan(values))))
        total = np.full(count, float(design.n))
    else:
        frame = n.astype(np.float64)
        total = frame
    info = np.full(count, np.nan)
    intercept = np.full(count, np.nan)
    order = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[order], np.arange(count + 1))
    w_sum = np.bincount(g, weights=w, minlength=count)
    for k in range(count):
        idx = order[starts[k] : starts[k + 1]]
        if idx.size < 2 or not 0.0 < est[k] < 1.0:
            continue
        omega = w[idx] * total[k] / w_sum[k]
        intercept[k], info[k] = intervals.glm_information(omega, y[idx])
    return intervals.profile_likelihood(
        est, var, df_arr, n.astype(np.float64), frame, total, info, intercept, level
    )


def _check_method(ci: str, allowed: Sequence[str], what: str) -> None:
    if ci not in allowed:
        raise EstimationError(f"{what}的置信区间方法只能是 {'/'.join(allowed)}，收到「{ci}」")


def mean_by(
    design: Design,
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    n_groups: int | None = None,
    ci: Literal["normal", "t"] = "normal",
    level: float = 0.95,
    df: float | None = None,
) -> DomainEstimates:
    """Weighted mean of ``y`` (NaN = missing) in every domain (R ``svyby(~y, ~g, svymean, na.rm=TRUE)``).

    ci: ``"normal"`` (R ``confint`` default) or ``"t"`` with the full design's df (PSUs − strata);
    ``df`` overrides the degrees of freedom (``math.inf`` = normal).
    """
    _check_method(ci, intervals.MEAN_METHODS, "均值")
    g, count = _as_groups(design, groups, n_groups)
    return _estimate_by(design, _as_values(design, y), g, count, "mean", ci, level, df)


def total_by(
    design: Design,
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    n_groups: int | None = None,
    ci: Literal["normal", "t"] = "normal",
    level: float = 0.95,
    df: float | None = None,
) -> DomainEstimates:
    """Weighted total of ``y`` (NaN = missing) in every domain (R ``svyby(..., svytotal)``)."""
    _check_method(ci, intervals.MEAN_METHODS, "总量")
    g, count = _as_groups(design, groups, n_groups)
    return _estimate_by(design, _as_values(design, y), g, count, "total", ci, level, df)


def indicator(y: npt.ArrayLike, codes: Sequence[float] | None) -> FloatArray:
    """1.0 where ``y`` is one of ``codes``, 0.0 elsewhere, NaN where ``y`` is NaN.

    Without ``codes``, ``y`` must already be 0/1 (or NaN).
    """
    v = np.asarray(y, dtype=np.float64).reshape(-1)
    miss = np.isnan(v)
    if codes is None:
        bad = ~miss & (v != 0.0) & (v != 1.0)
        if bad.any():
            raise EstimationError(
                f"比例的变量必须是 0/1（第 {int(np.argmax(bad)) + 1} 行为 {v[bad][0]:g}）"
            )
        return v
    out = np.isin(v, np.asarray(list(codes), dtype=np.float64)).astype(np.float64)
    out[miss] = np.nan
    return out


def proportion_by(
    design: Design,
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    codes: Sequence[float] | None = None,
    *,
    n_groups: int | None = None,
    ci: Literal["logit", "t", "normal", "beta", "mean", "arcsine", "likelihood"] = "logit",
    level: float = 0.95,
    df: float | None = None,
) -> DomainEstimates:
    """Share of valid answers in ``codes`` (or of 1s in a 0/1 ``y``) in every domain.

    R ``svyby(~I(y %in% codes), ~g, design, svyciprop, method=...)`` on the valid answers.
    ci: ``"logit"`` (default), ``"beta"`` (Korn–Graubard), ``"mean"`` (Wald), ``"arcsine"``,
    ``"likelihood"`` (R's profile likelihood of the quasibinomial svyglm) — all with each domain's
    own df (PSUs with a valid answer in the domain minus their strata) — or
    ``"t"`` with the full design's df, or ``"normal"``. ``"beta"`` uses R's ``nrow(design)`` of
    the domain: its valid answers, or all rows of a calibrated design (R keeps them, weight 0,
    in subsets of calibrated designs). A domain whose share is exactly 0 or 1
    gets SE 0, the interval [p, p] (beta: Clopper–Pearson on n) and deff NaN.
    """
    _check_method(ci, intervals.PROPORTION_METHODS, "比例")
    g, count = _as_groups(design, groups, n_groups)
    ind = indicator(_as_values(design, y), codes)
    return _estimate_by(design, ind, g, count, "proportion", ci, level, df)


def distribution_by(
    design: Design,
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    categories: Sequence[float] | None = None,
    *,
    n_groups: int | None = None,
    ci: Literal["logit", "t", "normal", "beta", "mean", "arcsine", "likelihood"] = "logit",
    level: float = 0.95,
    df: float | None = None,
) -> dict[float, DomainEstimates]:
    """Share of each category of ``y`` among valid answers in every domain (R ``svymean(~factor)``).

    categories: the codes to report (default: every code present). Returns {code: estimates}.
    """
    values = _as_values(design, y)
    cats = categories if categories is not None else np.unique(values[~np.isnan(values)]).tolist()
    return {
        float(c): proportion_by(
            design, values, groups, [c], n_groups=n_groups, ci=ci, level=level, df=df
        )
        for c in cats
    }


def _domain_codes(design: Design, domain: npt.ArrayLike | None) -> IntArray:
    if domain is None:
        return np.zeros(design.n, dtype=np.intp)
    mask = np.asarray(domain).reshape(-1)
    if mask.dtype != np.bool_ or mask.size != design.n:
        raise EstimationError("domain 必须是与设计行数相同长度的布尔数组")
    return np.where(mask, 0, -1).astype(np.intp)


def mean(
    design: Design,
    y: npt.ArrayLike,
    *,
    domain: npt.ArrayLike | None = None,
    ci: Literal["normal", "t"] = "normal",
    level: float = 0.95,
    df: float | None = None,
) -> Estimate:
    """Weighted mean of ``y`` (NaN = missing), over the whole design or a boolean ``domain``."""
    return mean_by(design, y, _domain_codes(design, domain), n_groups=1, ci=ci, level=level, df=df)[
        0
    ]


def total(
    design: Design,
    y: npt.ArrayLike,
    *,
    domain: npt.ArrayLike | None = None,
    ci: Literal["normal", "t"] = "normal",
    level: float = 0.95,
    df: float | None = None,
) -> Estimate:
    """Weighted total of ``y`` (NaN = missing), over the whole design or a boolean ``domain``."""
    return total_by(
        design, y, _domain_codes(design, domain), n_groups=1, ci=ci, level=level, df=df
    )[0]


def proportion(
    design: Design,
    y: npt.ArrayLike,
    codes: Sequence[float] | None = None,
    *,
    domain: npt.ArrayLike | None = None,
    ci: Literal["logit", "t", "normal", "beta", "mean", "arcsine", "likelihood"] = "logit",
    level: float = 0.95,
    df: float | None = None,
) -> Estimate:
    """Share of valid answers in ``codes`` (see :func:`proportion_by`), whole design or ``domain``."""
    return proportion_by(
        design, y, _domain_codes(design, domain), codes, n_groups=1, ci=ci, level=level, df=df
    )[0]


def distribution(
    design: Design,
    y: npt.ArrayLike,
    categories: Sequence[float] | None = None,
    *,
    domain: npt.ArrayLike | None = None,
    ci: Literal["logit", "t", "normal", "beta", "mean", "arcsine", "likelihood"] = "logit",
    level: float = 0.95,
    df: float | None = None,
) -> dict[float, Estimate]:
    """Share of each category of ``y`` among valid answers: {code: Estimate}."""
    by = distribution_by(
        design, y, _domain_codes(design, domain), categories, n_groups=1, ci=ci, level=level, df=df
    )
    return {c: r[0] for c, r in by.items()}
