"""Φ without scipy (``survey.ranking.normal``) and the closed-form Clopper–Pearson bound at 100 %
give the same doubles as ``scipy.special`` — compared bit for bit, so that no published figure
(a change's p-value, a boundary unit's effective SE) moves when the report stops importing scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from survey.ranking import uncertainty
from survey.ranking.normal import Z_975, normal_cdf


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _arguments() -> np.ndarray:
    rng = np.random.default_rng(20261204)
    sign = lambda n: rng.choice([-1.0, 1.0], n)  # noqa: E731
    return np.concatenate(
        [
            rng.uniform(-10, 10, 60_000),
            rng.normal(0, 3, 30_000),
            rng.uniform(8, 40, 20_000) * sign(20_000),  # tails, |x| > 8 (erfc's second form)
            rng.uniform(-38.5, -37.0, 10_000),  # subnormal results, then 0
            rng.uniform(1.40, 1.43, 5_000) * sign(5_000),  # erf → erfc at |x/√2| = 1
            rng.uniform(11.2, 11.4, 5_000) * sign(5_000),  # erfc's switch at |x/√2| = 8
            np.exp(rng.uniform(-745, 0, 10_000)) * sign(10_000),  # tiny, subnormal arguments
            np.exp(rng.uniform(0, 709, 5_000)) * sign(5_000),  # huge
            [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, -5e-324],
            [1.0, -1.0, math.sqrt(2), -math.sqrt(2), 8 * math.sqrt(2), -8 * math.sqrt(2)],
        ]
    )


def test_normal_cdf_is_scipy_ndtr_bit_for_bit() -> None:
    x = _arguments()
    assert x.size >= 100_000
    expected = special.ndtr(x)
    got = np.array([normal_cdf(float(v)) for v in x])
    differ = np.flatnonzero(_bits(got) != _bits(expected))
    assert [(x[i], got[i], expected[i]) for i in differ[:5]] == []
    tiny = (expected > 0) & (expected < np.finfo(np.float64).tiny)
    assert tiny.sum() > 1000  # subnormal results were compared
    assert (expected == 0).any() and (expected == 1).any() and np.isnan(expected).any()


def test_the_95_percent_quantile_is_scipy_ndtri() -> None:
    assert _bits(np.array([Z_975])) == _bits(special.ndtri(np.array([0.975])))


def test_lower_bound_at_100_percent_is_scipy_betaincinv_bit_for_bit() -> None:
    """Beta(a, 1)'s quantile q^(1/a) for q < 0.5, against ``betaincinv`` over a wide range."""
    rng = np.random.default_rng(17)
    a = np.concatenate(
        [np.exp(rng.uniform(-7, 0, 30_000)), rng.uniform(1, 100, 40_000),
         np.exp(rng.uniform(0, 14, 30_000))]
    )  # fmt: skip
    q = np.concatenate([rng.uniform(0, 0.5, 50_000), np.exp(rng.uniform(-700, -0.7, 50_000))])
    rng.shuffle(q)
    q = q[(q > 0) & (q < 0.5)][: a.size]
    a = a[: q.size]
    got = np.array(
        [uncertainty._beta_quantile(float(s), 1.0, float(p)) for s, p in zip(a, q, strict=True)]
    )
    assert np.array_equal(_bits(got), _bits(special.betaincinv(a, 1.0, q)))


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_clopper_pearson_at_the_boundaries_is_scipy_betaincinv(level: float) -> None:
    alpha = 1 - level
    for n in [1.0, 1.5, 2.0, 7.0, 30.568739484208297, 100.0, 412.25, 5000.0]:
        lower, upper = uncertainty.clopper_pearson(1.0, n, level)
        assert (lower, upper) == (float(special.betaincinv(n, 1.0, alpha / 2)), 1.0)
        lower, upper = uncertainty.clopper_pearson(0.0, n, level)  # still scipy's
        assert (lower, upper) == (0.0, float(special.betaincinv(1.0, n, 1 - alpha / 2)))


def test_difference_test_is_the_scipy_formula() -> None:
    """The z-test as it was written with scipy.special (ndtr, ndtri(0.975), betaincinv)."""
    rng = np.random.default_rng(5)
    cases = [
        (float(rng.uniform(0, 100)), float(rng.uniform(0.5, 8)), float(rng.uniform(5, 400)))
        for _ in range(400)
    ]
    cases += [(100.0, 0.0, 30.7), (0.0, 0.0, 12.0), (100.0, 3.0, 55.0), (42.0, 0.0, 80.0)]

    def reference_se(estimate: float, se: float, n_eff: float) -> float:
        p = estimate / 100
        if 1e-9 < p < 1 - 1e-9 and se > 0:
            return se
        p = 0.0 if p <= 1e-9 else 1.0 if p >= 1 - 1e-9 else p
        n = max(n_eff, 1.0)
        x, alpha = p * n, 1 - 0.95
        lower = 0.0 if x <= 0 else float(special.betaincinv(x, n - x + 1, alpha / 2))
        upper = 1.0 if x >= n else float(special.betaincinv(x + 1, n - x, 1 - alpha / 2))
        return (upper - lower) * 100 / (2 * float(special.ndtri(0.975)))

    for a, b in zip(cases, cases[1:] + cases[:1], strict=True):
        test = uncertainty.difference_test(*a, *b)
        se = float(np.hypot(reference_se(*a), reference_se(*b)))
        z = (b[0] - a[0]) / se
        assert (test.se, test.z) == (se, z)
        assert test.p_value == float(2 * special.ndtr(-abs(z)))


def test_numpy_scalars_give_python_numbers() -> None:
    """The ladder passes numpy scalars; what it stores must be Python numbers (asyncpg refuses
    ``np.True_`` for a boolean column)."""
    assert type(normal_cdf(np.float64(-1.5))) is float
    test = uncertainty.difference_test(
        np.float64(80.0), np.float64(2.0), np.float64(200.0),
        np.float64(90.0), np.float64(1.5), np.float64(300.0),
    )  # fmt: skip
    assert type(test.p_value) is float and type(test.distinguishable) is bool
    assert type(uncertainty.p_below(np.float64(80.0), 2.0, 200.0, 85.0)) is float
    assert (
        type(uncertainty.p_below(np.float64(80.0), 2.0, 200.0, 85.0, transform="identity")) is float
    )
