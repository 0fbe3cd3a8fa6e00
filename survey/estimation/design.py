"""The survey design: strata, one-stage PSUs, weights and finite population correction.

A :class:`Design` is immutable and built once from per-row numpy arrays, as R's
``svydesign(id=~psu, strata=~strata, weights=~w, fpc=~fpc)``. Calibration (post-stratification,
raking) returns a *new* design whose ``calibrations`` remember what the variance must remove.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from survey.estimation.errors import EstimationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
LonelyPsu = Literal["fail", "adjust", "certainty"]

LONELY_PSU_RULES: tuple[str, ...] = ("fail", "adjust", "certainty")


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.setflags(write=False)
    return a


def factorize(values: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[Any]]:
    """Integer codes 0..K-1 for ``values`` and the sorted distinct labels (``np.unique`` order).

    Non-negative integer arrays whose largest value is small are coded without sorting.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() < 4 * arr.size + 1024:
        present = np.bincount(arr.astype(np.intp, copy=False))
        labels = np.flatnonzero(present)
        lookup = np.full(present.size, -1, dtype=np.intp)
        lookup[labels] = np.arange(labels.size, dtype=np.intp)
        return lookup[arr], labels.astype(arr.dtype)
    labels, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.intp, copy=False).reshape(-1), labels


@dataclass(frozen=True, eq=False)
class CalibrationBlock:
    """One margin of one calibration step, as R's ``svyrecvar`` uses it.

    The step removes from a score vector x the projection ``x -= scale * B (B' (x * inner) / denom)``
    where B is the indicator matrix of ``cells``: post-stratification uses ``inner = oldw/neww``
    and ``denom`` = old weight per cell; a raking margin uses ``inner = 1/neww`` and ``denom`` =
    row count per cell (unweighted cell means, as survey 4.1.1 does).
    """

    cells: IntArray
    n_cells: int
    scale: FloatArray
    inner: FloatArray
    denom: FloatArray
    name: str = ""


@dataclass(frozen=True, eq=False)
class Calibration:
    """A calibration step remembered by a design: ``kind`` and its blocks, swept ``sweeps`` times."""

    kind: Literal["post_stratify", "rake"]
    blocks: tuple[CalibrationBlock, ...]
    sweeps: int


@dataclass(frozen=True, eq=False)
class Design:
    """A stratified one-stage design (R ``survey.design2`` with ``nest=TRUE``).

    Build it with :meth:`Design.from_arrays`. Attributes (numpy arrays are read-only):

    * ``weights``: weight of each row (1/π, or calibrated), > 0;
    * ``stratum``: stratum code 0..H-1 of each row; ``stratum_labels`` the labels in code order;
    * ``psu``: PSU code 0..P-1 of each row (PSUs are nested in strata); ``psu_is_row`` when every
      row is its own PSU; ``psu_stratum``: stratum of each PSU;
    * ``n_psu``: sample PSUs per stratum (n_h); ``sampling_fraction``: f_h = n_h/N_h (0 without
      fpc: the with-replacement approximation);
    * ``lonely_psu``: what to do with a stratum of one PSU: ``"fail"`` (error, R's default),
      ``"certainty"`` (it adds no variance) or ``"adjust"`` (its PSU total is not centred, R);
    * ``calibrations``: the post-stratification / raking steps applied, in order.
    """

    weights: FloatArray
    stratum: IntArray
    psu: IntArray
    psu_stratum: IntArray
    n_psu: IntArray
    sampling_fraction: FloatArray
    stratum_labels: tuple[Any, ...]
    lonely_psu: LonelyPsu = "fail"
    psu_is_row: bool = False
    calibrations: tuple[Calibration, ...] = field(default=())

    @classmethod
    def from_arrays(
        cls,
        weights: npt.ArrayLike,
        *,
        strata: npt.ArrayLike | None = None,
        psu: npt.ArrayLike | None = None,
        fpc: npt.ArrayLike | None = None,
        lonely_psu: LonelyPsu = "fail",
    ) -> Design:
        """Build a design from per-row arrays (all of the same length n).

        weights: sampling weights, finite and > 0.
        strata: stratum of each row (integer codes or labels); None = one stratum.
        psu: primary sampling unit of each row (codes or labels, nested in strata); None = every
            row is its own PSU (e.g. one respondent per sampled phone number).
        fpc: per row, the population count of PSUs in the row's stratum (N_h, > 1) or the
            sampling fraction (≤ 1), constant within a stratum, as R's ``fpc=``; None = sampling
            with replacement (no finite population correction).
        lonely_psu: ``"fail"`` raises :class:`EstimationError` for a stratum with one PSU;
            ``"certainty"`` / ``"adjust"`` follow R's ``options(survey.lonely.psu=...)``.
        """
        w = np.array(weights, dtype=np.float64).reshape(-1)
        n = w.size
        if n == 0:
            raise EstimationError("设计没有任何样本行")
        if not np.all(np.isfinite(w)):
            raise EstimationError("权重含缺失或非有限值")
        if np.any(w <= 0):
            raise EstimationError(
                f"权重必须为正数（第 {int(np.argmax(w <= 0)) + 1} 行为 {w[w <= 0][0]}）"
            )
        if lonely_psu not in LONELY_PSU_RULES:
            raise EstimationError(f"lonely_psu 必须是 {'/'.join(LONELY_PSU_RULES)} 之一")
        if strata is None:
            s_codes = np.zeros(n, dtype=np.intp)
            s_labels: tuple[Any, ...] = (None,)
        else:
            s_arr = np.asarray(strata).reshape(-1)
            if s_arr.size != n:
                raise EstimationError(f"strata 长度 {s_arr.size} 与权重长度 {n} 不一致")
            if s_arr.dtype.kind == "f" and np.isnan(s_arr).any():
                raise EstimationError(f"strata 第 {int(np.argmax(np.isnan(s_arr))) + 1} 行缺失")
            s_codes, labels = factorize(s_arr)
            s_labels = tuple(labels.tolist())
        n_strata = len(s_labels)
        if psu is None:
            p_codes = np.arange(n, dtype=np.intp)
            psu_stratum = s_codes.copy()
            psu_is_row = True
        else:
            p_arr = np.asarray(psu).reshape(-1)
            if p_arr.size != n:
                raise EstimationError(f"psu 长度 {p_arr.size} 与权重长度 {n} 不一致")
            if p_arr.dtype.kind == "f" and np.isnan(p_arr).any():
                raise EstimationError(f"psu 第 {int(np.argmax(np.isnan(p_arr))) + 1} 行缺失")
            raw, raw_labels = factorize(p_arr)
            # PSUs are nested in strata (R's nest=TRUE): the same label in two strata is two PSUs.
            p_codes, pairs = factorize(s_codes.astype(np.int64) * raw_labels.size + raw)
            psu_stratum = (pairs // raw_labels.size).astype(np.intp)
            psu_is_row = bool(pairs.size == n)
        n_psu = np.bincount(psu_stratum, minlength=n_strata).astype(np.intp)
        fraction = np.zeros(n_strata, dtype=np.float64)
        if fpc is not None:
            f_arr = np.array(fpc, dtype=np.float64).reshape(-1)
            if f_arr.size != n:
                raise EstimationError(f"fpc 长度 {f_arr.size} 与权重长度 {n} 不一致")
            if not np.all(np.isfinite(f_arr)) or np.any(f_arr <= 0):
                raise EstimationError("fpc 必须为正的有限数（总体数或抽样比）")
            lo = np.full(n_strata, np.inf)
            hi = np.full(n_strata, -np.inf)
            np.minimum.at(lo, s_codes, f_arr)
            np.maximum.at(hi, s_codes, f_arr)
            bad = np.flatnonzero(lo != hi)
            if bad.size:
                raise EstimationError(f"层「{s_labels[bad[0]]}」内的 fpc 取值不一致")
            # R: a value ≤ 1 is a sampling fraction, otherwise the population count N_h.
            as_fraction = lo <= 1
            big_n = np.where(as_fraction, n_psu / np.where(as_fraction, lo, 1.0), lo)
            short = np.flatnonzero(~as_fraction & (big_n < n_psu))
            if short.size:
                h = short[0]
                raise EstimationError(
                    f"层「{s_labels[h]}」的总体数 fpc={lo[h]:g} 小于样本 PSU 数 {n_psu[h]}"
                )
            fraction = np.where(as_fraction, lo, n_psu / big_n)
        if lonely_psu == "fail":
            lonely = np.flatnonzero(n_psu == 1)
            if lonely.size:
                raise EstimationError(
                    f"层「{s_labels[lonely[0]]}」只有 1 个 PSU，无法估计方差"
                    "（可选 lonely_psu='certainty' 或 'adjust'）"
                )
        return cls(
            weights=_readonly(w),
            stratum=_readonly(s_codes),
            psu=_readonly(p_codes),
            psu_stratum=_readonly(psu_stratum),
            n_psu=_readonly(n_psu),
            sampling_fraction=_readonly(fraction),
            stratum_labels=s_labels,
            lonely_psu=lonely_psu,
            psu_is_row=psu_is_row,
        )

    @property
    def n(self) -> int:
        """Number of sample rows."""
        return int(self.weights.size)

    @property
    def n_strata(self) -> int:
        """Number of strata H."""
        return len(self.stratum_labels)

    @property
    def n_psus(self) -> int:
        """Number of PSUs P."""
        return int(self.psu_stratum.size)

    @property
    def df(self) -> int:
        """R's ``degf(design)``: PSUs minus strata (every weight is positive)."""
        return self.n_psus - self.n_strata

    @property
    def population_size(self) -> float:
        """Sum of the weights (estimated population size)."""
        return float(self.weights.sum())

    def domain_df(self, rows: npt.ArrayLike) -> int:
        """``degf`` of the design restricted to ``rows`` (a boolean mask or row indices)."""
        idx = np.asarray(rows)
        psus = np.unique(self.psu[idx])
        if psus.size == 0:
            return 0
        return int(psus.size - np.unique(self.psu_stratum[psus]).size)

    def with_weights(self, weights: npt.ArrayLike) -> Design:
        """The same strata, PSUs and fpc with ``weights`` as design weights (no calibration)."""
        w = np.array(weights, dtype=np.float64).reshape(-1)
        if w.size != self.n or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise EstimationError("新权重必须与设计行数相同且为正的有限数")
        return Design(
            weights=_readonly(w),
            stratum=self.stratum,
            psu=self.psu,
            psu_stratum=self.psu_stratum,
            n_psu=self.n_psu,
            sampling_fraction=self.sampling_fraction,
            stratum_labels=self.stratum_labels,
            lonely_psu=self.lonely_psu,
            psu_is_row=self.psu_is_row,
        )

    def with_calibration(self, weights: FloatArray, step: Calibration) -> Design:
        """A new design with calibrated ``weights`` remembering ``step`` (used by weighting)."""
        return Design(
            weights=_readonly(np.array(weights, dtype=np.float64)),
            stratum=self.stratum,
            psu=self.psu,
            psu_stratum=self.psu_stratum,
            n_psu=self.n_psu,
            sampling_fraction=self.sampling_fraction,
            stratum_labels=self.stratum_labels,
            lonely_psu=self.lonely_psu,
            psu_is_row=self.psu_is_row,
            calibrations=(*self.calibrations, step),
        )

    # ---- quantities the variance routine needs, computed once per design -----------------

    @cached_property
    def stratum_scale(self) -> FloatArray:
        """c_h = (1 − f_h) n_h/(n_h − 1); a lonely stratum: 0 ("certainty") or 1 − f_h ("adjust")."""
        n_h = self.n_psu.astype(np.float64)
        f = 1.0 - self.sampling_fraction
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(n_h > 1, f * n_h / (n_h - 1), 0.0)
        if self.lonely_psu == "adjust":
            c = np.where(n_h == 1, f, c)
        # R: a stratum with 1 − f_h < 1e-7 is self-representing and adds nothing.
        c = np.where(f < 1e-7, 0.0, c)
        return _readonly(c)

    @cached_property
    def centring(self) -> FloatArray:
        """κ_h: PSU totals are centred at κ_h × stratum total (1/n_h; 0 for an adjusted lonely PSU)."""
        kappa = 1.0 / np.maximum(self.n_psu, 1).astype(np.float64)
        if self.lonely_psu == "adjust":
            kappa = np.where(self.n_psu == 1, 0.0, kappa)
        return _readonly(kappa)


def design_weights(
    strata: npt.ArrayLike, population: Sequence[float] | npt.ArrayLike
) -> FloatArray:
    """Design weights N_h / n_h for a stratified simple random sample.

    strata: stratum code 0..H-1 of each respondent (int array); population: N_h per stratum code.
    """
    s = np.asarray(strata, dtype=np.intp).reshape(-1)
    big_n = np.asarray(population, dtype=np.float64).reshape(-1)
    if s.size and (s.min() < 0 or s.max() >= big_n.size):
        raise EstimationError("层代码超出总体数表的范围")
    n_h = np.bincount(s, minlength=big_n.size)
    return (big_n / np.maximum(n_h, 1))[s]
