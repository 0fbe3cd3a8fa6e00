"""Small-area estimates: the Fay–Herriot area-level model and its empirical Bayes predictor.

Model (Rao & Molina, *Small Area Estimation*, 2nd ed., 2015, ch. 6): the direct estimate of area i
is y_i = x_iᵀβ + v_i + e_i, v_i ~ N(0, A) (the model variance, between areas), e_i ~ N(0, D_i)
with D_i the design variance (SE²) of the direct estimate, taken as known.

* A is estimated by REML (Fisher scoring, default) or by the Prasad–Rao moment estimator,
  truncated at 0; β by generalised least squares given Â.
* EB predictor: θ̃_i = γ_i y_i + (1 − γ_i) x_iᵀβ̂, with γ_i = Â/(Â + D_i): an area with a
  precise direct estimate keeps it, a noisy one is pulled toward the (district or regression)
  mean.
* MSE: the Prasad–Rao second-order approximation g1 + g2 + 2·g3 with
  g1 = γ_i D_i, g2 = (1 − γ_i)² x_iᵀ(XᵀV⁻¹X)⁻¹x_i,
  g3 = D_i² (Â + D_i)⁻³ V̄(Â), V̄_REML = 2 / Σ(Â + D_j)⁻², V̄_PR = 2 Σ(Â + D_j)² / m².
  With a known A (``model_variance=``) there is no g3 term.

These are model-based estimates (模型估计), shown beside the direct survey estimates, never in
their place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FHMethod = Literal["reml", "moment", "fixed"]
MODEL_LABEL = "模型估计（Fay–Herriot 经验贝叶斯小域估计）"


@dataclass(frozen=True)
class FayHerriot:
    """Fay–Herriot fit for m areas, in input order, on the direct estimates' scale.

    ``eb``: EB estimates; ``mse``: their Prasad–Rao MSE approximations (``rmse`` = √mse);
    ``gamma``: shrinkage weights Â/(Â + D_i) (1 = direct estimate kept); ``synthetic``: x_iᵀβ̂;
    ``beta``: regression coefficients; ``model_variance``: Â; ``method``: ``reml``, ``moment``
    or ``fixed``; ``converged``/``iterations``: of the REML scoring; ``label``: 模型估计 text.
    """

    eb: NDArray[np.float64]
    mse: NDArray[np.float64]
    gamma: NDArray[np.float64]
    synthetic: NDArray[np.float64]
    beta: NDArray[np.float64]
    model_variance: float
    method: FHMethod
    converged: bool
    iterations: int
    label: str = MODEL_LABEL

    @property
    def rmse(self) -> NDArray[np.float64]:
        """√MSE, the model-based standard error of each EB estimate."""
        return np.sqrt(self.mse)


def _gls(
    y: NDArray[np.float64], x: NDArray[np.float64], v: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """β̂ = (XᵀV⁻¹X)⁻¹XᵀV⁻¹y for diagonal V; returns (β̂, (XᵀV⁻¹X)⁻¹)."""
    xw = x / v[:, None]
    cov = np.asarray(np.linalg.inv(x.T @ xw), dtype=np.float64)
    beta: NDArray[np.float64] = cov @ (xw.T @ y)
    return beta, cov


def _moment(y: NDArray[np.float64], x: NDArray[np.float64], d: NDArray[np.float64]) -> float:
    m, p = x.shape
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    resid = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
    return max(0.0, float((resid @ resid - np.sum(d * (1 - leverage))) / (m - p)))


def _reml(
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    d: NDArray[np.float64],
    start: float,
    max_iter: int,
    tol: float,
) -> tuple[float, bool, int]:
    """Fisher scoring on the REML likelihood: A ← A + s(A)/I(A) with
    s = −½ tr P + ½ yᵀP²y, I = ½ tr P², P = V⁻¹ − V⁻¹X(XᵀV⁻¹X)⁻¹XᵀV⁻¹."""
    a = start
    for iteration in range(1, max_iter + 1):
        # V is diagonal: every trace reduces to p × p matrices, O(m·p²) per step.
        vinv = 1.0 / (a + d)
        c_inv = np.linalg.inv(x.T @ (x * vinv[:, None]))
        x_v2_x = x.T @ (x * (vinv**2)[:, None])
        x_v3_x = x.T @ (x * (vinv**3)[:, None])
        py = vinv * y - vinv * (x @ (c_inv @ (x.T @ (vinv * y))))
        h = c_inv @ x_v2_x
        trace_p = float(np.sum(vinv) - np.trace(h))
        trace_p2 = float(np.sum(vinv**2) - 2 * np.trace(c_inv @ x_v3_x) + np.trace(h @ h))
        score = -0.5 * trace_p + 0.5 * float(py @ py)
        info = 0.5 * trace_p2
        new = max(0.0, a + score / info)
        if abs(new - a) <= tol * (1.0 + a):
            return new, True, iteration
        a = new
    return a, False, max_iter


def variances_usable(
    direct: Sequence[float] | NDArray[np.float64], variances: Sequence[float] | NDArray[np.float64]
) -> bool:
    """Whether every design variance is positive beyond rounding. A unit whose answers are all
    the same has SE 0 computed as ~1e-15 (variance ~1e-29): read as a variance it would take
    all the weight of the REML fit (its 1/D swamps the others) and make the information 0.
    Variances within ``eps`` of the squared scale of the estimates count as 0."""
    y = np.asarray(direct, dtype=float)
    d = np.asarray(variances, dtype=float)
    scale = max(float(np.max(np.abs(y))) if y.size else 0.0, 1.0)
    return bool(np.all(d > np.finfo(float).eps * scale**2))


def fay_herriot(
    direct: Sequence[float] | NDArray[np.float64],
    variances: Sequence[float] | NDArray[np.float64],
    covariates: Sequence[Sequence[float]] | NDArray[np.float64] | None = None,
    *,
    method: FHMethod = "reml",
    model_variance: float | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> FayHerriot:
    """Fit the Fay–Herriot model and return EB estimates with their MSE.

    ``direct``: direct estimates y_i; ``variances``: their design variances D_i = SE_i² (same
    scale squared); ``covariates``: m × p matrix X including an intercept column if wanted
    (default: intercept only, i.e. shrinkage toward the precision-weighted district mean).
    ``model_variance`` fixes A (``method`` becomes ``fixed``). Needs m > p areas and D_i > 0.
    """
    y = np.asarray(direct, dtype=float)
    d = np.asarray(variances, dtype=float)
    m = y.size
    x = np.ones((m, 1)) if covariates is None else np.asarray(covariates, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if d.size != m or x.shape[0] != m:
        raise ValueError("直接估计、方差和协变量的单位数必须相同")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(d)) and np.all(np.isfinite(x))):
        raise ValueError("直接估计、方差和协变量必须是有限数")
    if not variances_usable(y, d):
        raise ValueError(
            "每个单位的抽样方差必须大于 0（0% 或 100% 的单位、答案全部相同的单位请先用有效样本量"
            "给出方差）"
        )
    p = x.shape[1]
    if m <= p:
        raise ValueError(f"单位数 {m} 必须多于协变量个数 {p}")
    converged, iterations = True, 0
    if model_variance is not None:
        if model_variance < 0:
            raise ValueError("模型方差不能为负")
        a, used = float(model_variance), "fixed"
    elif method == "moment":
        a, used = _moment(y, x, d), "moment"
    elif method == "reml":
        start = max(_moment(y, x, d), float(np.median(d)) * 0.1)
        a, converged, iterations = _reml(y, x, d, start, max_iter, tol)
        used = "reml"
    else:
        raise ValueError(f"未知的方法 {method!r}；可用: reml, moment")
    v = a + d
    beta, cov = _gls(y, x, v)
    synthetic = x @ beta
    gamma = a / v
    eb = gamma * y + (1 - gamma) * synthetic
    g1 = gamma * d
    g2 = (1 - gamma) ** 2 * np.einsum("ij,jk,ik->i", x, cov, x)
    if used == "reml":
        var_a = 2.0 / float(np.sum(v**-2))
    elif used == "moment":
        var_a = 2.0 * float(np.sum(v**2)) / m**2
    else:
        var_a = 0.0
    g3 = d**2 / v**3 * var_a
    return FayHerriot(
        eb=eb,
        mse=g1 + g2 + 2 * g3,
        gamma=gamma,
        synthetic=synthetic,
        beta=beta,
        model_variance=a,
        method=used,  # type: ignore[arg-type]
        converged=converged,
        iterations=iterations,
    )
