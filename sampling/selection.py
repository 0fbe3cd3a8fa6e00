"""Seeded selection from a frame: stratified SRSWOR, systematic, systematic PPS, Bernoulli.

A frame is given as one stratum code per row (``strata_codes``, any sortable labels; integer
codes 0…H−1 are the fast path for large frames) plus, for PPS, a size measure per row.
Every function returns a :class:`Selection`: frame row indices in draw order, the inclusion
probability of each selected row (design weight = 1/π), and its reserve batch.

Reserve batches. ``batch_shares`` (e.g. ``(0.6, 0.2, 0.2)``) splits each stratum's sample into
ordered replicates. Inside a stratum the selected elements are put in a uniformly random order
and cut into consecutive batches of sizes ``n_h · share`` (largest remainder, earlier batches
win ties), so batches 1…k together are a simple random subsample of the stratum's sample and
their inclusion probability is ``π · m_hk / n_h`` (m_hk = size of batches 1…k); for SRSWOR
that is exactly ``m_hk / N_h``. Bernoulli samples are cut by the uniform draw itself, so
batches 1…k are a Bernoulli sample with rate ``p_h · (share_1 + … + share_k)``.
:meth:`Selection.released` returns the released part with these probabilities.

Reproducibility (what is promised). Randomness comes only from the raw 64-bit stream of the
``rng`` passed in (see ``sampling._random``), consumed in a documented order:

* ``select_srswor``: one key per frame row, in order of (stratum label, row index); in each
  stratum the n_h rows with the smallest keys are taken (equal keys: lower row index first) and
  their key order is the batch order;
* ``select_systematic`` / ``select_pps``: one uniform start per stratum in label order, then
  (PPS with ``randomize_order``) one key per frame row in (stratum, row) order, then one key per
  selected element for the batch order;
* ``select_bernoulli``: one uniform per frame row in row order.

So the same frame rows in the same order (see :func:`sampling.fingerprint.frame_fingerprint`),
the same sizes and the same seed give the identical selection on any machine and numpy 2.x.
The order of the keys of ``n_per_stratum`` never matters; the order of frame rows does (row
indices are what is returned), except that rows of other strata never affect a stratum's
selection in ``select_bernoulli``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from sampling._random import raw_keys, uniforms
from sampling.allocation import Allocation
from sampling.errors import SamplingError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Selection:
    """A drawn sample (all arrays aligned, one entry per selected element, in draw order).

    indices: frame row index (0-based) of each element; for generated phone numbers the
        element id in its number pool (see ``sampling.numbers``).
    strata: position of the element's stratum in ``stratum_labels``.
    inclusion_probabilities: π of each element given the batches released so far.
    batches: reserve batch of each element, 1-based; the arrays are sorted by batch, then
        stratum, then the random order inside the stratum.
    stratum_labels: sorted stratum labels.
    population_sizes: N_h per stratum (frame rows, or eligible numbers of a pool).
    sample_sizes: n_h drawn per stratum over all batches (Bernoulli: as realised).
    release_factors: shape (H, B); column k−1 is the factor turning the π of the full sample
        into the π when batches 1…k are released.
    released_batches: how many batches this selection holds (B for a fresh draw).
    """

    method: str
    indices: IntArray
    strata: IntArray
    inclusion_probabilities: FloatArray
    batches: IntArray
    stratum_labels: tuple[Any, ...]
    population_sizes: IntArray
    sample_sizes: IntArray
    release_factors: FloatArray
    released_batches: int

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def n_batches(self) -> int:
        """Number of batches drawn (released or not)."""
        return int(self.release_factors.shape[1])

    @property
    def design_weights(self) -> FloatArray:
        """1/π of each element: how many population elements it stands for."""
        return 1.0 / self.inclusion_probabilities

    @property
    def stratum_of(self) -> list[Any]:
        """The stratum label of each element (a list, aligned with ``indices``)."""
        return [self.stratum_labels[h] for h in self.strata.tolist()]

    def released(self, batches: int) -> Selection:
        """The elements of batches 1…``batches`` with their inclusion probabilities recomputed.

        Releasing more batches later gives the same first elements plus new ones; the weights
        of an estimate must come from the release actually fielded.
        """
        if not 1 <= batches <= self.released_batches:
            raise SamplingError(f"只能释放第 1 至 {self.released_batches} 批，收到 {batches}")
        if batches == self.released_batches:
            return self
        keep = self.batches <= batches
        full = self.release_factors[:, self.released_batches - 1]
        part = self.release_factors[:, batches - 1]
        ratio = np.divide(part, full, out=np.ones_like(part), where=full > 0)
        strata = self.strata[keep]
        return replace(
            self,
            indices=_frozen(self.indices[keep]),
            strata=_frozen(strata),
            inclusion_probabilities=_frozen(self.inclusion_probabilities[keep] * ratio[strata]),
            batches=_frozen(self.batches[keep]),
            released_batches=batches,
        )


_A = TypeVar("_A", bound=np.ndarray)


def _frozen(array: _A) -> _A:
    array.setflags(write=False)
    return array


def _batch_sizes(n_h: IntArray, shares: Sequence[float]) -> IntArray:
    """(H, B) integer batch sizes per stratum: n_h split by ``shares``, largest remainder."""
    s = normalised_shares(shares)
    exact = n_h[:, None].astype(np.float64) * s[None, :]
    base = np.floor(exact).astype(np.int64)
    missing = n_h - base.sum(axis=1)
    order = np.argsort(-(exact - base), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(s.size)[None, :].repeat(n_h.size, axis=0), axis=1)
    return base + (rank < missing[:, None])


def normalised_shares(shares: Sequence[float]) -> FloatArray:
    """Batch shares scaled to sum to 1; ``SamplingError`` unless all are positive and finite."""
    s = np.asarray(shares, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise SamplingError("batch_shares 必须是正数序列，例如 (0.6, 0.2, 0.2)")
    return s / s.sum()


class _Frame:
    """Frame rows grouped by stratum: sorted labels, per-row stratum position, row order."""

    def __init__(self, strata_codes: npt.ArrayLike, labels: Sequence[Any]) -> None:
        codes = np.asarray(strata_codes)
        if codes.ndim != 1:
            raise SamplingError("strata_codes 必须是一维数组（每行一个层代码）")
        self.labels = list(labels)
        h_count = len(self.labels)
        top = int(codes.max()) if np.issubdtype(codes.dtype, np.integer) and codes.size else -1
        # Small non-negative integer codes: a lookup table (fast path); large ids: np.unique.
        if top >= 0 and codes.min() >= 0 and top < max(4 * codes.size, 1 << 16):
            lut = np.full(max(top + 1, 1), -1, dtype=np.int64)
            for pos, label in enumerate(self.labels):
                if isinstance(label, int | np.integer) and 0 <= int(label) <= top:
                    lut[int(label)] = pos
            position = lut[codes]
        else:
            uniques, inverse = np.unique(codes, return_inverse=True)
            index = {label: pos for pos, label in enumerate(self.labels)}
            lut = np.array([index.get(u.item(), -1) for u in uniques], dtype=np.int64)
            position = lut[inverse] if codes.size else np.empty(0, dtype=np.int64)
        unknown = np.flatnonzero(position < 0)
        if unknown.size:
            row = int(unknown[0])
            raise SamplingError(
                f"抽样框第 {row + 1} 条记录的层「{codes[row].item()}」没有指定样本量"
                f"（共 {unknown.size} 条记录如此）"
            )
        # Radix sort (stable) for up to 65,536 strata: the grouping of a 10-million-row frame.
        small = position.astype(np.uint16) if h_count <= 65536 else position
        self.position: IntArray = position
        self.order: IntArray = np.argsort(small, kind="stable").astype(np.int64)
        self.sizes: IntArray = np.bincount(position, minlength=h_count).astype(np.int64)
        self.starts: IntArray = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.n_rows = int(codes.size)


def _requested(n_per_stratum: Mapping[Any, int] | Allocation) -> tuple[list[Any], IntArray]:
    mapping = n_per_stratum.as_dict() if isinstance(n_per_stratum, Allocation) else n_per_stratum
    if not mapping:
        raise SamplingError("没有指定任何层的样本量")
    try:
        labels = sorted(mapping)
    except TypeError as exc:
        raise SamplingError("层标签必须可以排序（同为字符串或同为整数）") from exc
    n_h = np.array([mapping[label] for label in labels], dtype=np.float64)
    if np.any(n_h < 0) or np.any(n_h != np.floor(n_h)):
        bad = labels[int(np.flatnonzero((n_h < 0) | (n_h != np.floor(n_h)))[0])]
        raise SamplingError(f"层「{bad}」的样本量必须是非负整数")
    return labels, n_h.astype(np.int64)


def _check_capacity(frame: _Frame, n_h: IntArray, what: str = "记录") -> None:
    for h in np.flatnonzero(n_h > frame.sizes).tolist():
        label = frame.labels[h]
        if frame.sizes[h] == 0:
            raise SamplingError(f"层「{label}」在抽样框中没有{what}，无法抽取 {n_h[h]} 个")
        raise SamplingError(
            f"层「{label}」只有 {frame.sizes[h]} 条{what}，少于要求的样本量 {n_h[h]}"
        )


def finish_selection(
    method: str,
    labels: Sequence[Any],
    population_sizes: IntArray,
    n_h: IntArray,
    rows: IntArray,
    strata: IntArray,
    rank: IntArray,
    pis: FloatArray,
    shares: Sequence[float],
) -> Selection:
    """Assign batches from each element's random rank inside its stratum and sort."""
    sizes = _batch_sizes(n_h, shares)
    cumulative = np.cumsum(sizes, axis=1)
    factors = np.divide(
        cumulative,
        n_h[:, None],
        out=np.ones(cumulative.shape, dtype=np.float64),
        where=n_h[:, None] > 0,
    )
    batches = np.empty(rows.size, dtype=np.int64)
    for h in np.unique(strata).tolist():
        mask = strata == h
        batches[mask] = np.searchsorted(cumulative[h], rank[mask], side="right") + 1
    order = np.lexsort((rank, strata, batches))
    return Selection(
        method=method,
        indices=_frozen(rows[order]),
        strata=_frozen(strata[order]),
        inclusion_probabilities=_frozen(pis[order]),
        batches=_frozen(batches[order]),
        stratum_labels=tuple(labels),
        population_sizes=_frozen(np.asarray(population_sizes, dtype=np.int64).copy()),
        sample_sizes=_frozen(n_h.copy()),
        release_factors=_frozen(factors),
        released_batches=len(shares),
    )


def smallest_keys(keys: npt.NDArray[np.uint64], n: int) -> IntArray:
    """Positions of the n smallest keys in ascending key order (ties: lower position first).

    Uses only the k-th value from ``np.partition``, never its tie order, so it is exact and
    independent of numpy's selection algorithm.
    """
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if n < keys.size:
        kth = np.partition(keys, n - 1)[n - 1]
        below = np.flatnonzero(keys < kth)
        chosen = np.concatenate([below, np.flatnonzero(keys == kth)[: n - below.size]])
    else:
        chosen = np.arange(keys.size)
    return chosen[np.lexsort((chosen, keys[chosen]))].astype(np.int64)


def select_srswor(
    strata_codes: npt.ArrayLike,
    n_per_stratum: Mapping[Any, int] | Allocation,
    rng: np.random.Generator,
    *,
    batch_shares: Sequence[float] = (1.0,),
) -> Selection:
    """Stratified simple random sampling without replacement: n_h of the N_h rows of each stratum.

    π = n_h / N_h for every selected row (released batches: m_hk / N_h). Every stratum of the
    frame must appear in ``n_per_stratum`` (0 allowed); N_h < n_h is an error.
    """
    labels, n_h = _requested(n_per_stratum)
    frame = _Frame(strata_codes, labels)
    _check_capacity(frame, n_h)
    keys = raw_keys(rng, frame.n_rows)  # keys[g] belongs to grouped position g
    picked_rows, picked_strata, picked_rank = [], [], []
    for h in np.flatnonzero(n_h).tolist():
        start, size = int(frame.starts[h]), int(frame.sizes[h])
        chosen = smallest_keys(keys[start : start + size], int(n_h[h]))
        picked_rows.append(frame.order[start + chosen])
        picked_strata.append(np.full(chosen.size, h, dtype=np.int64))
        picked_rank.append(np.arange(chosen.size, dtype=np.int64))
    rows, strata, rank = (_concat(parts) for parts in (picked_rows, picked_strata, picked_rank))
    pis = n_h[strata] / frame.sizes[strata]
    return finish_selection(
        "srswor",
        frame.labels,
        frame.sizes,
        n_h,
        rows,
        strata,
        rank,
        pis.astype(np.float64),
        batch_shares,
    )


def _concat(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)


def _batch_ranks(rng: np.random.Generator, strata: IntArray) -> IntArray:
    """A uniformly random order inside each stratum (for cutting batches), from one key each."""
    keys = raw_keys(rng, strata.size)
    order = np.lexsort((np.arange(strata.size), keys, strata))
    sorted_strata = strata[order]
    group_start = np.zeros(strata.size, dtype=np.int64)
    if strata.size:
        first = np.flatnonzero(np.diff(sorted_strata)) + 1
        group_start[first] = first
        group_start = np.maximum.accumulate(group_start)
    rank = np.empty(strata.size, dtype=np.int64)
    rank[order] = np.arange(strata.size) - group_start
    return rank


def select_systematic(
    strata_codes: npt.ArrayLike,
    n_per_stratum: Mapping[Any, int] | Allocation,
    rng: np.random.Generator,
    *,
    sort_by: npt.ArrayLike | None = None,
    batch_shares: Sequence[float] = (1.0,),
) -> Selection:
    """Systematic sampling in each stratum with the fractional interval k = N_h / n_h.

    Rows are taken in frame order, or sorted by ``sort_by`` (e.g. street, then address: implicit
    stratification; ties keep frame order). Selected positions are floor((u_h + j) · k),
    j = 0…n_h−1, with one uniform u_h per stratum; π = n_h / N_h exactly.
    """
    labels, n_h = _requested(n_per_stratum)
    frame = _Frame(strata_codes, labels)
    _check_capacity(frame, n_h)
    order = frame.order
    if sort_by is not None:
        key = np.asarray(sort_by)
        if key.shape != (frame.n_rows,):
            raise SamplingError("sort_by 的长度必须与抽样框行数相同")
        order = np.lexsort((np.arange(frame.n_rows), key, frame.position)).astype(np.int64)
    starts_u = uniforms(rng, len(labels))
    rows_parts, strata_parts = [], []
    for h in np.flatnonzero(n_h).tolist():
        big_n, n = int(frame.sizes[h]), int(n_h[h])
        pos = np.floor((starts_u[h] + np.arange(n)) * (big_n / n)).astype(np.int64)
        pos = np.minimum(pos, big_n - 1)  # (u + n − 1)·N/n < N, guard the last rounding
        rows_parts.append(order[frame.starts[h] + pos])
        strata_parts.append(np.full(n, h, dtype=np.int64))
    rows, strata = _concat(rows_parts), _concat(strata_parts)
    rank = _batch_ranks(rng, strata)
    pis = (n_h[strata] / frame.sizes[strata]).astype(np.float64)
    return finish_selection(
        "systematic", frame.labels, frame.sizes, n_h, rows, strata, rank, pis, batch_shares
    )


def pps_inclusion_probabilities(sizes: npt.ArrayLike, n: int) -> FloatArray:
    """πps inclusion probabilities π_i = n x_i / Σx for one stratum, with certainty units.

    Units whose π would exceed 1 are taken with certainty (π = 1) and the rest of the sample
    is spread over the others, repeated until no π exceeds 1 (Särndal et al. 1992, §3.6).
    ``sizes`` are positive size measures (e.g. households); ``n`` ≤ number of units.
    """
    x = np.asarray(sizes, dtype=np.float64)
    if not 0 <= n <= x.size:
        raise SamplingError(f"样本量 {n} 超出单位数 {x.size}")
    pi = np.zeros(x.size)
    certain = np.zeros(x.size, dtype=bool)
    while True:
        rest = n - int(certain.sum())
        total = float(x[~certain].sum())
        pi[~certain] = rest * x[~certain] / total if total > 0 else 0.0
        pi[certain] = 1.0
        over = (~certain) & (pi >= 1.0)
        if not over.any():
            return pi
        certain |= over


def select_pps(
    strata_codes: npt.ArrayLike,
    sizes: npt.ArrayLike,
    n_per_stratum: Mapping[Any, int] | Allocation,
    rng: np.random.Generator,
    *,
    randomize_order: bool = False,
    batch_shares: Sequence[float] = (1.0,),
) -> Selection:
    """Systematic PPS without replacement: π_i ∝ size x_i in each stratum, returned exactly.

    Certainty units (π = 1) are taken first; the others are laid end to end in frame order
    (or a random order with ``randomize_order``, the Hartley–Rao variant) with lengths π_i and
    hit by the points u_h, u_h + 1, … . Every size must be a positive finite number.
    """
    labels, n_h = _requested(n_per_stratum)
    frame = _Frame(strata_codes, labels)
    x = np.asarray(sizes, dtype=np.float64)
    if x.shape != (frame.n_rows,):
        raise SamplingError("规模度量 sizes 的长度必须与抽样框行数相同")
    bad = np.flatnonzero(~(np.isfinite(x) & (x > 0)))
    if bad.size:
        raise SamplingError(f"抽样框第 {int(bad[0]) + 1} 条记录的规模度量 {x[bad[0]]} 必须是正数")
    _check_capacity(frame, n_h)
    starts_u = uniforms(rng, len(labels))
    order = frame.order
    if randomize_order:
        keys = raw_keys(rng, frame.n_rows)  # keys[g] for grouped position g
        order = order[np.lexsort((np.arange(frame.n_rows), keys, frame.position[order]))]
    rows_parts, strata_parts, pi_parts = [], [], []
    for h in np.flatnonzero(n_h).tolist():
        members = order[frame.starts[h] : frame.starts[h] + frame.sizes[h]]
        pi = pps_inclusion_probabilities(x[members], int(n_h[h]))
        certain = pi >= 1.0
        free = np.flatnonzero(~certain)
        rest = int(n_h[h]) - int(certain.sum())
        hits = np.empty(0, dtype=np.int64)
        if rest > 0:
            bounds = np.cumsum(pi[free])
            bounds[-1] = rest  # the lengths sum to rest; pin it against rounding
            points = starts_u[h] + np.arange(rest)
            hits = free[np.searchsorted(bounds, points, side="right")]
        chosen = np.sort(np.concatenate([np.flatnonzero(certain), hits]))
        rows_parts.append(members[chosen])
        strata_parts.append(np.full(chosen.size, h, dtype=np.int64))
        pi_parts.append(pi[chosen])
    rows, strata = _concat(rows_parts), _concat(strata_parts)
    pis = np.concatenate(pi_parts) if pi_parts else np.empty(0)
    rank = _batch_ranks(rng, strata)
    return finish_selection(
        "pps_systematic", frame.labels, frame.sizes, n_h, rows, strata, rank, pis, batch_shares
    )


def select_bernoulli(
    strata_codes: npt.ArrayLike,
    rates: Mapping[Any, float],
    rng: np.random.Generator,
    *,
    batch_shares: Sequence[float] = (1.0,),
) -> Selection:
    """Bernoulli sampling: each row of stratum h is taken independently with probability p_h.

    One uniform u per frame row (row order); the row is in batch b when
    p_h·(s_1+…+s_{b−1}) ≤ u < p_h·(s_1+…+s_b) for the normalised ``batch_shares`` s. π = p_h.
    """
    if not rates:
        raise SamplingError("没有指定任何层的抽样率")
    try:
        labels = sorted(rates)
    except TypeError as exc:
        raise SamplingError("层标签必须可以排序（同为字符串或同为整数）") from exc
    p = np.array([rates[label] for label in labels], dtype=np.float64)
    if not np.all((p >= 0) & (p <= 1)):
        bad = labels[int(np.flatnonzero(~((p >= 0) & (p <= 1)))[0])]
        raise SamplingError(f"层「{bad}」的抽样率必须在 0 与 1 之间")
    frame = _Frame(strata_codes, labels)
    shares = normalised_shares(batch_shares)
    cumulative = np.cumsum(shares)
    cumulative[-1] = 1.0
    u = uniforms(rng, frame.n_rows)
    scaled = u / np.where(p > 0, p, 1.0)[frame.position]  # position of u inside [0, p_h)
    selected = np.flatnonzero((u < p[frame.position]) & (p[frame.position] > 0))
    batches = np.searchsorted(cumulative, scaled[selected], side="right") + 1
    batches = np.minimum(batches, shares.size).astype(np.int64)
    strata = frame.position[selected]
    order = np.lexsort((u[selected], strata, batches))
    n_h = np.bincount(strata, minlength=len(labels)).astype(np.int64)
    factors = np.broadcast_to(cumulative, (len(labels), shares.size)).copy()
    return Selection(
        method="bernoulli",
        indices=_frozen(selected[order].astype(np.int64)),
        strata=_frozen(strata[order]),
        inclusion_probabilities=_frozen(p[strata[order]]),
        batches=_frozen(batches[order]),
        stratum_labels=tuple(labels),
        population_sizes=_frozen(frame.sizes.copy()),
        sample_sizes=_frozen(n_h),
        release_factors=_frozen(factors),
        released_batches=shares.size,
    )
