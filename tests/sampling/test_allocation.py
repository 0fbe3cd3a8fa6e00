"""Allocation: textbook and hand-computed examples, exact totals, bounds, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sampling import SamplingError, allocate, round_largest_remainder


def test_neyman_two_strata_of_cities() -> None:
    # Two strata of 16 large and 48 small cities with S₁² = 53,843 and S₂² = 5,581 (our recollection
    # of Cochran's 64-cities example, §5.5), n = 24. Neyman: n_h = n N_h S_h / Σ N_j S_j.
    s1, s2 = math.sqrt(53_843), math.sqrt(5_581)
    share1 = 16 * s1 / (16 * s1 + 48 * s2)
    a = allocate(24, {"large": 16, "small": 48}, method="neyman", sds={"large": s1, "small": s2})
    assert a.exact.tolist() == pytest.approx([24 * share1, 24 * (1 - share1)], rel=1e-12)
    assert a.as_dict() == {"large": 12, "small": 12}  # 12.21 and 11.79
    proportional = allocate(24, {"large": 16, "small": 48})
    assert proportional.as_dict() == {"large": 6, "small": 18}


def test_neyman_exact_integers() -> None:
    # N·S = 300, 400, 300 → shares 0.3, 0.4, 0.3 of 50.
    a = allocate(50, {"a": 100, "b": 200, "c": 300}, method="neyman", sds={"a": 3, "b": 2, "c": 1})
    assert a.sizes.tolist() == [15, 20, 15]


def test_proportional_equal_and_largest_remainder() -> None:
    assert allocate(60, {"g1": 500, "g2": 300, "g3": 200}).sizes.tolist() == [30, 18, 12]
    # 100/3 each: the remainder unit goes to the first stratum in sorted order.
    assert allocate(100, {"c": 50, "a": 50, "b": 50}, method="equal").as_dict() == {
        "a": 34,
        "b": 33,
        "c": 33,
    }
    # Proportional 10 over N = 100, 200, 400: exact 1.43, 2.86, 5.71 → floors 1, 2, 5, the
    # missing two units go to the largest remainders .86 and .71.
    assert allocate(10, {"x": 100, "y": 200, "z": 400}).sizes.tolist() == [1, 3, 6]


def test_power_allocation_between_equal_and_proportional() -> None:
    sizes = {"u1": 100, "u2": 400, "u3": 1600}
    assert allocate(70, sizes, method="power", power=0.0).sizes.tolist() == [24, 23, 23]
    assert (
        allocate(70, sizes, method="power", power=1.0).sizes.tolist()
        == allocate(70, sizes).sizes.tolist()
    )
    # q = 1/2: sqrt(N) = 10, 20, 40 → 10, 20, 40 of 70.
    assert allocate(70, sizes, method="power", power=0.5).sizes.tolist() == [10, 20, 40]
    # Bankier: n_h ∝ CV_h · X_h^q with X_h = importance.
    a = allocate(
        60,
        sizes,
        method="power",
        power=1.0,
        importance={"u1": 1, "u2": 1, "u3": 1},
        cvs={"u1": 1, "u2": 2, "u3": 3},
    )
    assert a.sizes.tolist() == [10, 20, 30]


def test_compromise_is_minimum_plus_proportional_remainder() -> None:
    # Minimum 10 each, then 100 left shared 1 : 3 : 6.
    a = allocate(130, {"a": 100, "b": 300, "c": 600}, method="compromise", minimums=10)
    assert a.sizes.tolist() == [20, 40, 70]
    # Differs from "proportional with a floor": there a small stratum keeps only its minimum.
    floor = allocate(130, {"a": 100, "b": 300, "c": 600}, minimums=20)
    # a sits at its floor 20; b and c share 110 as 1 : 2 = 36.67, 73.33 → 37, 73.
    assert floor.sizes.tolist() == [20, 37, 73]
    assert floor.exact.tolist() == pytest.approx([20, 110 / 3, 220 / 3])


def test_bounds_are_the_constrained_optimum() -> None:
    # Equal allocation of 105 would give 35 each, but stratum a has only N_a = 5 elements.
    a = allocate(105, {"a": 5, "b": 1000, "c": 3000}, method="equal")
    assert a.exact.tolist() == pytest.approx([5, 50, 50])
    # Proportional 10, 10, 80 with a maximum of 50: c is capped, a and b share the other 50.
    b = allocate(100, {"a": 1000, "b": 1000, "c": 8000}, maximums=50)
    assert b.sizes.tolist() == [25, 25, 50]
    c = allocate(100, {"a": 1000, "b": 1000, "c": 8000}, maximums=60)
    assert c.sizes.tolist() == [20, 20, 60]
    free = c.exact[:2] / np.array([1000, 1000])
    assert free[0] == pytest.approx(free[1])


def test_totals_exact_and_bounds_respected_over_many_random_designs() -> None:
    rng = np.random.default_rng(20261124)
    for _ in range(300):
        h = int(rng.integers(1, 30))
        big_n = rng.integers(0, 500, h)
        labels = [f"s{i:02d}" for i in range(h)]
        method = ["proportional", "equal", "neyman", "power", "compromise"][int(rng.integers(5))]
        lo = int(rng.integers(0, 10))
        hi = int(rng.integers(lo, 400))
        cap = np.minimum(big_n, hi)
        floor = np.minimum(big_n, lo)
        if cap.sum() <= floor.sum():
            continue
        total = int(rng.integers(floor.sum(), cap.sum() + 1))
        a = allocate(
            total,
            dict(zip(labels, big_n.tolist(), strict=True)),
            method=method,  # type: ignore[arg-type]
            sds=dict(zip(labels, rng.uniform(0.1, 5, h).tolist(), strict=True)),
            minimums=lo,
            maximums=hi,
        )
        assert int(a.sizes.sum()) == total
        assert np.all(a.sizes >= floor)
        assert np.all(a.sizes <= cap)
        assert np.all(np.abs(a.sizes - a.exact) < 1)


def test_input_order_does_not_matter() -> None:
    one = allocate(77, {"b": 30, "a": 30, "c": 31}, method="equal")
    two = allocate(77, {"c": 31, "a": 30, "b": 30}, method="equal")
    assert one.as_dict() == two.as_dict()
    assert one.strata == ("a", "b", "c")


def test_round_largest_remainder_respects_upper() -> None:
    assert round_largest_remainder([0.5, 0.5, 1.0], 2).tolist() == [1, 0, 1]
    # The largest remainder (.9) is at its upper bound 0, so the units go to the next two.
    assert round_largest_remainder([0.0, 0.6, 0.5, 0.9], 2, upper=[5, 1, 1, 0]).tolist() == [
        0,
        1,
        1,
        0,
    ]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"total": 1000, "population_sizes": {"a": 10, "b": 20}}, "超过"),
        ({"total": 5, "population_sizes": {"a": 10, "b": 20}, "minimums": 3}, "小于"),
        (
            {
                "total": 10,
                "population_sizes": {"a": 10},
                "minimums": {"a": 5},
                "maximums": {"a": 4},
            },
            "最小样本量大于最大样本量",
        ),
        ({"total": 10, "population_sizes": {"a": 10}, "method": "neyman"}, "sds"),
        ({"total": 10, "population_sizes": {"a": 10}, "method": "compromise"}, "minimums"),
        ({"total": 10, "population_sizes": {"a": 10}, "method": "random"}, "未知的分配方法"),
        ({"total": -1, "population_sizes": {"a": 10}}, "非负整数"),
        ({"total": 5, "population_sizes": {"a": 10}, "minimums": {"b": 1}}, "缺少层「a」"),
        (
            {
                "total": 5,
                "population_sizes": {"a": 10, "b": 10},
                "method": "neyman",
                "sds": {"a": 0, "b": 0},
            },
            "无法分配",
        ),
    ],
)
def test_bad_allocations_are_explained(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(SamplingError, match=fragment):
        allocate(**kwargs)  # type: ignore[arg-type]
