"""Allocation of a total sample size across strata, with bounds and exact integer rounding.

Every method gives each stratum a weight w_h and allocates ``n_h ∝ w_h`` subject to
``lower_h ≤ n_h ≤ upper_h``, where ``lower_h = min(minimum_h, N_h)`` and
``upper_h = min(maximum_h, N_h)`` (an allocation never exceeds the stratum size):

* ``proportional``: w_h = N_h;
* ``equal``: w_h = 1;
* ``neyman``: w_h = N_h · S_h (Neyman 1934; Cochran 1977 §5.5), ``sds`` required;
* ``power``: w_h = CV_h · X_h^q (Bankier 1988, "Power allocations"), X_h = ``importance``
  (default N_h), CV_h = ``cvs`` (default 1), q = ``power`` (0 = equal, 1 = proportional);
* ``compromise``: every stratum first gets its minimum (e.g. the unit minimum from
  :func:`sampling.sizes.unit_minimum_sizes`), the remainder is shared proportionally to N_h.

Bounds are met exactly as the optimum of the constrained problem: n_h = clip(w_h · s, lower_h,
upper_h) with the scale s solved so the total is met (strata at a bound keep it; the others share
the rest in proportion to w_h). The real-valued allocation is then rounded by largest remainder:
floor every n_h, give the missing units to the largest fractional parts, ties to the stratum that
sorts first. Strata are always handled in sorted label order, so the result does not depend on
the order of the input mapping.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sampling.errors import SamplingError

Method = Literal["proportional", "equal", "neyman", "power", "compromise"]
METHODS: tuple[str, ...] = ("proportional", "equal", "neyman", "power", "compromise")


@dataclass(frozen=True, eq=False)
class Allocation:
    """Integer sample sizes per stratum.

    strata: stratum labels, sorted; every array below is aligned with them.
    population_sizes: N_h.
    sizes: n_h (integers, sum exactly ``total``).
    exact: the real-valued allocation before rounding (inside the bounds, sums to ``total``).
    lower, upper: the bounds used (minimum and maximum, both capped at N_h).
    """

    method: str
    total: int
    strata: tuple[Any, ...]
    population_sizes: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    exact: npt.NDArray[np.float64]
    lower: npt.NDArray[np.int64]
    upper: npt.NDArray[np.int64]

    def as_dict(self) -> dict[Any, int]:
        """``{stratum: n_h}`` in sorted stratum order (what the selection functions take)."""
        return {label: int(n) for label, n in zip(self.strata, self.sizes, strict=True)}

    def __getitem__(self, stratum: Hashable) -> int:
        return int(self.sizes[self.strata.index(stratum)])

    def __len__(self) -> int:
        return len(self.strata)


def _per_stratum(
    name: str, value: Mapping[Any, float] | float | None, strata: list[Any], default: float
) -> npt.NDArray[np.float64]:
    if value is None:
        return np.full(len(strata), default, dtype=np.float64)
    if isinstance(value, Mapping):
        missing = [s for s in strata if s not in value]
        if missing:
            raise SamplingError(f"{name} 缺少层「{missing[0]}」的值")
        extra = [s for s in value if s not in set(strata)]
        if extra:
            raise SamplingError(f"{name} 中的层「{extra[0]}」不在总体规模中")
        out = np.array([value[s] for s in strata], dtype=np.float64)
    else:
        out = np.full(len(strata), value, dtype=np.float64)
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        bad = strata[int(np.flatnonzero(~(np.isfinite(out) & (out >= 0)))[0])]
        raise SamplingError(f"{name} 中层「{bad}」的值必须是非负有限数")
    return out


def _solve_scale(
    total: float,
    weights: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """x = clip(w·s, lower, upper) with sum(x) = total (g(s) = sum(x) is piecewise linear)."""
    positive = weights > 0
    base = float(lower.sum())
    reachable = float(lower[~positive].sum() + upper[positive].sum())
    if total > reachable + 1e-9 * max(1.0, reachable):
        raise SamplingError(
            f"无法分配样本总量 {total:g}：按当前权重与上限最多能分配 {reachable:g}"
            "（权重为 0 的层只能取其下限）"
        )
    if total <= base or not positive.any():
        return lower.copy()
    w = weights[positive]
    lo, hi = lower[positive], upper[positive]
    # Events: at s = lo/w a stratum starts growing (slope += w), at s = hi/w it stops.
    positions = np.concatenate([lo / w, hi / w])
    d_const = np.concatenate([-lo, hi])
    d_slope = np.concatenate([w, -w])
    order = np.argsort(positions, kind="stable")
    positions, d_const, d_slope = positions[order], d_const[order], d_slope[order]
    const = base + np.cumsum(d_const)
    slope = np.cumsum(d_slope)
    g = const + slope * positions
    j = int(np.searchsorted(g, total, side="left"))
    if j >= g.size:
        scale = float(positions[-1])
    elif j == 0:
        scale = float(positions[0])
    else:
        s_prev = float(slope[j - 1])
        scale = float(positions[j]) if s_prev <= 0 else (total - float(const[j - 1])) / s_prev
    return np.clip(weights * scale, lower, upper)


def round_largest_remainder(
    exact: npt.ArrayLike, total: int, upper: npt.ArrayLike | None = None
) -> npt.NDArray[np.int64]:
    """Integers summing to ``total``: floor of ``exact`` plus one for the largest remainders.

    Ties go to the earlier position; with ``upper`` no entry is raised above its bound.
    ``exact`` must be non-negative and sum to ``total`` up to rounding noise.
    """
    x = np.asarray(exact, dtype=np.float64)
    base = np.floor(x).astype(np.int64)
    frac = x - base
    cap = (
        np.full(x.size, np.iinfo(np.int64).max, dtype=np.int64)
        if upper is None
        else np.asarray(upper, dtype=np.int64)
    )
    missing = int(total - base.sum())
    eligible = np.flatnonzero(base < cap)
    if missing < 0 or missing > eligible.size:
        raise SamplingError(f"无法把分配取整为总量 {total}（内部误差）")
    ranked = eligible[np.lexsort((eligible, -frac[eligible]))]
    base[ranked[:missing]] += 1
    return base


def allocate(
    total: int,
    population_sizes: Mapping[Any, int],
    *,
    method: Method = "proportional",
    sds: Mapping[Any, float] | None = None,
    power: float = 0.5,
    importance: Mapping[Any, float] | None = None,
    cvs: Mapping[Any, float] | None = None,
    minimums: Mapping[Any, int] | int | None = None,
    maximums: Mapping[Any, int] | int | None = None,
) -> Allocation:
    """Allocate ``total`` sample elements to the strata of ``population_sizes`` ({label: N_h}).

    ``sds``: S_h for Neyman (in the variable's units; for a proportion sqrt(p_h(1−p_h))).
    ``power``/``importance``/``cvs``: Bankier power allocation (see module doc).
    ``minimums``/``maximums``: per stratum (mapping) or for all (int), capped at N_h;
    ``compromise`` requires ``minimums``. Raises :class:`SamplingError` (message in 简体中文)
    when the bounds cannot hold the total or an input is invalid.
    """
    if method not in METHODS:
        raise SamplingError(f"未知的分配方法「{method}」，可选: {', '.join(METHODS)}")
    if int(total) != total or total < 0:
        raise SamplingError(f"样本总量必须是非负整数，收到 {total}")
    total = int(total)
    if not population_sizes:
        raise SamplingError("没有任何层可分配")
    try:
        strata = sorted(population_sizes)
    except TypeError as exc:
        raise SamplingError("层标签必须可以排序（同为字符串或同为整数）") from exc
    big_n = _per_stratum("总体规模", population_sizes, strata, 0)
    if np.any(big_n != np.floor(big_n)):
        bad = strata[int(np.flatnonzero(big_n != np.floor(big_n))[0])]
        raise SamplingError(f"层「{bad}」的总体规模必须是整数")
    lower = np.minimum(_per_stratum("最小样本量", minimums, strata, 0), big_n)
    upper = np.minimum(_per_stratum("最大样本量", maximums, strata, np.inf), big_n)
    for name, bound in (("最小样本量", lower), ("最大样本量", upper)):
        if np.any(np.isfinite(bound) & (bound != np.floor(bound))):
            raise SamplingError(f"{name}必须是整数")
    if np.any(lower > upper):
        bad = strata[int(np.flatnonzero(lower > upper)[0])]
        raise SamplingError(f"层「{bad}」的最小样本量大于最大样本量")
    if total < lower.sum():
        raise SamplingError(f"样本总量 {total} 小于各层最小样本量之和 {int(lower.sum())}")
    if total > upper.sum():
        raise SamplingError(
            f"样本总量 {total} 超过各层可抽数量（上限与 N_h）之和 {int(upper.sum())}"
        )

    if method == "proportional":
        weights = big_n.copy()
    elif method == "equal":
        weights = np.ones(len(strata))
    elif method == "neyman":
        if sds is None:
            raise SamplingError("Neyman 分配需要各层的标准差 sds")
        weights = big_n * _per_stratum("标准差", sds, strata, 0)
    elif method == "power":
        if not np.isfinite(power) or power < 0:
            raise SamplingError(f"幂分配的指数 power 必须是非负数，收到 {power}")
        x = _per_stratum("重要性", importance, strata, 0) if importance is not None else big_n
        weights = np.where(x > 0, x, 0.0) ** power * _per_stratum("变异系数", cvs, strata, 1)
        weights[x == 0] = 0.0  # 0**0 would give an empty unit a share
    else:
        if minimums is None:
            raise SamplingError("折中分配需要各层的最小样本量 minimums")
        weights = big_n.copy()

    if method == "compromise":
        exact = lower + _solve_scale(
            float(total) - float(lower.sum()), weights, np.zeros_like(lower), upper - lower
        )
    else:
        exact = _solve_scale(float(total), weights, lower, upper)
    upper_int = upper.astype(np.int64)  # finite: capped at N_h above
    sizes = round_largest_remainder(exact, total, upper_int)
    population = big_n.astype(np.int64)
    lower_int = lower.astype(np.int64)
    for array in (population, sizes, exact, lower_int, upper_int):
        array.setflags(write=False)
    return Allocation(
        method=method,
        total=total,
        strata=tuple(strata),
        population_sizes=population,
        sizes=sizes,
        exact=exact,
        lower=lower_int,
        upper=upper_int,
    )
