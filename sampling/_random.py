"""Random draws built only from the bit generator's raw 64-bit stream.

numpy promises a stable raw stream for a given bit generator and seed (NEP 19), but not the
algorithms behind ``Generator.choice``/``permutation``/``integers``, which may change between
versions. Every selection in this package is therefore derived from ``random_raw`` through
the few exact transformations below, so a stored seed redraws the same sample on any numpy 2.x.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sampling.errors import SamplingError

_TWO_POW_64 = 1 << 64


def raw_keys(rng: np.random.Generator, size: int) -> npt.NDArray[np.uint64]:
    """``size`` independent uniform 64-bit integers (random sort keys); advances ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (seeded by the caller)")
    if size == 0:
        return np.empty(0, dtype=np.uint64)
    return np.asarray(rng.bit_generator.random_raw(size), dtype=np.uint64).reshape(size)


def uniforms(rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
    """``size`` uniform doubles in [0, 1), each the top 53 bits of one raw draw."""
    keys = raw_keys(rng, size)
    return (keys >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def bounded_integers(rng: np.random.Generator, bound: int, size: int) -> npt.NDArray[np.int64]:
    """``size`` independent integers uniform on 0 … bound-1 (exact: rejection of the top slice)."""
    if not 1 <= bound < (1 << 62):
        raise SamplingError(f"随机整数上界 {bound} 超出范围")
    limit = (_TWO_POW_64 // bound) * bound  # raw values >= limit would bias the modulo
    out = np.empty(0, dtype=np.int64)
    while out.size < size:
        need = size - out.size
        keys = raw_keys(rng, need)
        if limit < _TWO_POW_64:
            keys = keys[keys < np.uint64(limit)]
        out = np.concatenate([out, (keys % np.uint64(bound)).astype(np.int64)])
    return out
