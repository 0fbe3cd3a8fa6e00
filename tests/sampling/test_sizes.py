"""Sample sizes against Cochran's formulas, evaluated here by hand (stdlib NormalDist for z)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from sampling import (
    SampleSizeSpec,
    SamplingError,
    margin_of_error,
    sample_size,
    sample_size_mean,
    sample_size_proportion,
    unit_minimum_sizes,
)

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


def test_cochran_proportion_with_t_equal_2() -> None:
    # Cochran (1977) §4.4 with t = 2, P = Q = 1/2, d = 0.05, N = 3200:
    # n0 = t²PQ/d² = 4 · 0.25 / 0.0025 = 400; n = n0/(1 + (n0 − 1)/N) = 400/1.1246875 = 355.65.
    confidence = 2 * NormalDist().cdf(2.0) - 1
    result = sample_size_proportion(0.05, p=0.5, confidence=confidence, population=3200)
    assert result.n0 == pytest.approx(400.0, rel=1e-12)
    assert result.n == pytest.approx(400 / (1 + 399 / 3200), rel=1e-12)
    assert result.completes == 356
    assert result.issued == 356


def test_textbook_384_and_finite_population() -> None:
    # The classic 95 %, ±5 points, p = 0.5: n0 = 1.96² · 0.25 / 0.05² = 384.15 → 385;
    # N = 10,000: 384.15/(1 + 383.15/10,000) = 369.98 → 370.
    infinite = sample_size_proportion(0.05)
    assert infinite.n0 == pytest.approx(Z95**2 * 0.25 / 0.0025, rel=1e-12)
    assert infinite.completes == 385
    finite = sample_size_proportion(0.05, population=10_000)
    assert finite.n == pytest.approx(finite.n0 / (1 + (finite.n0 - 1) / 10_000), rel=1e-12)
    assert finite.completes == 370


def test_design_effect_and_response_rate() -> None:
    # p = 0.9, ±3 points, deff 1.5: n0 = z²·0.09·1.5/0.0009; 60 % response → issue completes/0.6.
    result = sample_size_proportion(0.03, p=0.9, deff=1.5, response_rate=0.6)
    n0 = Z95**2 * 0.09 * 1.5 / 0.0009
    assert result.n0 == pytest.approx(n0, rel=1e-12)
    assert result.completes == math.ceil(n0)
    assert result.issued == math.ceil(math.ceil(n0) / 0.6)


def test_mean_uses_n0_over_one_plus_n0_over_n() -> None:
    # S = 10 points, ±2 points: n0 = (1.96 · 10 / 2)² = 96.04; N = 500: 96.04/(1 + 96.04/500).
    result = sample_size_mean(2.0, 10.0, population=500)
    n0 = (Z95 * 10 / 2) ** 2
    assert result.n0 == pytest.approx(n0, rel=1e-12)
    assert result.n == pytest.approx(n0 / (1 + n0 / 500), rel=1e-12)
    assert result.completes == math.ceil(n0 / (1 + n0 / 500))


def test_design_doc_margins_at_p_095() -> None:
    # DESIGN.md §3: at p ≈ 0.95, n = 200 gives about ±3 points and n = 30 about ±8.
    assert margin_of_error(200, p=0.95) == pytest.approx(Z95 * math.sqrt(0.95 * 0.05 / 200))
    assert round(margin_of_error(200, p=0.95), 2) == 0.03
    assert round(margin_of_error(30, p=0.95), 2) == 0.08


@pytest.mark.parametrize("population", [None, 50, 800, 100_000])
def test_margin_inverts_sample_size(population: int | None) -> None:
    for margin in (0.02, 0.05, 0.1):
        prop = sample_size_proportion(margin, p=0.8, deff=1.3, population=population)
        assert margin_of_error(prop.n, p=0.8, deff=1.3, population=population) == pytest.approx(
            margin, rel=1e-10
        )
        mean = sample_size_mean(margin * 100, 25.0, population=population)
        assert margin_of_error(mean.n, sd=25.0, population=population) == pytest.approx(
            margin * 100, rel=1e-10
        )


def test_census_has_no_margin_and_sizes_never_exceed_n() -> None:
    assert margin_of_error(40, p=0.5, population=40) == 0.0
    tiny = sample_size_proportion(0.01, population=30, response_rate=0.5)
    assert tiny.completes == 30
    assert tiny.issued == 30


def test_unit_minimum_sizes_follow_each_units_population() -> None:
    populations = {"东城派出所": 120, "西城派出所": 5_000, "南城派出所": 80_000}
    got = unit_minimum_sizes(populations, 0.08, p=0.9)
    n0 = Z95**2 * 0.09 / 0.08**2
    expected = [math.ceil(n0 / (1 + (n0 - 1) / big_n)) for big_n in populations.values()]
    assert got.tolist() == expected
    issued = unit_minimum_sizes(populations, 0.08, p=0.9, response_rate=0.5, what="issued")
    assert issued.tolist() == [
        min(2 * n, big_n) for n, big_n in zip(expected, populations.values(), strict=True)
    ]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"margin": 0.0}, "margin"),
        ({"margin": 0.05, "p": 0.5, "sd": 3.0}, "只能给出一个"),
        ({"margin": 0.05, "p": 1.5}, "p"),
        ({"margin": 0.05, "response_rate": 0.0}, "response_rate"),
        ({"margin": 0.05, "confidence": 1.0}, "confidence"),
        ({"margin": 0.05, "population": 0}, "population"),
    ],
)
def test_bad_specs_are_named(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(SamplingError, match=fragment):
        sample_size(SampleSizeSpec(**kwargs))  # type: ignore[arg-type]


def test_unit_minimum_rejects_non_integer_population() -> None:
    with pytest.raises(SamplingError, match="第 2 个单位"):
        unit_minimum_sizes(np.array([100, 2.5]), 0.05)
