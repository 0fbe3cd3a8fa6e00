"""The platform's survey shape against closed forms written here, independently of the core.

Strata = districts, PSU = respondent, weight N_h/n_h, fpc N_h, 说不清 as missing (out of the
domain, n_h unchanged), streets as domains (a3 has 8 respondents, c2 has 9). The formulas are
the textbook ones the reference README states (Cochran ch. 5; R survey's svyrecvar).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from survey import estimation as est
from tests.estimation._platform import Platform, load_platform


@pytest.fixture(scope="module")
def data() -> Platform:
    return load_platform()


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def test_city_share_is_the_stratified_srs_formula(data: Platform) -> None:
    # aware has no missing answers: p = Σ N_h p_h / N, Var = Σ (N_h/N)² (1 − f_h) p_h(1 − p_h)/(n_h − 1)
    district, aware, big_n = data.col("district"), data.aware, data.num("N")
    total_n = sum(big_n[district == h][0] for h in np.unique(district))
    p = var = 0.0
    for h in np.unique(district):
        rows = district == h
        n_h, n_pop, p_h = rows.sum(), big_n[rows][0], aware[rows].mean()
        p += n_pop / total_n * p_h
        var += (n_pop / total_n) ** 2 * (1 - n_h / n_pop) * p_h * (1 - p_h) / (n_h - 1)
    r = est.proportion(data.design(), aware, ci="normal")
    assert rel(r.estimate, p) < 1e-12
    assert rel(r.se, math.sqrt(var)) < 1e-10
    assert r.n == len(aware) and r.n_missing == 0


def street_closed_form(data: Platform, y: np.ndarray, street: str) -> tuple[float, float, int, int]:
    """Mean and SE of a street inside one district with constant weights, missing = out of domain.

    Scores are (y − ȳ_d)/n_d on the street's valid answers and 0 on every other row of the
    district (their mean is 0), so Var = (1 − n_h/N_h) · n_h/(n_h − 1) · Σ_d (y − ȳ_d)² / n_d².
    """
    streets, district = data.col("street"), data.col("district")
    h = district[streets == street][0]
    n_h = int((district == h).sum())
    big_n = data.num("N")[district == h][0]
    values = y[(streets == street) & ~np.isnan(y)]
    n_d = values.size
    ybar = values.mean()
    var = (1 - n_h / big_n) * n_h / (n_h - 1) * ((values - ybar) ** 2).sum() / n_d**2
    return ybar, math.sqrt(var), n_d, int(((streets == street) & np.isnan(y)).sum())


def test_street_means_and_logit_intervals(data: Platform) -> None:
    design = data.design()
    codes, labels = data.streets()
    means = est.mean_by(design, data.score, codes, ci="t")
    shares = est.proportion_by(design, data.safe, codes)
    small = [s for s in labels if (data.col("street") == s).sum() < 10]
    assert small == ["a3", "c2"]
    for g, street in enumerate(labels):
        ybar, se, n_valid, n_missing = street_closed_form(data, data.score, street)
        assert rel(means.estimate[g], ybar) < 1e-12
        assert rel(means.se[g], se) < 1e-10
        assert (means.n[g], means.n_missing[g]) == (n_valid, n_missing)
        assert means.df[g] == design.df == len(data.rows) - 3
        # a share: logit interval with the street's own df = valid answers − 1 (one stratum)
        p, se_p, n_valid, _ = street_closed_form(data, data.safe, street)
        q = stats.t.ppf(0.975, n_valid - 1)
        centre, half = math.log(p / (1 - p)), q * se_p / (p * (1 - p))
        assert shares.df[g] == n_valid - 1
        assert rel(shares.ci_lower[g], 1 / (1 + math.exp(-(centre - half)))) < 1e-10
        assert rel(shares.ci_upper[g], 1 / (1 + math.exp(-(centre + half)))) < 1e-10


def test_dont_know_is_out_of_domain_not_dropped(data: Platform) -> None:
    design = data.design()
    y = data.score
    filled = np.where(np.isnan(y), 12345.0, y)
    a = est.mean(design, y)
    b = est.mean(design, filled, domain=~np.isnan(y))
    assert a.estimate == pytest.approx(b.estimate, rel=1e-14) and a.se == pytest.approx(
        b.se, rel=1e-12
    )
    keep = ~np.isnan(y)
    dropped = est.Design.from_arrays(
        data.num("w")[keep], strata=data.col("district")[keep], fpc=data.num("N")[keep]
    )
    assert rel(est.mean(dropped, y[keep]).se, a.se) > 1e-4  # n_h would shrink: a different SE


def test_share_of_exactly_one_has_zero_se_and_degenerate_intervals(data: Platform) -> None:
    design = data.design()
    codes, labels = data.streets()
    everyone = np.where(data.col("street") == "a3", 1.0, data.safe)  # a3: every answer "safe"
    g = labels.index("a3")
    n = int((data.col("street") == "a3").sum())
    for method in ("logit", "mean", "arcsine", "t", "normal"):
        r = est.proportion_by(design, everyone, codes, ci=method)[g]  # type: ignore[arg-type]
        assert (r.estimate, r.se, r.ci_lower, r.ci_upper, r.deff) == (1.0, 0.0, 1.0, 1.0, None)
    beta = est.proportion_by(design, everyone, codes, ci="beta")[g]
    # Clopper–Pearson at x = n: lower = (α/2)^(1/n), upper = 1
    assert rel(beta.ci_lower, 0.025 ** (1 / n)) < 1e-10 and beta.ci_upper == 1.0
    zero = est.proportion_by(design, 1 - everyone, codes, ci="logit")[g]
    assert (zero.estimate, zero.se, zero.ci_lower, zero.ci_upper) == (0.0, 0.0, 0.0, 0.0)
    # on a raked design too (where rounding leaves a variance of ~1e-35 instead of 0)
    raked = est.rake(
        design, [data.margin("district_sex", "sex"), data.margin("district_age", "age")]
    ).design
    for method in ("logit", "mean", "arcsine", "t", "normal", "beta", "likelihood"):
        r = est.proportion_by(raked, everyone, codes, ci=method)[g]  # type: ignore[arg-type]
        assert (r.estimate, r.se, r.ci_upper, r.deff) == (1.0, 0.0, 1.0, None), method
        assert r.ci_lower == 1.0 or method == "beta"


def test_post_stratification_and_one_margin_raking_closed_form(data: Platform) -> None:
    design = data.design()
    margin = data.margin("district_sex", "sex")
    cells, totals = np.asarray(margin.cells), np.asarray(margin.totals)
    counts = np.bincount(cells, minlength=totals.size)
    # constant weights within a district: w* = N_hs / n_hs
    expected = totals[cells] / counts[cells]
    ps = est.post_stratify(design, cells, totals)
    rk = est.rake(design, [margin])
    assert np.allclose(ps.design.weights, expected, rtol=1e-13, atol=0)
    assert np.allclose(rk.design.weights, expected, rtol=1e-13, atol=0)
    d = rk.diagnostics
    w = expected
    assert rel(d.kish_deff, len(w) * (w**2).sum() / w.sum() ** 2) < 1e-12
    assert rel(d.n_eff, w.sum() ** 2 / (w**2).sum()) < 1e-12
    assert rel(d.weight_min, w.min()) < 1e-12 and rel(d.weight_max, w.max()) < 1e-12
    base = data.num("w")
    assert (
        rel(d.factor_max, (w / base).max()) < 1e-12 and rel(d.factor_min, (w / base).min()) < 1e-12
    )


def test_raking_meets_both_margins(data: Platform) -> None:
    margins = [data.margin("district_sex", "sex"), data.margin("district_age", "age")]
    result = est.rake(data.design(), margins)
    for m in margins:
        got = np.bincount(np.asarray(m.cells), weights=result.design.weights)
        totals = np.asarray(m.totals)
        assert np.max(np.abs(got - totals)) / totals.sum() <= 1e-10
    assert result.diagnostics.converged and result.diagnostics.max_margin_error <= 1e-10
    assert result.diagnostics.iterations >= 2


def test_raked_street_se_is_the_least_squares_residual_closed_form(data: Platform) -> None:
    # README: with design weights constant in every raking cell, z_i = w_i e_i / Σ_D w, e the
    # residual of u_i = 1{i ∈ D}(y_i − ȳ_D) regressed on all margin-cell dummies with the design
    # weights as regression weights; then the stratified formula with f_h and n_h/(n_h − 1).
    margins = [data.margin("district_sex", "sex"), data.margin("district_age", "age")]
    raked = est.rake(data.design(), margins).design
    w, w0 = raked.weights, data.num("w")
    dummies = np.hstack([np.eye(np.asarray(m.totals).size)[np.asarray(m.cells)] for m in margins])
    district, big_n = data.col("district"), data.num("N")
    codes, labels = data.streets()
    result = est.mean_by(raked, data.score, codes)
    for g, street in enumerate(labels):
        dom = (data.col("street") == street) & ~np.isnan(data.score)
        ybar = np.sum(w[dom] * data.score[dom]) / w[dom].sum()
        u = np.where(dom, np.nan_to_num(data.score) - ybar, 0.0)
        sw = np.sqrt(w0)
        beta, *_ = np.linalg.lstsq(dummies * sw[:, None], u * sw, rcond=None)
        z = w * (u - dummies @ beta) / w[dom].sum()
        var = 0.0
        for h in np.unique(district):
            zh = z[district == h]
            n_h = zh.size
            var += (
                (1 - n_h / big_n[district == h][0])
                * n_h
                / (n_h - 1)
                * ((zh - zh.mean()) ** 2).sum()
            )
        assert rel(result.estimate[g], ybar) < 1e-12
        assert rel(result.se[g], math.sqrt(var)) < 1e-9, street


def test_census_stratum_adds_nothing_and_labels_do_not_matter(data: Platform) -> None:
    district = data.col("district")
    fpc = np.where(district == "C", (district == "C").sum(), data.num("N"))  # C fully enumerated
    census = est.Design.from_arrays(data.num("w"), strata=district, fpc=fpc)
    y = data.aware
    without_c = np.where(district == "C", 0.0, y)  # a total: C's rows only add a constant
    assert est.total(census, y).var == pytest.approx(est.total(census, without_c).var, rel=1e-12)
    renamed = np.array([{"A": "z", "B": "y", "C": "x"}[d] for d in district])
    a = est.mean_by(data.design(), data.score, data.streets()[0])
    b = est.mean_by(
        est.Design.from_arrays(data.num("w"), strata=renamed, fpc=data.num("N")),
        data.score,
        data.streets()[0],
    )
    assert np.allclose(a.se, b.se, rtol=1e-12, atol=0)
    explicit = est.Design.from_arrays(
        data.num("w"), strata=district, psu=np.arange(len(district)), fpc=data.num("N")
    )
    assert np.allclose(
        est.mean_by(explicit, data.score, data.streets()[0]).se, a.se, rtol=1e-12, atol=0
    )


def test_design_weights_and_nonresponse_adjustment() -> None:
    strata = np.array([0, 0, 0, 1, 1])
    assert np.allclose(est.design_weights(strata, [300.0, 50.0]), [100, 100, 100, 25, 25])
    w = np.array([10.0, 10.0, 20.0, 5.0, 5.0, 5.0])
    classes = np.array([0, 0, 0, 1, 1, 1])
    responded = np.array([True, False, True, True, True, False])
    adj = est.adjust_nonresponse(w, classes, responded)
    # class 0: 40 / 30; class 1: 15 / 10
    assert np.allclose(adj.weights, [10 * 40 / 30, 0, 20 * 40 / 30, 7.5, 7.5, 0])
    assert np.allclose(adj.class_factors, [4 / 3, 1.5])
    assert adj.weights.sum() == pytest.approx(w.sum())
    with pytest.raises(est.EstimationError, match="类别 1 有样本但没有应答者"):
        est.adjust_nonresponse(w, classes, [True, True, True, False, False, False])


def test_trimming_keeps_bounds_and_margins(data: Platform) -> None:
    margins = [data.margin("district_sex", "sex"), data.margin("district_age", "age")]
    design = data.design()
    assert est.rake(design, margins).design.weights.max() > 1570  # district A, aged 18-39
    trimmed = est.trim(design, margins, upper=1500.0, factor_lower=0.5)
    w = trimmed.design.weights
    assert w.max() <= 1500.0 * (1 + 1e-6) and (w / design.weights).min() >= 0.5 * (1 - 1e-6)
    for m in margins:
        got = np.bincount(np.asarray(m.cells), weights=w)
        assert np.max(np.abs(got - np.asarray(m.totals))) / np.asarray(m.totals).sum() <= 1e-10
    assert trimmed.diagnostics.n_trimmed > 0
    assert trimmed.diagnostics.weight_max == pytest.approx(1500.0, rel=1e-6)
    # district B's 18-39 cell needs its weights raised by ~1.9 on average: a cap of 1.3 on the
    # adjustment factor cannot meet the margins
    with pytest.raises(est.EstimationError, match="界限"):
        est.trim(design, margins, factor_upper=1.3, max_rounds=20)


def test_splitting_a_stratum_into_identical_halves(data: Platform) -> None:
    # Stratum C doubled: 2·n_C rows (two identical copies) with N = 2·N_C, versus the same rows as
    # two strata C1, C2 (one copy each, fpc N_C each). f_h is the same, the within-stratum sums
    # of squares add up, and only R's n_h/(n_h − 1) factor differs: with identical halves
    # Var(split) = Var(one stratum) · (n − 1)/(n − 2), n = 2·n_C rows in the doubled stratum.
    district = data.col("district")
    c_rows = np.flatnonzero(district == "C")
    rows = np.concatenate([np.arange(len(district)), c_rows])
    copy = np.concatenate([np.zeros(len(district), dtype=int), np.ones(c_rows.size, dtype=int)])
    w = data.num("w")[rows]
    strata_one = district[rows]
    strata_two = np.where((strata_one == "C") & (copy == 1), "C2", strata_one)
    big_n = data.num("N")[rows]
    fpc_one = np.where(strata_one == "C", 2 * big_n, big_n)
    one = est.Design.from_arrays(w, strata=strata_one, fpc=fpc_one)
    two = est.Design.from_arrays(w, strata=strata_two, fpc=big_n)
    y = np.where(strata_one == "C", data.aware[rows], 0.0)  # a total over stratum C only
    n = 2 * c_rows.size
    assert est.total(two, y).var == pytest.approx(
        est.total(one, y).var * (n - 1) / (n - 2), rel=1e-12
    )
    # strata that were not split keep exactly their contribution
    y_ab = np.where(strata_one == "C", 0.0, data.aware[rows])
    assert est.total(two, y_ab).var == pytest.approx(est.total(one, y_ab).var, rel=1e-12)
