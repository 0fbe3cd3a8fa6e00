"""Sample sizes for a proportion or a mean, and the inverse (margin of error for a given n).

Formulas (Cochran 1977, §4.4 and §4.6), with z the two-sided normal quantile of the confidence:

* proportion: ``n0 = z² · p(1−p) · deff / e²`` and ``n = n0 / (1 + (n0 − 1)/N)``;
* mean:       ``n0 = z² · S² · deff / e²``      and ``n = n0 / (1 + n0/N)``;
* completes are ``ceil(n)`` (at most N); interviews to issue are ``ceil(completes / response_rate)``.

The inverse uses the same variance, so it undoes the size formula exactly:
proportion ``e = z · sqrt(deff · p(1−p) · (N − n) / (n (N − 1)))``, mean
``e = z · S · sqrt(deff · (N − n) / (n N))``; without N the fpc factor is 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from sampling.errors import SamplingError

# Guards ceil() against 384.00000000000006-style floating-point noise (a size is a count).
_CEIL_SLACK = 1e-9


@dataclass(frozen=True)
class SampleSizeSpec:
    """What a sample size must achieve.

    margin: half-width of the confidence interval, in the estimate's units (a proportion as a
        fraction: 0.03 = ±3 percentage points; a mean in the variable's units).
    confidence: two-sided confidence level in (0, 1).
    p: expected proportion in [0, 1] (sizes for a proportion); None and no ``sd`` means 0.5.
    sd: expected population standard deviation S (sizes for a mean); excludes ``p``.
    deff: design effect (≥ 1 for clustered or weighted designs, 1 for SRS).
    population: population size N for the finite population correction; None = infinite.
    response_rate: expected share of issued cases that complete, in (0, 1].
    """

    margin: float
    confidence: float = 0.95
    p: float | None = None
    sd: float | None = None
    deff: float = 1.0
    population: int | None = None
    response_rate: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin) and self.margin > 0):
            raise SamplingError(f"误差界 margin 必须为正数，收到 {self.margin}")
        if not 0 < self.confidence < 1:
            raise SamplingError(f"置信水平 confidence 必须在 0 与 1 之间，收到 {self.confidence}")
        if self.p is not None and self.sd is not None:
            raise SamplingError("p（比例）与 sd（均值的标准差）只能给出一个")
        if self.p is not None and not 0 <= self.p <= 1:
            raise SamplingError(f"预期比例 p 必须在 0 与 1 之间，收到 {self.p}")
        if self.sd is not None and not (math.isfinite(self.sd) and self.sd >= 0):
            raise SamplingError(f"标准差 sd 不能为负，收到 {self.sd}")
        if not (math.isfinite(self.deff) and self.deff > 0):
            raise SamplingError(f"设计效应 deff 必须为正数，收到 {self.deff}")
        if self.population is not None and self.population < 1:
            raise SamplingError(f"总体规模 population 必须 ≥ 1，收到 {self.population}")
        if not 0 < self.response_rate <= 1:
            raise SamplingError(
                f"预期应答率 response_rate 必须在 (0, 1] 内，收到 {self.response_rate}"
            )

    @property
    def is_mean(self) -> bool:
        """True when the size is for a mean (``sd`` given), False for a proportion."""
        return self.sd is not None

    @property
    def variance(self) -> float:
        """Unit variance per element: p(1−p) for a proportion (p = 0.5 if unset), S² for a mean."""
        if self.sd is not None:
            return self.sd**2
        p = 0.5 if self.p is None else self.p
        return p * (1 - p)

    @property
    def z(self) -> float:
        """Two-sided standard normal quantile of ``confidence`` (1.959964… for 0.95)."""
        return float(norm.ppf(0.5 + self.confidence / 2))


@dataclass(frozen=True)
class SampleSize:
    """A computed sample size.

    n0: size before the finite population correction (design effect included), unrounded.
    n: size after the finite population correction, unrounded (= n0 without N).
    completes: interviews needed, ``ceil(n)``, at most N.
    issued: cases to release so that ``completes`` are expected, ``ceil(completes / rate)``,
        at most N.
    """

    spec: SampleSizeSpec
    n0: float
    n: float
    completes: int
    issued: int


def _ceil(x: float) -> int:
    return math.ceil(x - _CEIL_SLACK)


def sample_size(spec: SampleSizeSpec) -> SampleSize:
    """Sample size achieving ``spec.margin`` at ``spec.confidence`` (formulas in the module doc)."""
    n0 = spec.z**2 * spec.variance * spec.deff / spec.margin**2
    big_n = spec.population
    if big_n is None:
        n = n0
    elif spec.is_mean:
        n = n0 / (1 + n0 / big_n)
    else:
        n = n0 / (1 + (n0 - 1) / big_n)
    completes = _ceil(n)
    if big_n is not None:
        completes = min(completes, big_n)
    completes = max(completes, 1)
    issued = _ceil(completes / spec.response_rate)
    if big_n is not None:
        issued = min(issued, big_n)  # cannot issue more cases than the population holds
    return SampleSize(spec=spec, n0=n0, n=n, completes=completes, issued=issued)


def sample_size_proportion(
    margin: float,
    *,
    p: float = 0.5,
    confidence: float = 0.95,
    deff: float = 1.0,
    population: int | None = None,
    response_rate: float = 1.0,
) -> SampleSize:
    """Sample size for a proportion: ``margin`` as a fraction (0.03 = ±3 points), ``p`` expected."""
    return sample_size(
        SampleSizeSpec(
            margin=margin,
            confidence=confidence,
            p=p,
            deff=deff,
            population=population,
            response_rate=response_rate,
        )
    )


def sample_size_mean(
    margin: float,
    sd: float,
    *,
    confidence: float = 0.95,
    deff: float = 1.0,
    population: int | None = None,
    response_rate: float = 1.0,
) -> SampleSize:
    """Sample size for a mean: ``margin`` and ``sd`` in the variable's units (e.g. score points)."""
    return sample_size(
        SampleSizeSpec(
            margin=margin,
            confidence=confidence,
            sd=sd,
            deff=deff,
            population=population,
            response_rate=response_rate,
        )
    )


def margin_of_error(
    n: float,
    *,
    p: float | None = None,
    sd: float | None = None,
    confidence: float = 0.95,
    deff: float = 1.0,
    population: int | None = None,
) -> float:
    """Half-width of the confidence interval for ``n`` completes, in the estimate's units.

    A proportion with ``p`` (default 0.5), or a mean with ``sd``. Returns 0.0 when n = N
    (a census has no sampling error).
    """
    if p is not None and sd is not None:
        raise SamplingError("p（比例）与 sd（均值的标准差）只能给出一个")
    if not n > 0:
        raise SamplingError(f"样本量 n 必须为正数，收到 {n}")
    if not 0 < confidence < 1:
        raise SamplingError(f"置信水平 confidence 必须在 0 与 1 之间，收到 {confidence}")
    if population is not None and not n <= population:
        raise SamplingError(f"样本量 n={n} 大于总体规模 N={population}")
    z = float(norm.ppf(0.5 + confidence / 2))
    if sd is not None:
        variance = sd**2
        fpc = 1.0 if population is None else (population - n) / population
    else:
        q = 0.5 if p is None else p
        variance = q * (1 - q)
        if population is None:
            fpc = 1.0
        elif population == 1:
            fpc = 0.0
        else:
            fpc = (population - n) / (population - 1)
    return z * math.sqrt(deff * variance * fpc / n)


def unit_minimum_sizes(
    populations: Mapping[str, int] | npt.ArrayLike,
    margin: float,
    *,
    p: float | None = None,
    sd: float | None = None,
    confidence: float = 0.95,
    deff: float = 1.0,
    response_rate: float = 1.0,
    what: Literal["completes", "issued"] = "completes",
) -> npt.NDArray[np.int64]:
    """Per-unit minimum sizes so each ranked unit (station, street) reaches ``margin``.

    ``populations`` gives each unit's population N_u (a mapping's values in its order, or an
    array); the result has one entry per unit: completes (default) or cases to issue.
    """
    values = list(populations.values()) if isinstance(populations, Mapping) else populations
    sizes = np.asarray(values)
    if sizes.ndim != 1:
        raise SamplingError("各单位的总体规模必须是一维序列")
    out = np.empty(sizes.size, dtype=np.int64)
    for i, big_n in enumerate(sizes.tolist()):
        if big_n != int(big_n) or big_n < 1:
            raise SamplingError(f"第 {i + 1} 个单位的总体规模 {big_n} 必须是正整数")
        result = sample_size(
            SampleSizeSpec(
                margin=margin,
                confidence=confidence,
                p=p,
                sd=sd,
                deff=deff,
                population=int(big_n),
                response_rate=response_rate,
            )
        )
        out[i] = result.completes if what == "completes" else result.issued
    return out
