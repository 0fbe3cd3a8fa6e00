"""Weighting: non-response adjustment, post-stratification, raking and trimming, with diagnostics.

Every calibration returns a new :class:`~survey.estimation.design.Design` that remembers the step,
so that variances remove what the calibration fixed exactly as R ``survey`` 4.1.1 does
(``postStratify``: one pass with old-weight cell means; ``rake``: ten sweeps over the margins with
unweighted cell means and the weights stored after each margin's step in the last iteration).

Raking is iterative proportional fitting on the table of joint cells (R's ``compress``), so a
million respondents cost a few bincounts; it stops when every margin is met to ``tolerance``
(max |Σw − N_c| / N ≤ 1e-10 by default) or raises :class:`EstimationError` naming the margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from survey.estimation.design import Calibration, CalibrationBlock, Design, FloatArray, IntArray
from survey.estimation.errors import EstimationError


@dataclass(frozen=True, eq=False)
class Margin:
    """A population margin: the cell code 0..K-1 of every sample row and the population count
    of every cell (``totals``, length K). A cross-classification (district × sex) is one margin
    with one cell per combination: see :func:`cross_cells`. ``name`` is used in error messages.
    """

    cells: npt.ArrayLike
    totals: npt.ArrayLike
    name: str = ""


@dataclass(frozen=True)
class WeightingDiagnostics:
    """Diagnostics of a set of weights.

    kish_deff: 1 + CV² of the weights (CV with divisor n) = n Σw²/(Σw)²; n_eff = n / kish_deff;
    weight_min/max/ratio: range of the weights; factor_min/max/ratio: range of the adjustment
    factors new/old weight (1 where there was no adjustment); iterations: raking passes;
    max_margin_error: max over margins of max |Σw − N_c| / N (relative; 0 without margins);
    converged: whether the margins were met; n_trimmed: rows at a trimming bound.
    """

    n: int
    sum_weights: float
    kish_deff: float
    n_eff: float
    weight_min: float
    weight_max: float
    weight_ratio: float
    factor_min: float
    factor_max: float
    factor_ratio: float
    iterations: int = 0
    max_margin_error: float = 0.0
    converged: bool = True
    n_trimmed: int = 0


@dataclass(frozen=True, eq=False)
class Weighting:
    """Result of a calibration: the new ``design`` and its ``diagnostics``."""

    design: Design
    diagnostics: WeightingDiagnostics


@dataclass(frozen=True, eq=False)
class NonresponseAdjustment:
    """Weights after a weighting-class non-response adjustment.

    weights: per input row, the adjusted weight of a respondent and 0 for a non-respondent;
    respondents: boolean mask; class_factors: Σw(all) / Σw(respondents) per class code;
    diagnostics: of the respondents' weights.
    """

    weights: FloatArray
    respondents: npt.NDArray[np.bool_]
    class_factors: FloatArray
    diagnostics: WeightingDiagnostics


def weight_diagnostics(
    weights: npt.ArrayLike,
    base_weights: npt.ArrayLike | None = None,
    *,
    iterations: int = 0,
    max_margin_error: float = 0.0,
    converged: bool = True,
    n_trimmed: int = 0,
) -> WeightingDiagnostics:
    """Diagnostics of ``weights`` (and of the factors ``weights / base_weights``)."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size == 0:
        raise EstimationError("没有权重可诊断")
    total = float(w.sum())
    kish = float(w.size * np.dot(w, w) / (total * total))
    factors = (
        w / np.asarray(base_weights, dtype=np.float64).reshape(-1)
        if base_weights is not None
        else np.ones(1)
    )
    fmin, fmax = float(factors.min()), float(factors.max())
    return WeightingDiagnostics(
        n=int(w.size),
        sum_weights=total,
        kish_deff=kish,
        n_eff=w.size / kish,
        weight_min=float(w.min()),
        weight_max=float(w.max()),
        weight_ratio=float(w.max() / w.min()),
        factor_min=fmin,
        factor_max=fmax,
        factor_ratio=fmax / fmin,
        iterations=iterations,
        max_margin_error=max_margin_error,
        converged=converged,
        n_trimmed=n_trimmed,
    )


def cross_cells(*codes: npt.ArrayLike, sizes: Sequence[int]) -> IntArray:
    """Cell code of a cross-classification: codes (c1, c2, …) with ``sizes`` (K1, K2, …) give
    ``((c1·K2) + c2)·K3 + …`` (row-major, as ``numpy.ravel_multi_index``)."""
    if len(codes) != len(sizes):
        raise EstimationError("cross_cells: 代码列数与 sizes 个数不一致")
    arrays = [np.asarray(c, dtype=np.intp).reshape(-1) for c in codes]
    for k, (a, size) in enumerate(zip(arrays, sizes, strict=True)):
        if a.size and (a.min() < 0 or a.max() >= size):
            raise EstimationError(f"cross_cells: 第 {k + 1} 个分类的代码超出 0..{size - 1}")
    return np.ravel_multi_index(tuple(arrays), tuple(int(s) for s in sizes)).astype(np.intp)


def _label(m: Margin, k: int) -> str:
    return f"边际「{m.name}」" if m.name else f"第 {k + 1} 个边际"


@dataclass(frozen=True, eq=False)
class _Checked:
    cells: IntArray
    totals: FloatArray
    label: str


def _check_margins(design: Design, margins: Sequence[Margin]) -> list[_Checked]:
    if not margins:
        raise EstimationError("至少需要一个边际")
    out = []
    for k, m in enumerate(margins):
        label = _label(m, k)
        cells = np.asarray(m.cells)
        if cells.dtype.kind not in "iu":
            raise EstimationError(f"{label}: 格代码必须是整数")
        cells = cells.astype(np.intp, copy=False).reshape(-1)
        totals = np.asarray(m.totals, dtype=np.float64).reshape(-1)
        if cells.size != design.n:
            raise EstimationError(f"{label}: 格代码长度 {cells.size} 与样本行数 {design.n} 不一致")
        if not np.all(np.isfinite(totals)) or np.any(totals < 0):
            raise EstimationError(f"{label}: 总体数必须是非负有限数")
        if cells.min() < 0 or cells.max() >= totals.size:
            bad = int(np.argmax((cells < 0) | (cells >= totals.size)))
            raise EstimationError(
                f"{label}: 第 {bad + 1} 行的格代码 {cells[bad]} 不在总体边际表中（共 {totals.size} 格）"
            )
        count = np.bincount(cells, minlength=totals.size)
        empty = np.flatnonzero((count == 0) & (totals > 0))
        if empty.size:
            raise EstimationError(
                f"{label}: 第 {empty[0]} 格在总体中有 {totals[empty[0]]:g} 人但样本中没有人（空格），无法加权"
            )
        zero_pop = np.flatnonzero((count > 0) & (totals == 0))
        if zero_pop.size:
            raise EstimationError(
                f"{label}: 第 {zero_pop[0]} 格在样本中有 {count[zero_pop[0]]} 人但总体数为 0"
            )
        out.append(_Checked(cells, totals, label))
    grand = out[0].totals.sum()
    for c in out[1:]:
        if abs(c.totals.sum() - grand) > 1e-9 * grand:
            raise EstimationError(
                f"{c.label}: 总体合计 {c.totals.sum():g} 与{out[0].label}的合计 {grand:g} 不一致，边际无法同时满足"
            )
    return out


def _joint(cells: list[IntArray], sizes: list[int]) -> tuple[IntArray, list[IntArray]]:
    """Joint-cell code per row and, per margin, the margin cell of every joint cell."""
    product = 1
    for s in sizes:
        product *= max(s, 1)
    if product <= 20_000_000:
        key = np.ravel_multi_index(tuple(cells), tuple(sizes)).astype(np.intp)
        present = np.bincount(key, minlength=product)
        labels = np.flatnonzero(present)
        lookup = np.empty(product, dtype=np.intp)
        lookup[labels] = np.arange(labels.size, dtype=np.intp)
        joint = lookup[key]
        per = np.unravel_index(labels, tuple(sizes))
        return joint, [np.asarray(p, dtype=np.intp) for p in per]
    stacked = np.stack(cells, axis=1)
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.intp), [
        uniq[:, k].astype(np.intp) for k in range(len(cells))
    ]


def rake(
    design: Design,
    margins: Sequence[Margin],
    *,
    tolerance: float = 1e-10,
    max_iter: int = 1000,
    epsilon: float | None = None,
) -> Weighting:
    """Rake the design's weights to ``margins`` by iterative proportional fitting (R ``rake``).

    Each pass post-stratifies on every margin in order. Stops when every margin is met:
    max |Σ_c w − N_c| / N ≤ ``tolerance`` (N = the margin's population total). With ``epsilon``
    R's own stopping rule is used instead: stop when the largest change of the weighted joint
    table over a pass is < epsilon (epsilon < 1 is relative to the sum of the design weights),
    which reproduces ``rake(control=list(maxit=max_iter, epsilon=epsilon))``.
    Raises :class:`EstimationError` for an empty cell, a sample cell with population 0,
    inconsistent margin totals, or no convergence in ``max_iter`` passes (naming the margin).
    """
    checked = _check_margins(design, margins)
    sizes = [c.totals.size for c in checked]
    joint, joint_margin = _joint([c.cells for c in checked], sizes)
    w0 = design.weights
    base = np.asarray(np.bincount(joint, weights=w0), dtype=np.float64)
    factor = np.ones(base.size)
    step_factors: list[FloatArray] = [factor] * len(checked)
    abs_eps = None
    if epsilon is not None:
        abs_eps = epsilon * float(w0.sum()) if epsilon < 1 else float(epsilon)
    old_table: FloatArray = np.asarray(base, dtype=np.float64)
    iterations = 0
    converged = False
    errors = np.zeros(len(checked))
    while iterations < max_iter:
        for k, c in enumerate(checked):
            current = np.bincount(joint_margin[k], weights=base * factor, minlength=sizes[k])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(current > 0, c.totals / current, 1.0)
            factor = factor * ratio[joint_margin[k]]
            step_factors[k] = factor
        iterations += 1
        table = base * factor
        for k, c in enumerate(checked):
            got = np.bincount(joint_margin[k], weights=table, minlength=sizes[k])
            errors[k] = float(np.max(np.abs(got - c.totals))) / float(c.totals.sum())
        if abs_eps is not None:
            if float(np.max(np.abs(old_table - table))) < abs_eps:
                converged = True
                break
            old_table = table
        elif float(errors.max()) <= tolerance:
            converged = True
            break
    if not converged:
        worst = int(np.argmax(errors))
        raise EstimationError(
            f"加权迭代 {max_iter} 次未收敛：{checked[worst].label}的最大相对误差为 {errors[worst]:.3g}"
            f"（要求 ≤ {tolerance:g}），边际之间可能相互矛盾"
        )
    new_w = w0 * factor[joint]
    blocks = []
    for k, c in enumerate(checked):
        wk = w0 * step_factors[k][joint]
        blocks.append(
            CalibrationBlock(
                cells=c.cells,
                n_cells=sizes[k],
                scale=wk,
                inner=1.0 / wk,
                denom=np.maximum(np.bincount(c.cells, minlength=sizes[k]), 1).astype(np.float64),
                name=margins[k].name,
            )
        )
    new_design = design.with_calibration(new_w, Calibration("rake", tuple(blocks), sweeps=10))
    return Weighting(
        new_design,
        weight_diagnostics(
            new_w, w0, iterations=iterations, max_margin_error=float(errors.max()), converged=True
        ),
    )


def post_stratify(
    design: Design, cells: npt.ArrayLike, totals: npt.ArrayLike, *, name: str = ""
) -> Weighting:
    """Post-stratify (R ``postStratify``): w*_i = w_i N_c / Σ_{c} w for the post-stratum c of row i.

    cells: post-stratum code 0..K-1 per row; totals: population count N_c per post-stratum.
    """
    (c,) = _check_margins(design, [Margin(cells, totals, name)])
    k = c.totals.size
    w0 = design.weights
    current = np.bincount(c.cells, weights=w0, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(current > 0, c.totals / current, 1.0)
    new_w = w0 * ratio[c.cells]
    block = CalibrationBlock(
        cells=c.cells,
        n_cells=k,
        scale=new_w,
        inner=w0 / new_w,
        denom=np.where(current > 0, current, 1.0),
        name=name,
    )
    got = np.bincount(c.cells, weights=new_w, minlength=k)
    err = float(np.max(np.abs(got - c.totals))) / float(c.totals.sum())
    return Weighting(
        design.with_calibration(new_w, Calibration("post_stratify", (block,), sweeps=1)),
        weight_diagnostics(new_w, w0, iterations=1, max_margin_error=err),
    )


def trim(
    design: Design,
    margins: Sequence[Margin],
    *,
    lower: float | None = None,
    upper: float | None = None,
    factor_lower: float | None = None,
    factor_upper: float | None = None,
    max_rounds: int = 50,
    tolerance: float = 1e-10,
    bound_tolerance: float = 1e-6,
    max_iter: int = 1000,
) -> Weighting:
    """Rake, then alternately trim the weights to the bounds and re-rake until both hold.

    Bounds: absolute (``lower``/``upper``, in weight units) and/or on the adjustment factor
    relative to the design's weights (``factor_lower``/``factor_upper``). Stops when the raked
    weights meet the margins to ``tolerance`` and lie within the bounds up to a relative
    ``bound_tolerance``. The returned design is the last re-rake (its SE uses that raking);
    re-rakes start from the trimmed weights as design weights, so calibrations the input design
    already remembered are not carried over (trim an uncalibrated design).
    Raises :class:`EstimationError` when the bounds and the margins cannot both be met.
    """
    base = design.weights
    lo = np.full(design.n, -np.inf)
    hi = np.full(design.n, np.inf)
    if lower is not None:
        lo = np.maximum(lo, lower)
    if upper is not None:
        hi = np.minimum(hi, upper)
    if factor_lower is not None:
        lo = np.maximum(lo, factor_lower * base)
    if factor_upper is not None:
        hi = np.minimum(hi, factor_upper * base)
    if np.any(lo > hi) or np.any(hi <= 0):
        raise EstimationError("修剪界限矛盾：下界大于上界或上界不为正")
    result = rake(design, margins, tolerance=tolerance, max_iter=max_iter)
    for _ in range(max_rounds):
        w = result.design.weights
        outside = (w < lo * (1 - bound_tolerance)) | (w > hi * (1 + bound_tolerance))
        if not outside.any():
            n_at = int(
                np.count_nonzero(
                    (w <= lo * (1 + bound_tolerance)) | (w >= hi * (1 - bound_tolerance))
                )
            )
            d = result.diagnostics
            return Weighting(
                result.design,
                weight_diagnostics(
                    w,
                    base,
                    iterations=d.iterations,
                    max_margin_error=d.max_margin_error,
                    converged=True,
                    n_trimmed=n_at,
                ),
            )
        clipped = np.clip(w, np.maximum(lo, 1e-300), hi)
        result = rake(design.with_weights(clipped), margins, tolerance=tolerance, max_iter=max_iter)
    raise EstimationError(
        f"修剪后再加权 {max_rounds} 轮仍无法同时满足权重界限与边际：界限过紧，请放宽 lower/upper"
    )


def adjust_nonresponse(
    weights: npt.ArrayLike, classes: npt.ArrayLike, responded: npt.ArrayLike
) -> NonresponseAdjustment:
    """Weighting-class non-response adjustment.

    weights: design weights of every sampled case; classes: weighting class code 0..K-1 per case;
    responded: True for respondents. Each respondent's weight is multiplied by
    Σ w(class) / Σ w(respondents in class); non-respondents get 0. Raises
    :class:`EstimationError` for a class with cases but no respondent.
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    cls = np.asarray(classes)
    if cls.dtype.kind not in "iu":
        raise EstimationError("加权类别必须是整数代码")
    cls = cls.astype(np.intp, copy=False).reshape(-1)
    resp = np.asarray(responded, dtype=bool).reshape(-1)
    if not (w.size == cls.size == resp.size):
        raise EstimationError("weights、classes、responded 长度不一致")
    if w.size == 0 or np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise EstimationError("权重必须为正的有限数")
    if cls.min() < 0:
        raise EstimationError("加权类别代码不能为负")
    k = int(cls.max()) + 1
    all_w = np.bincount(cls, weights=w, minlength=k)
    resp_w = np.bincount(cls[resp], weights=w[resp], minlength=k)
    bad = np.flatnonzero((all_w > 0) & (resp_w == 0))
    if bad.size:
        raise EstimationError(
            f"加权类别 {bad[0]} 有样本但没有应答者，无法做无应答调整（请合并类别）"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(resp_w > 0, all_w / resp_w, np.nan)
    new_w = np.where(resp, w * np.nan_to_num(factors[cls]), 0.0)
    return NonresponseAdjustment(
        weights=new_w,
        respondents=resp,
        class_factors=factors,
        diagnostics=weight_diagnostics(new_w[resp], w[resp]),
    )
