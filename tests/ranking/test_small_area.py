"""Fay–Herriot EB estimates checked against closed forms written here:

* known model variance A: γ_i = A/(A + D_i), β̂ = Σ y_i/(A+D_i) / Σ 1/(A+D_i), MSE = g1 + g2 with
  g1 = γ_i D_i, g2 = (1 − γ_i)² / Σ 1/(A+D_j) (Rao & Molina 2015, §6.1.1, intercept-only model);
* balanced design (D_i = D, intercept only): REML and the moment estimator both give
  Â = max(0, S² − D), S² the sample variance with m − 1, and
  g3 = D²/(A+D)³ · 2(A+D)²/m = 2D²/(m(A+D));
* unbalanced design: Â maximises the restricted log-likelihood, written out here independently
  and maximised by scipy's bounded scalar optimiser;
* an independent implementation: samplics 0.6.0 ``EblupAreaModel`` (REML) on the same data, with
  and without a covariate (Â, β̂, EB estimates and Prasad–Rao/Datta–Lahiri MSEs, saved in
  fixtures/fh_samplics.json by fixtures/make_fh_samplics.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from survey.ranking import MODEL_LABEL, fay_herriot, variances_usable

Y = np.array([82.0, 91.5, 88.0, 95.0, 76.0, 89.0, 93.5, 85.0])
D_UNEQUAL = np.array([4.0, 9.0, 2.5, 16.0, 6.0, 3.0, 12.0, 5.0])


def test_known_model_variance_gives_the_textbook_weights() -> None:
    a = 10.0
    fit = fay_herriot(Y, D_UNEQUAL, model_variance=a)
    gamma = a / (a + D_UNEQUAL)
    w = 1 / (a + D_UNEQUAL)
    beta = np.sum(w * Y) / np.sum(w)
    assert fit.method == "fixed"
    assert fit.gamma == pytest.approx(gamma)
    assert fit.beta == pytest.approx([beta])
    assert fit.eb == pytest.approx(gamma * Y + (1 - gamma) * beta)
    assert fit.mse == pytest.approx(gamma * D_UNEQUAL + (1 - gamma) ** 2 / np.sum(w))
    assert fit.label == MODEL_LABEL


def test_hand_computed_two_area_example() -> None:
    # y = (80, 90), D = (4, 16), A = 4: γ = (1/2, 1/5); weights 1/8, 1/20 →
    # β̂ = (80/8 + 90/20)/(1/8 + 1/20) = 14.5/0.175 = 82.857142…;
    # EB₁ = 40 + 41.428571… = 81.428571…, EB₂ = 18 + 66.285714… = 84.285714….
    fit = fay_herriot([80.0, 90.0], [4.0, 16.0], model_variance=4.0)
    assert fit.beta[0] == pytest.approx(14.5 / 0.175)
    assert fit.eb == pytest.approx([40 + 0.5 * 14.5 / 0.175, 18 + 0.8 * 14.5 / 0.175])


@pytest.mark.parametrize("method", ["reml", "moment"])
def test_balanced_design_closed_form(method: str) -> None:
    d = 4.0
    m = Y.size
    s2 = Y.var(ddof=1)
    a = s2 - d
    assert a > 0
    fit = fay_herriot(Y, np.full(m, d), method=method)  # type: ignore[arg-type]
    assert fit.model_variance == pytest.approx(a, rel=1e-8)
    gamma = a / (a + d)
    assert fit.gamma == pytest.approx(np.full(m, gamma))
    assert fit.eb == pytest.approx(gamma * Y + (1 - gamma) * Y.mean())
    g1 = gamma * d
    g2 = (1 - gamma) ** 2 * (a + d) / m
    if method == "reml":
        g3 = 2 * d**2 / (m * (a + d))
    else:
        g3 = d**2 / (a + d) ** 3 * 2 * (a + d) ** 2 / m
    assert fit.mse == pytest.approx(np.full(m, g1 + g2 + 2 * g3))


def test_no_between_area_variance_shrinks_to_the_mean() -> None:
    y = np.array([90.0, 90.5, 89.5, 90.2, 89.8])
    fit = fay_herriot(y, np.full(5, 25.0))  # S² ≪ D: Â truncated at 0
    assert fit.model_variance == 0.0
    assert fit.eb == pytest.approx(np.full(5, y.mean()))
    assert fit.gamma == pytest.approx(np.zeros(5))


def _restricted_loglik(a: float, y: np.ndarray, x: np.ndarray, d: np.ndarray) -> float:
    v = a + d
    vinv = np.diag(1 / v)
    xtvx = x.T @ vinv @ x
    p = vinv - vinv @ x @ np.linalg.inv(xtvx) @ x.T @ vinv
    return float(-0.5 * (np.sum(np.log(v)) + np.linalg.slogdet(xtvx)[1] + y @ p @ y))


@pytest.mark.parametrize("with_covariate", [False, True])
def test_reml_maximises_the_restricted_likelihood(with_covariate: bool) -> None:
    x = np.ones((Y.size, 1))
    if with_covariate:
        x = np.column_stack([x, [2.0, 1.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0]])
    best = optimize.minimize_scalar(
        lambda a: -_restricted_loglik(a, Y, x, D_UNEQUAL),
        bounds=(0.0, 500.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    fit = fay_herriot(Y, D_UNEQUAL, x)
    assert fit.converged
    assert best.x > 1.0  # an interior maximum, so the comparison means something
    assert fit.model_variance == pytest.approx(best.x, rel=1e-5)
    assert fit.beta.size == x.shape[1]


def test_precise_units_keep_their_direct_estimate_more() -> None:
    fit = fay_herriot(Y, D_UNEQUAL)
    order = np.argsort(D_UNEQUAL)
    assert np.all(np.diff(fit.gamma[order]) <= 0)  # larger D → smaller weight on the direct
    assert np.all(fit.mse <= D_UNEQUAL)  # on these data every EB estimate beats its direct one
    assert np.all(fit.rmse == np.sqrt(fit.mse))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="大于 0"):
        fay_herriot([1.0, 2.0, 3.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="相同"):
        fay_herriot([1.0, 2.0, 3.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="多于"):
        fay_herriot([1.0], [1.0])
    # A unit whose answers are all the same: SE 0 computed as ~5e-15 (the 2,000-interview city
    # benchmark). Taken as a variance it made the REML information 0 (ZeroDivisionError).
    y = [60.00000000000001, 55.22, 53.33, 43.56, 67.45, 55.96, 52.42, 62.82]
    d = [2.53e-29, 65.55, 191.23, 116.02, 198.80, 80.56, 353.52, 51.15]
    with pytest.raises(ValueError, match="大于 0"):
        fay_herriot(y, d)
    assert not variances_usable(y, d)
    assert variances_usable(y, [1e-6, *d[1:]])
    with pytest.raises(ValueError, match="未知的方法"):
        fay_herriot([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], method="ml")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(50, 100), st.floats(0.5, 30)),
        min_size=3,
        max_size=15,
    )
)
def test_eb_lies_between_direct_and_synthetic(units: list[tuple[float, float]]) -> None:
    y, d = (np.array(col) for col in zip(*units, strict=True))
    fit = fay_herriot(y, d)
    low = np.minimum(y, fit.synthetic) - 1e-9
    high = np.maximum(y, fit.synthetic) + 1e-9
    assert np.all((fit.eb >= low) & (fit.eb <= high))
    assert np.all((fit.gamma >= 0) & (fit.gamma <= 1))
    assert np.all(fit.mse > 0)


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fh_samplics.json"


@pytest.mark.parametrize("case", ["intercept", "covariate"])
def test_matches_samplics_reml(case: str) -> None:
    # Reference: samplics 0.6.0 EblupAreaModel(REML) on the same data (fixtures/make_fh_samplics.py).
    ref = json.loads(FIXTURE.read_text(encoding="utf-8"))[case]
    x = np.ones((Y.size, 1))
    if case == "covariate":
        x = np.column_stack([x, [2.0, 1.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0]])
    fit = fay_herriot(Y, D_UNEQUAL, x)
    assert fit.model_variance == pytest.approx(ref["A"], rel=1e-8)
    assert fit.beta == pytest.approx(ref["beta"], rel=1e-8)
    assert fit.eb == pytest.approx(ref["eb"], rel=1e-8)
    assert fit.mse == pytest.approx(ref["mse"], rel=1e-8)
