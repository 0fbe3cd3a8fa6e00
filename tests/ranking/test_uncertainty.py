"""P(bottom k), rank intervals, boundary intervals, P(below) and the cut-off test, each checked
against a known answer or a closed form written here (Φ of a standardised difference, symmetry,
Clopper–Pearson's closed form at x = 0 and x = n, R's binom.test)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from survey.ranking import (
    clopper_pearson,
    difference_test,
    display_interval,
    effective_se,
    p_below,
    simulate_ranks,
)

DRAWS = 20_000
# Monte-Carlo SE of a probability near 0.5 with 20,000 draws is 0.0035: 0.015 is > 4 SE.
TOL = 0.015


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_two_units_with_equal_true_means_half_each() -> None:
    sim = simulate_ranks([90.0, 90.0], [2.0, 2.0], [200, 200], k=1, rng=rng(), draws=DRAWS)
    assert sim.p_bottom_k == pytest.approx([0.5, 0.5], abs=TOL)


def test_three_equal_units_bottom_two_is_two_thirds() -> None:
    sim = simulate_ranks([85.0] * 3, [1.5] * 3, [300] * 3, k=2, rng=rng(), draws=DRAWS)
    assert sim.p_bottom_k == pytest.approx([2 / 3] * 3, abs=TOL)
    # Rank uniform on {1, 2, 3}: the 90 % interval is [1, 3] and the mean rank 2.
    assert list(sim.rank_lower) == [1, 1, 1]
    assert list(sim.rank_upper) == [3, 3, 3]
    assert sim.rank_mean == pytest.approx([2.0] * 3, abs=0.03)


@pytest.mark.parametrize(
    ("mu_a", "se_a", "mu_b", "se_b"),
    [(88.0, 2.0, 90.0, 1.5), (70.0, 5.0, 72.0, 5.0), (95.0, 1.0, 94.0, 2.0)],
)
def test_two_units_closed_form_identity_scale(
    mu_a: float, se_a: float, mu_b: float, se_b: float
) -> None:
    # A is the lower of two independent normals: P = Φ((μ_B − μ_A)/√(σ_A² + σ_B²)).
    expected = stats.norm.cdf((mu_b - mu_a) / np.hypot(se_a, se_b))
    sim = simulate_ranks(
        [mu_a, mu_b], [se_a, se_b], [200, 200], k=1, rng=rng(), draws=DRAWS, transform="identity"
    )
    assert sim.p_bottom_k[0] == pytest.approx(expected, abs=TOL)
    assert sim.p_bottom_k[1] == pytest.approx(1 - expected, abs=TOL)


def test_two_units_closed_form_logit_scale() -> None:
    # On the logit scale the SDs are s/(p(1−p)); the comparison is the same Φ there.
    pa, sa, pb, sb = 0.88, 0.02, 0.91, 0.015
    za = sa / (pa * (1 - pa))
    zb = sb / (pb * (1 - pb))
    logit = np.log(pb / (1 - pb)) - np.log(pa / (1 - pa))
    expected = stats.norm.cdf(logit / np.hypot(za, zb))
    sim = simulate_ranks([88.0, 91.0], [2.0, 1.5], [300, 300], k=1, rng=rng(), draws=DRAWS)
    assert sim.p_bottom_k[0] == pytest.approx(expected, abs=TOL)


def test_unit_at_100_percent_against_a_fixed_value() -> None:
    # A at 100 % with n_eff 30 is drawn from Beta(30, 1): P(A < c) = c^30. B is (almost) fixed.
    c = 0.95
    sim = simulate_ranks([100.0, c * 100], [0.0, 1e-9], [30, 1e6], k=1, rng=rng(), draws=DRAWS)
    assert sim.p_bottom_k[0] == pytest.approx(c**30, abs=TOL)


def test_unit_at_0_percent_against_a_fixed_value() -> None:
    # Beta(1, n): P(A > c) = (1 − c)^n, so P(A is the lower) = 1 − (1 − c)^n.
    c = 0.04
    sim = simulate_ranks([0.0, c * 100], [0.0, 1e-9], [40, 1e6], k=1, rng=rng(), draws=DRAWS)
    assert sim.p_bottom_k[0] == pytest.approx(1 - (1 - c) ** 40, abs=TOL)


@pytest.mark.parametrize(("p_first", "interval"), [(0.99, (1, 1)), (0.80, (1, 2))])
def test_rank_interval_of_two_units(p_first: float, interval: tuple[int, int]) -> None:
    # A ranks 1st with probability p_first = Φ(d/σ): its 90 % interval is [1, 1] when
    # P(rank 2) < 5 %, else [1, 2]; B's is the mirror image.
    se = 1.0
    d = stats.norm.ppf(p_first) * np.hypot(se, se)
    sim = simulate_ranks(
        [50.0 + d, 50.0], [se, se], [200, 200], k=1, rng=rng(), draws=DRAWS, transform="identity"
    )
    assert (int(sim.rank_lower[0]), int(sim.rank_upper[0])) == interval
    assert (int(sim.rank_lower[1]), int(sim.rank_upper[1])) == (3 - interval[1], 2)


def test_far_apart_units_have_point_rank_intervals() -> None:
    sim = simulate_ranks([60.0, 80.0, 95.0], [1.0, 1.0, 1.0], [300] * 3, k=1, rng=rng())
    assert list(sim.rank_lower) == [3, 2, 1]
    assert list(sim.rank_upper) == [3, 2, 1]
    assert list(sim.p_bottom_k) == [1.0, 0.0, 0.0]


def test_same_seed_same_answer_and_different_seed_different_draws() -> None:
    args = ([80.0, 82.0, 85.0, 84.0], [2.0, 2.5, 1.0, 3.0], [150, 90, 300, 60])
    first = simulate_ranks(*args, k=2, rng=rng(3))
    again = simulate_ranks(*args, k=2, rng=rng(3))
    other = simulate_ranks(*args, k=2, rng=rng(4))
    assert np.array_equal(first.p_bottom_k, again.p_bottom_k)
    assert not np.array_equal(first.p_bottom_k, other.p_bottom_k)


def test_simulation_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="长度"):
        simulate_ranks([1.0, 2.0], [1.0], [10, 10], k=1, rng=rng())
    with pytest.raises(ValueError, match="有限数"):
        simulate_ranks([np.nan], [1.0], [10], k=1, rng=rng())
    with pytest.raises(ValueError, match="之间"):
        simulate_ranks([101.0], [1.0], [10], k=1, rng=rng())
    with pytest.raises(ValueError, match="k"):
        simulate_ranks([1.0], [1.0], [10], k=0, rng=rng())
    assert simulate_ranks([], [], [], k=2, rng=rng()).p_bottom_k.size == 0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.floats(0, 10), st.floats(1, 1000)),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
def test_properties_of_the_simulation(
    units: list[tuple[float, float, float]], k: int, seed: int
) -> None:
    est, se, n = (list(col) for col in zip(*units, strict=True))
    sim = simulate_ranks(est, se, n, k=k, rng=rng(seed), draws=200)
    m = len(units)
    # Every draw puts exactly min(k, m) units in the bottom k.
    assert sim.p_bottom_k.sum() == pytest.approx(min(k, m))
    assert np.all((sim.p_bottom_k >= 0) & (sim.p_bottom_k <= 1))
    assert np.all(sim.rank_lower >= 1) and np.all(sim.rank_upper <= m)
    assert np.all(sim.rank_lower <= sim.rank_upper)
    assert sim.rank_mean.sum() == pytest.approx(m * (m + 1) / 2)


# --- intervals and tests ------------------------------------------------------------------------


def test_clopper_pearson_matches_r_binom_test() -> None:
    # R: binom.test(3, 10)$conf.int → 0.06673951 0.65245285
    lower, upper = clopper_pearson(0.3, 10, 0.95)
    assert lower == pytest.approx(0.06673951, abs=1e-8)
    assert upper == pytest.approx(0.65245285, abs=1e-8)


@pytest.mark.parametrize("n", [5, 30, 123.4])
def test_clopper_pearson_closed_form_at_the_boundaries(n: float) -> None:
    # x = n: [(α/2)^(1/n), 1]; x = 0: [0, 1 − (α/2)^(1/n)].
    assert clopper_pearson(1.0, n, 0.95) == pytest.approx((0.025 ** (1 / n), 1.0))
    assert clopper_pearson(0.0, n, 0.90) == pytest.approx((0.0, 1 - 0.05 ** (1 / n)))


def test_display_interval_is_not_degenerate_at_100_percent() -> None:
    interval = display_interval(100.0, 0.0, 30, 0.95)
    assert interval.method == "clopper_pearson"
    assert interval.lower == pytest.approx(100 * 0.025 ** (1 / 30))
    assert interval.upper == 100.0
    assert interval.lower < 90  # 30 interviews all "safe" do not prove 100 %
    zero = display_interval(0.0, 0.0, 30, 0.95)
    assert (zero.lower, zero.method) == (0.0, "clopper_pearson")
    assert zero.upper == pytest.approx(100 * (1 - 0.025 ** (1 / 30)))


def test_display_interval_logit_for_interior_estimates() -> None:
    # Closed form: expit(logit(0.9) ± 1.959964 · 0.02/(0.9·0.1)).
    half = stats.norm.ppf(0.975) * 0.02 / 0.09
    centre = np.log(9.0)
    interval = display_interval(90.0, 2.0, 200, 0.95)
    assert interval.method == "logit"
    assert interval.lower == pytest.approx(100 / (1 + np.exp(-(centre - half))))
    assert interval.upper == pytest.approx(100 / (1 + np.exp(-(centre + half))))


def test_p_below_closed_forms() -> None:
    assert p_below(100.0, 0.0, 30, 95.0) == pytest.approx(0.95**30)
    assert p_below(0.0, 0.0, 40, 4.0) == pytest.approx(1 - 0.96**40)
    assert p_below(84.0, 2.0, 200, 85.0, transform="identity") == pytest.approx(stats.norm.cdf(0.5))
    # Logit: Φ((logit 0.85 − logit 0.84)/(0.02/(0.84·0.16))).
    z = (np.log(0.85 / 0.15) - np.log(0.84 / 0.16)) / (0.02 / (0.84 * 0.16))
    assert p_below(84.0, 2.0, 200, 85.0) == pytest.approx(stats.norm.cdf(z))
    assert p_below(50.0, 2.0, 200, 100.0) == 1.0
    assert p_below(50.0, 2.0, 200, 0.0) == 0.0


def test_difference_test_closed_form() -> None:
    test = difference_test(84.0, 1.5, 200, 88.0, 2.0, 150)
    assert test.z == pytest.approx(4.0 / 2.5)
    assert test.p_value == pytest.approx(2 * stats.norm.sf(1.6))
    assert test.distinguishable is False  # p ≈ 0.11
    sure = difference_test(80.0, 1.0, 200, 88.0, 1.0, 200)
    assert sure.distinguishable is True


def test_effective_se_at_100_percent_from_clopper_pearson() -> None:
    lower = 0.025 ** (1 / 30)
    assert effective_se(100.0, 0.0, 30) == pytest.approx(100 * (1 - lower) / (2 * 1.959963985))
    assert effective_se(90.0, 2.0, 30) == 2.0


def _p_lowest(i: int, mu: np.ndarray, sd: np.ndarray) -> float:
    # P(X_i is the smallest of independent normals) = ∫ φ_i(x) Π_{j≠i} (1 − Φ_j(x)) dx.
    def integrand(x: float) -> float:
        others = [stats.norm.sf(x, mu[j], sd[j]) for j in range(mu.size) if j != i]
        return float(stats.norm.pdf(x, mu[i], sd[i]) * np.prod(others))

    return float(integrate.quad(integrand, mu[i] - 10 * sd[i], mu[i] + 10 * sd[i])[0])


def _p_highest(i: int, mu: np.ndarray, sd: np.ndarray) -> float:
    def integrand(x: float) -> float:
        others = [stats.norm.cdf(x, mu[j], sd[j]) for j in range(mu.size) if j != i]
        return float(stats.norm.pdf(x, mu[i], sd[i]) * np.prod(others))

    return float(integrate.quad(integrand, mu[i] - 10 * sd[i], mu[i] + 10 * sd[i])[0])


def test_five_units_against_numerical_integration() -> None:
    mu = np.array([84.0, 85.5, 86.0, 88.0, 83.0])
    sd = np.array([1.5, 2.5, 1.0, 3.0, 4.0])
    bottom_1 = simulate_ranks(mu, sd, [200] * 5, k=1, rng=rng(), draws=DRAWS, transform="identity")
    expected = [_p_lowest(i, mu, sd) for i in range(5)]
    assert sum(expected) == pytest.approx(1.0, abs=1e-6)
    assert bottom_1.p_bottom_k == pytest.approx(expected, abs=TOL)
    # Bottom 4 of 5 = not the highest.
    bottom_4 = simulate_ranks(mu, sd, [200] * 5, k=4, rng=rng(), draws=DRAWS, transform="identity")
    assert bottom_4.p_bottom_k == pytest.approx(
        [1 - _p_highest(i, mu, sd) for i in range(5)], abs=TOL
    )
