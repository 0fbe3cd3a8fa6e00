"""Invariants (hypothesis) and the vectorised variance against R's algorithm written literally.

``literal_variance`` below follows R survey 4.1.1's ``svyrecvar`` step by step for one score
vector at a time (post-stratification: old-weighted cell means; raking: ten sweeps of
unweighted cell means over the margins; then ``onestrat`` per stratum with zero-padded PSUs),
and ``literal_rake`` is R's ``rake`` loop (``postStratify`` per margin, weights stored after each
step). The core's sparse, all-domains-at-once algebra must agree with them.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from survey import estimation as est

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def surveys(draw: st.DrawFn, clusters: bool = True) -> dict[str, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_strata = draw(st.integers(1, 4))
    per = draw(st.integers(4, 30))
    strata = np.repeat(np.arange(n_strata), per)
    n = strata.size
    if clusters and draw(st.booleans()):
        psu = strata * 100 + rng.integers(0, max(2, per // 3), n)
    else:
        psu = np.arange(n)
    psu_counts = {h: len(set(psu[strata == h].tolist())) for h in range(n_strata)}
    assume(min(psu_counts.values()) >= 2)
    weights = rng.uniform(1.0, 50.0, n)
    fpc = None
    if draw(st.booleans()):
        fpc = np.array([psu_counts[h] * rng.uniform(1.5, 20) for h in strata])
        fpc = np.repeat([fpc[strata == h][0] for h in range(n_strata)], per)
    y = rng.normal(50, 20, n)
    y[rng.random(n) < 0.1] = np.nan
    groups = rng.integers(-1, draw(st.integers(1, 6)), n)
    binary = np.where(np.isnan(y), np.nan, (rng.random(n) < rng.uniform(0.1, 0.9)).astype(float))
    return {
        "strata": strata,
        "psu": psu,
        "weights": weights,
        "fpc": fpc,
        "y": y,
        "groups": groups,
        "binary": binary,
        "sex": rng.integers(0, 2, n),
        "age": rng.integers(0, 3, n),
    }


def design_of(s: dict[str, np.ndarray], weights: np.ndarray | None = None) -> est.Design:
    return est.Design.from_arrays(
        s["weights"] if weights is None else weights, strata=s["strata"], psu=s["psu"], fpc=s["fpc"]
    )


def literal_variance(
    s: dict[str, np.ndarray],
    x: np.ndarray,
    steps: list[tuple[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]],
) -> float:
    """R's svyrecvar for one score vector; steps: ("post", [(cells, oldw, neww)]) or ("rake", [(cells, psw)...])."""
    x = x.copy()
    for kind, blocks in steps:
        if kind == "post":
            cells, oldw, psw = blocks[0]
            for c in np.unique(cells):
                m = cells == c
                mean = np.sum(x[m] * oldw[m] / psw[m]) / np.sum(oldw[m])
                x[m] -= mean * psw[m]
        else:
            for _ in range(10):
                for cells, psw in blocks:
                    for c in np.unique(cells):
                        m = cells == c
                        x[m] -= psw[m] * np.mean(x[m] / psw[m])
    total = 0.0
    for h in np.unique(s["strata"]):
        rows = s["strata"] == h
        psus = np.unique(s["psu"][rows])
        t = np.array([x[rows & (s["psu"] == p)].sum() for p in psus])
        n_h = psus.size
        f = 0.0 if s["fpc"] is None else n_h / s["fpc"][rows][0]
        total += (1 - f) * n_h / (n_h - 1) * np.sum((t - t.mean()) ** 2)
    return total


def literal_rake(
    weights: np.ndarray, margins: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    w = weights.copy()
    stored: list[np.ndarray] = []
    for _ in range(5000):
        stored = []
        for cells, totals in margins:
            sums = np.bincount(cells, weights=w, minlength=totals.size)
            w = w * (totals / sums)[cells]
            stored.append(w.copy())
        if all(
            np.max(np.abs(np.bincount(c, weights=w, minlength=t.size) - t)) <= 1e-13 * t.sum()
            for c, t in margins
        ):
            break
    return w, stored


def mean_scores(w: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ok = mask & ~np.isnan(y)
    ybar = np.sum(w[ok] * y[ok]) / w[ok].sum()
    return np.where(ok, w * (np.nan_to_num(y) - ybar) / w[ok].sum(), 0.0)


@SETTINGS
@given(surveys())
def test_domain_variances_equal_r_literal_uncalibrated(s: dict[str, np.ndarray]) -> None:
    design = design_of(s)
    res = est.mean_by(design, s["y"], s["groups"])
    for g in range(len(res)):
        mask = s["groups"] == g
        if not np.any(mask & ~np.isnan(s["y"])):
            continue
        var = literal_variance(s, mean_scores(s["weights"], s["y"], mask), [])
        assert math.isclose(res.var[g], var, rel_tol=1e-9, abs_tol=1e-12 * max(var, 1e-300))


@SETTINGS
@given(surveys())
def test_domain_variances_equal_r_literal_after_post_stratification_and_raking(
    s: dict[str, np.ndarray],
) -> None:
    sex, age = s["sex"], s["age"]
    assume(np.bincount(sex, minlength=2).min() >= 3 and np.bincount(age, minlength=3).min() >= 3)
    total = s["weights"].sum() * 1.3
    sex_tot = np.array([0.48, 0.52]) * total
    age_tot = np.array([0.3, 0.45, 0.25]) * total
    design = design_of(s)
    try:
        margins = [est.Margin(sex, sex_tot), est.Margin(age, age_tot)]
        raked = est.rake(design, margins, tolerance=1e-13, max_iter=5000).design
    except est.EstimationError:
        assume(False)  # margins a tiny sample cannot meet (the error is tested elsewhere)
        raise
    w_lit, stored = literal_rake(s["weights"], [(sex, sex_tot), (age, age_tot)])
    assert np.allclose(raked.weights, w_lit, rtol=1e-8, atol=0)
    # then post-stratify on sex again: two calibration steps remembered, in order
    both = est.post_stratify(raked, sex, sex_tot).design
    post_w = both.weights
    res_raked = est.mean_by(raked, s["y"], s["groups"])
    res_both = est.total_by(both, s["y"], s["groups"])
    for g in range(len(res_raked)):
        mask = s["groups"] == g
        ok = mask & ~np.isnan(s["y"])
        if not ok.any():
            continue
        rake_steps = [("rake", [(sex, stored[0]), (age, stored[1])])]
        var = literal_variance(s, mean_scores(raked.weights, s["y"], mask), rake_steps)  # type: ignore[arg-type]
        assert math.isclose(
            res_raked.var[g], var, rel_tol=1e-7, abs_tol=1e-10 * res_raked.var.max()
        )
        z_total = np.where(ok, post_w * np.nan_to_num(s["y"]), 0.0)
        steps = [*rake_steps, ("post", [(sex, raked.weights, post_w)])]
        var_t = literal_variance(s, z_total, steps)  # type: ignore[arg-type]
        assert math.isclose(
            res_both.var[g], var_t, rel_tol=1e-7, abs_tol=1e-10 * res_both.var.max()
        )


@SETTINGS
@given(surveys(), st.floats(1e-3, 1e3))
def test_means_and_ses_do_not_depend_on_the_scale_of_the_weights(
    s: dict[str, np.ndarray], c: float
) -> None:
    a = est.mean_by(design_of(s), s["y"], s["groups"], ci="t")
    b = est.mean_by(design_of(s, s["weights"] * c), s["y"], s["groups"], ci="t")
    assert np.allclose(a.estimate, b.estimate, rtol=1e-10, equal_nan=True)
    assert np.allclose(a.se, b.se, rtol=1e-8, equal_nan=True)
    assert np.allclose(a.ci_lower, b.ci_lower, rtol=1e-8, equal_nan=True)


@SETTINGS
@given(surveys())
def test_domain_totals_of_a_partition_add_up(s: dict[str, np.ndarray]) -> None:
    design = design_of(s)
    groups = np.where(s["groups"] < 0, 0, s["groups"])  # every row in exactly one domain
    parts = est.total_by(design, s["y"], groups)
    whole = est.total(design, s["y"])
    assert math.isclose(np.nansum(parts.estimate), whole.estimate, rel_tol=1e-10)
    assert int(parts.n.sum()) == whole.n and int(parts.n_missing.sum()) == whole.n_missing


@SETTINGS
@given(
    surveys(),
    st.sampled_from(["logit", "beta", "mean", "arcsine", "t", "normal"]),
    st.floats(0.5, 0.999),
)
def test_intervals_contain_the_estimate_and_logit_stays_in_0_1(
    s: dict[str, np.ndarray], ci: str, level: float
) -> None:
    design = design_of(s)
    res = est.proportion_by(design, s["binary"], s["groups"], ci=ci, level=level)  # type: ignore[arg-type]
    ok = res.n > 0
    lo, hi, p = res.ci_lower[ok], res.ci_upper[ok], res.estimate[ok]
    finite = np.isfinite(lo) & np.isfinite(hi)  # a domain with df = 0 has no t interval
    assert np.all(lo[finite] <= p[finite] + 1e-12) and np.all(p[finite] <= hi[finite] + 1e-12)
    if ci in ("logit", "beta", "arcsine"):
        assert np.all((lo[finite] >= 0) & (hi[finite] <= 1))
    means = est.mean_by(design, s["y"], s["groups"], ci="t", level=level)
    okm = (means.n > 0) & np.isfinite(means.ci_lower)
    assert np.all(means.ci_lower[okm] <= means.estimate[okm]) and np.all(
        means.estimate[okm] <= means.ci_upper[okm]
    )


def test_sparse_coefficient_path_equals_dense(monkeypatch: object) -> None:
    # More than 4,000 calibration cells switch the coefficient matrices to scipy.sparse; the
    # result must not change. Forced here on a small raked design with clusters and without.
    import pytest

    from survey.estimation import variance

    rng = np.random.default_rng(7)
    n = 400
    strata = np.repeat([0, 1, 2, 3], 100)
    sex, age = rng.integers(0, 2, n), rng.integers(0, 4, n)
    y = rng.normal(size=n)
    groups = rng.integers(-1, 9, n)
    for psu in (None, strata * 50 + rng.integers(0, 12, n)):
        base = est.Design.from_arrays(rng.uniform(1, 5, n), strata=strata, psu=psu)
        margins = [
            est.Margin(est.cross_cells(strata, sex, sizes=(4, 2)), np.full(8, 100.0)),
            est.Margin(est.cross_cells(strata, age, sizes=(4, 4)), np.full(16, 50.0)),
        ]
        dense = est.mean_by(est.rake(base, margins).design, y, groups)
        mp = pytest.MonkeyPatch()
        mp.setattr(variance, "_DENSE_COEF_LIMIT", 0)
        try:
            sparse = est.mean_by(est.rake(base, margins).design, y, groups)
        finally:
            mp.undo()
        assert np.allclose(dense.se, sparse.se, rtol=1e-10, atol=0)
