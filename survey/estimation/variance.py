"""The one variance routine: Taylor linearisation for a stratified one-stage design.

Every estimator hands its linearised scores z_i here. For each domain (column) g:

    Var_g = sum_h c_h * sum_{PSU p in h} (T_pg - kappa_h * S_hg)^2,

T_pg = sum of z over the rows of PSU p, S_hg = sum of T over the stratum, c_h = (1 - f_h)
n_h/(n_h - 1) and kappa_h = 1/n_h (R's ``svyrecvar``/``onestrat``). PSUs without a row in the
domain contribute T = 0 but count in n_h, as R pads them. Scores are passed sparsely (row, domain,
value), so thousands of domains cost about as much as one.

A calibrated design first removes from the scores what calibration fixed: each remembered
:class:`~survey.estimation.design.Calibration` is applied in order with R's sweeps (one for
post-stratification, ten over the margins for raking). Instead of materialising n × G residuals,
the residual is kept as ``x_g = z_g - L a_g`` with one coefficient per (margin, cell) and the
variance is expanded as a quadratic form in ``a`` (see ``_calibrated_terms``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from survey.estimation.design import CalibrationBlock, Design, FloatArray, IntArray
from survey.estimation.errors import EstimationError

if TYPE_CHECKING:
    import scipy.sparse as sp


def _sparse() -> Any:
    """scipy.sparse, imported on first use: only calibrated designs need it (≈ 0.1 s)."""
    return importlib.import_module("scipy.sparse")


# Above this many (stratum, domain) cells the sums use a sparse key instead of a dense table.
_DENSE_LIMIT = 20_000_000
# Up to this many calibration coefficients (Σ cells over margins) their matrices are dense.
_DENSE_COEF_LIMIT = 4_000


def wsum(keys: IntArray, values: FloatArray, size: int) -> FloatArray:
    """Sum of ``values`` per key 0..size-1 (a weighted bincount, always float64)."""
    return np.asarray(np.bincount(keys, weights=values, minlength=size), dtype=np.float64)


def _group_sum(keys: IntArray, values: FloatArray, size: int) -> tuple[FloatArray, IntArray]:
    """Sums of ``values`` per key 0..size-1 and the count per key (dense bincount)."""
    return wsum(keys, values, size), np.bincount(keys, minlength=size)


def domain_variance(
    design: Design, rows: IntArray, groups: IntArray, scores: FloatArray, n_groups: int
) -> FloatArray:
    """Variance of the domain totals of ``scores`` for every domain 0..n_groups-1.

    rows: row index of each nonzero score; groups: its domain; scores: z_i (estimator units).
    Returns an array of n_groups variances (≥ 0).
    """
    g_count = max(int(n_groups), 1)
    if design.psu_is_row:
        pair_psu = design.psu[rows]
        pair_group = groups
        pair_value = scores
    else:
        key = design.psu[rows].astype(np.int64) * g_count + groups
        uniq, inverse = np.unique(key, return_inverse=True)
        pair_value = wsum(inverse.reshape(-1), scores, uniq.size)
        pair_psu = (uniq // g_count).astype(np.intp)
        pair_group = (uniq % g_count).astype(np.intp)
    n_strata = design.n_strata
    pair_stratum = design.psu_stratum[pair_psu]
    kappa = design.centring
    c = design.stratum_scale
    n_h = design.n_psu.astype(np.float64)
    if n_strata * g_count <= _DENSE_LIMIT:
        hg = pair_stratum.astype(np.intp) * g_count + pair_group
        s_hg, k_hg = _group_sum(hg, pair_value, n_strata * g_count)
        centre = (kappa[:, None] * s_hg.reshape(n_strata, g_count)).reshape(-1)
        dev = pair_value - centre[hg]
        ssd = wsum(hg, dev * dev, n_strata * g_count)
        missing = (n_h[:, None] - k_hg.reshape(n_strata, g_count)).reshape(-1)
        ssd += missing * centre * centre
        var = c @ ssd.reshape(n_strata, g_count)
        s_table = s_hg.reshape(n_strata, g_count)
    else:
        hg64 = pair_stratum.astype(np.int64) * g_count + pair_group
        uniq, inverse = np.unique(hg64, return_inverse=True)
        inverse = inverse.reshape(-1)
        s_u, k_u = _group_sum(inverse, pair_value, uniq.size)
        h_u = (uniq // g_count).astype(np.intp)
        g_u = (uniq % g_count).astype(np.intp)
        centre = kappa[h_u] * s_u
        dev = pair_value - centre[inverse]
        ssd = wsum(inverse, dev * dev, uniq.size)
        ssd += (n_h[h_u] - k_u) * centre * centre
        var = wsum(g_u, c[h_u] * ssd, g_count)
        s_table = None
    if design.calibrations:
        if s_table is None:
            raise EstimationError("校准设计下层数×域数过大，无法计算方差")
        var = var + _calibrated_terms(
            design, pair_psu, pair_group, pair_value, rows, groups, scores, s_table, g_count
        )
    var = np.maximum(var, 0.0)  # rounding can leave -1e-30 where the exact value is 0
    return var[:n_groups] if n_groups else var[:0]


@dataclass(frozen=True, eq=False)
class _Operator:
    """Design-level matrices for calibrated variances (computed once per calibrated design)."""

    design: Design

    @cached_property
    def blocks(self) -> tuple[tuple[int, int, int], ...]:
        """(step index, block index, column offset) of every calibration block."""
        out = []
        offset = 0
        for s, step in enumerate(self.design.calibrations):
            for b, block in enumerate(step.blocks):
                out.append((s, b, offset))
                offset += block.n_cells
        return tuple(out)

    @cached_property
    def n_coef(self) -> int:
        total = 0
        for step in self.design.calibrations:
            total += sum(block.n_cells for block in step.blocks)
        return total

    def _block(self, s: int, b: int) -> CalibrationBlock:
        return self.design.calibrations[s].blocks[b]

    @cached_property
    def dense(self) -> bool:
        """Coefficient matrices small enough to hold densely (built with bincounts)."""
        return self.n_coef <= _DENSE_COEF_LIMIT

    def _pair_table(self, j: int, k: int, values: FloatArray) -> FloatArray:
        """Dense C_j × C_k table of Σ values over rows by (cell in block j, cell in block k)."""
        bj = self._block(*self.blocks[j][:2])
        bk = self._block(*self.blocks[k][:2])
        key = bj.cells * bk.n_cells + bk.cells
        return wsum(key, values, bj.n_cells * bk.n_cells).reshape(bj.n_cells, bk.n_cells)

    @cached_property
    def cross(self) -> list[FloatArray | sp.csr_matrix]:
        """Per block j the rows of Q: Q_jk = B_j' diag(inner_j * scale_k) B_k for all k."""
        mats: list[FloatArray | sp.csr_matrix] = []
        for j, (s, b, _) in enumerate(self.blocks):
            bj = self._block(s, b)
            if self.dense:
                table = np.hstack(
                    [
                        self._pair_table(j, k, bj.inner * self._block(s2, b2).scale)
                        for k, (s2, b2, _) in enumerate(self.blocks)
                    ]
                )
                mats.append(_compact(table))
                continue
            parts = []
            for s2, b2, _ in self.blocks:
                bk = self._block(s2, b2)
                parts.append(
                    _sparse().coo_matrix(
                        (bj.inner * bk.scale, (bj.cells, bk.cells)), shape=(bj.n_cells, bk.n_cells)
                    )
                )
            mats.append(_sparse().hstack(parts, format="csr"))
        return mats

    @cached_property
    def psu_loadings(self) -> sp.csr_matrix:
        """R = P' L: per PSU and coefficient, the sum of the block's scale over the PSU's rows."""
        d = self.design
        rows_i = []
        cols_i = []
        vals = []
        for s, b, off in self.blocks:
            bl = self._block(s, b)
            rows_i.append(d.psu)
            cols_i.append(bl.cells + off)
            vals.append(bl.scale)
        return (
            _sparse()
            .coo_matrix(
                (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_i))),
                shape=(d.n_psus, self.n_coef),
            )
            .tocsr()
        )

    @cached_property
    def psu_weight(self) -> FloatArray:
        """c_h of each PSU's stratum."""
        return self.design.stratum_scale[self.design.psu_stratum]

    @cached_property
    def stratum_loadings(self) -> FloatArray:
        """Rsum (H × coefficients, dense): the blocks' scales summed over each stratum's rows."""
        d = self.design
        parts = []
        for s, b, _ in self.blocks:
            bl = self._block(s, b)
            key = d.stratum * bl.n_cells + bl.cells
            parts.append(
                wsum(key, bl.scale, d.n_strata * bl.n_cells).reshape(d.n_strata, bl.n_cells)
            )
        return np.hstack(parts)

    @cached_property
    def gram(self) -> FloatArray | sp.csr_matrix:
        """K = R' diag(c) R (dense from bincounts when every row is its own PSU)."""
        if self.dense and self.design.psu_is_row:
            c_row = self.design.stratum_scale[self.design.stratum]
            return _compact(
                np.vstack(
                    [
                        np.hstack(
                            [
                                self._pair_table(
                                    j,
                                    k,
                                    c_row * self._block(sj, bj).scale * self._block(sk, bk).scale,
                                )
                                for k, (sk, bk, _) in enumerate(self.blocks)
                            ]
                        )
                        for j, (sj, bj, _) in enumerate(self.blocks)
                    ]
                )
            )
        r = self.psu_loadings
        return (r.T @ _sparse().diags(self.psu_weight) @ r).tocsr()


def _compact(table: FloatArray) -> FloatArray | sp.csr_matrix:
    """A dense table, or CSR when it is mostly zeros (a margin's block with itself is diagonal)."""
    if np.count_nonzero(table) < 0.25 * table.size:
        return _sparse().csr_matrix(table)
    return table


def _operator(design: Design) -> _Operator:
    # Cached on the design object itself: a frozen dataclass still has a __dict__.
    op = design.__dict__.get("_variance_operator")
    if op is None:
        op = _Operator(design)
        object.__setattr__(design, "_variance_operator", op)
    return op


def calibration_coefficients(
    design: Design, rows: IntArray, groups: IntArray, scores: FloatArray, n_groups: int
) -> FloatArray:
    """Coefficients a (coefficients × domains) with residual x_g = z_g − L a_g after R's sweeps."""
    op = _operator(design)
    g_count = max(n_groups, 1)
    coef = np.zeros((op.n_coef, g_count))
    # Z_j = B_j' (z * inner_j) per block
    z_blocks = []
    for s, b, _ in op.blocks:
        bl = op._block(s, b)
        key = bl.cells[rows].astype(np.intp) * g_count + groups
        z_blocks.append(
            np.bincount(
                key, weights=scores * bl.inner[rows], minlength=bl.n_cells * g_count
            ).reshape(bl.n_cells, g_count)
        )
    index = 0
    for step in design.calibrations:
        members = list(range(index, index + len(step.blocks)))
        index += len(step.blocks)
        for _ in range(step.sweeps):
            for j in members:
                s, b, off = op.blocks[j]
                bl = op._block(s, b)
                proj = z_blocks[j] - op.cross[j] @ coef
                coef[off : off + bl.n_cells] += proj / bl.denom[:, None]
    return coef


def _calibrated_terms(
    design: Design,
    pair_psu: IntArray,
    pair_group: IntArray,
    pair_value: FloatArray,
    rows: IntArray,
    groups: IntArray,
    scores: FloatArray,
    s_table: FloatArray,
    g_count: int,
) -> FloatArray:
    """Var(z − L a) − Var(z) for every domain, expanded in the coefficients a.

    With T' = T − R a and S' = S − Rsum a:
    Var = Var(z) − 2 a'E + a'(K a) − Σ_h c_h κ_h (Rsum a)_h², where
    E = R' diag(c) T − Rsum' diag(c κ) S.
    """
    op = _operator(design)
    coef = calibration_coefficients(design, rows, groups, scores, g_count)
    ck = design.stratum_scale * design.centring
    if design.psu_is_row:
        # R' diag(c) T straight from the rows: each row is a PSU with its own score
        c_row = design.stratum_scale[design.stratum[rows]]
        parts = []
        for s, b, _ in op.blocks:
            bl = op._block(s, b)
            key = bl.cells[rows] * g_count + groups
            parts.append(
                wsum(key, c_row * bl.scale[rows] * scores, bl.n_cells * g_count).reshape(
                    bl.n_cells, g_count
                )
            )
        r_t = np.vstack(parts)
    else:
        t_mat = (
            _sparse()
            .coo_matrix(
                (pair_value * op.psu_weight[pair_psu], (pair_psu, pair_group)),
                shape=(design.n_psus, g_count),
            )
            .tocsr()
        )
        r_t = np.asarray((op.psu_loadings.T @ t_mat).todense())
    e = r_t - op.stratum_loadings.T @ (ck[:, None] * s_table)
    ka = op.gram @ coef
    ya = op.stratum_loadings @ coef
    return (
        -2.0 * np.einsum("cg,cg->g", coef, e)
        + np.einsum("cg,cg->g", coef, ka)
        - np.einsum("h,hg->g", ck, ya * ya)
    )
