"""Inclusion-frequency statistics for the selection tests (independent of the code under test).

Over R independent draws the count c_i of element i is exactly Binomial(R, π_i), whatever the
design. How the counts co-vary depends on the design:

* Bernoulli: independent, so sum z_i² with z_i = (c_i − Rπ_i)/sqrt(Rπ_i(1−π_i)) → χ²(N);
* SRSWOR of n_h from N_h: Cov(I_i, I_j) = −π(1−π)/(N_h − 1), so the stratum's sum of z_i²
  is (N_h/(N_h − 1)) · χ²(N_h − 1) asymptotically;
* any other design (systematic, PPS): exact two-sided binomial tests per element, combined by
  Bonferroni (N · min p).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats


def z_squared(counts: npt.ArrayLike, pi: npt.ArrayLike, draws: int) -> npt.NDArray[np.float64]:
    c = np.asarray(counts, dtype=np.float64)
    p = np.asarray(pi, dtype=np.float64)
    return (c - draws * p) ** 2 / (draws * p * (1 - p))


def bernoulli_pvalue(counts: npt.ArrayLike, pi: npt.ArrayLike, draws: int) -> float:
    z2 = z_squared(counts, pi, draws)
    return float(stats.chi2.sf(z2.sum(), df=z2.size))


def srswor_pvalue(
    counts: npt.ArrayLike, pi: npt.ArrayLike, strata: npt.ArrayLike, draws: int
) -> float:
    """χ² over strata: each stratum's scaled statistic has N_h − 1 degrees of freedom."""
    z2 = z_squared(counts, pi, draws)
    s = np.asarray(strata)
    total, df = 0.0, 0
    for h in np.unique(s):
        big_n = int((s == h).sum())
        total += z2[s == h].sum() * (big_n - 1) / big_n
        df += big_n - 1
    return float(stats.chi2.sf(total, df=df))


def bonferroni_binomial_pvalue(counts: npt.ArrayLike, pi: npt.ArrayLike, draws: int) -> float:
    c = np.asarray(counts)
    p = np.asarray(pi, dtype=np.float64)
    two_sided = 2 * np.minimum(stats.binom.cdf(c, draws, p), stats.binom.sf(c - 1, draws, p))
    return float(min(1.0, np.minimum(two_sided, 1.0).min() * c.size))
