"""The web/phone difference of an index against a closed form, and the mode mix per unit.

One stratum, equal weights, PSU = respondent, with replacement: the linearised variance of a
domain mean is n/(n−1) · Σ_{i∈d} (y_i − ȳ_d)² / n_d² (the scores are (y_i − ȳ_d)/n_d on the
domain, 0 elsewhere, and sum to 0), and the two domains' scores never overlap, so the variance
of the difference is the sum of the two.
"""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from survey.results.modes import mode_difference, mode_groups, mode_mix


def test_difference_of_web_and_phone_means_closed_form() -> None:
    # web: 1, 2, 3 (mean 2, Σ(y−ȳ)² = 2); phone: 2, 4 (mean 3, Σ(y−ȳ)² = 2); n = 5, plus a
    # respondent without a value and an imported interview (both outside the two domains).
    values = [1.0, 2.0, 3.0, 2.0, 4.0, np.nan, 5.0]
    modes = ["web", "web", "web", "phone", "phone", "web", "import"]
    result = mode_difference([7.0] * 7, [0] * 7, values, modes)
    assert (result.web, result.phone, result.n_web, result.n_phone) == (2.0, 3.0, 3, 2)
    # The design counts every row as a PSU (n = 7): v_web = 7/6 · 2/3² = 7/27,
    # v_phone = 7/6 · 2/2² = 7/12; var = 7/27 + 7/12 = 91/108.
    var = F(7, 27) + F(7, 12)
    assert var == F(91, 108)
    assert result.difference == pytest.approx(-1.0)
    assert result.se == pytest.approx(math.sqrt(91 / 108), rel=1e-12)
    z = 1.959963984540054
    assert result.ci_lower == pytest.approx(-1.0 - z * math.sqrt(91 / 108), rel=1e-12)
    assert result.ci_upper == pytest.approx(-1.0 + z * math.sqrt(91 / 108), rel=1e-12)


def test_modes_or_their_groups_give_the_same_difference() -> None:
    modes = ["web", "phone", "web", "import", "phone", "web", "phone"]
    values = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert mode_groups(modes).tolist() == [0, 1, 0, -1, 1, 0, 1]
    by_name = mode_difference([1.0] * 7, [0] * 7, values, modes)
    by_group = mode_difference([1.0] * 7, [0] * 7, values, mode_groups(modes))
    assert by_name == by_group and by_name.n_web == 3 and by_name.n_phone == 3


def test_one_mode_only_gives_no_difference() -> None:
    result = mode_difference([1.0] * 3, [0] * 3, [1.0, 0.0, 1.0], ["web"] * 3)
    assert result.difference is None and result.n_phone == 0


def test_mode_mix_per_unit() -> None:
    mix = mode_mix(["B", "A", "A", "B", "A"], ["web", "phone", "web", "web", "web"])
    assert mix == {"A": {"phone": 1, "web": 2}, "B": {"web": 2}}
