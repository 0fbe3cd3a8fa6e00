"""Every number R survey 4.1.1 computed on the api data (expected/api_expected.json and
expected/apiclus1_weights.csv), reproduced to 1e-8 relative.

The expected values were produced by R (tests/fixtures/estimation/reference/r/01_api.R, copied
from ../shared/reference); nothing here comes from our own output. Each test walks one block of
the JSON and fails if any number in it was not compared, so a number can only be left out with
a written reason (``Walker.skip`` / ``Walker.check_abs``), listed in this module:

* margin errors of converged raking (and of the last margin under R's default control) and
  ``max_abs_weight_diff_vs_rake_converged``: R's values (9.1e-13, 1.4e-14, 0) are floating-point
  noise; we check that ours and R's are both below 1e-9 of the population total (6,194 schools;
  1e-9 absolute for the weight difference) instead of comparing noise to noise.
* ``calibrate(calfun="raking")`` blocks: we implement ``rake``; the reference README documents
  that in these data both give the same weights (to 1.4e-14) and the same SEs (to ~1e-13), so
  these numbers are checked against our converged ``rake`` design.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from survey import estimation as est
from survey.estimation.intervals import quantile
from tests.estimation._api import REFERENCE, Api, Walker, close, expected, load, read_rows

LEVEL = 0.95
NOISE = 1e-9


@pytest.fixture(scope="module")
def exp() -> dict[str, Any]:
    return expected()


@pytest.fixture(scope="module")
def apistrat() -> Api:
    return load("apistrat")


@pytest.fixture(scope="module")
def apiclus1() -> Api:
    return load("apiclus1")


@pytest.fixture(scope="module")
def apipop() -> Api:
    return load("apipop")


def codes_of(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    codes, labels = est.factorize(values.astype(str))
    return codes, [str(x) for x in labels]


def check_stat(
    w: Walker,
    path: list[Any],
    design: est.Design,
    y: np.ndarray,
    *,
    kind: str = "mean",
    domain: np.ndarray | None = None,
) -> None:
    """A ``svystat_list`` block: estimate, se, var, normal and t CIs, df_t, t_quantile, deff."""
    fn = est.mean if kind == "mean" else est.total
    normal = fn(design, y, domain=domain)
    block = w.at(path)
    w.check([*path, "estimate"], normal.estimate)
    w.check([*path, "se"], normal.se)
    w.check([*path, "var"], normal.var)
    w.check([*path, "ci_normal_lower"], normal.ci_lower)
    w.check([*path, "ci_normal_upper"], normal.ci_upper)
    if "df_t" in block:
        t = fn(design, y, domain=domain, ci="t")
        w.check([*path, "df_t"], t.df)
        w.check([*path, "t_quantile"], float(quantile(LEVEL, np.array([design.df]))[0]))
        w.check([*path, "ci_t_lower"], t.ci_lower)
        w.check([*path, "ci_t_upper"], t.ci_upper)
    if "deff" in block:
        w.check([*path, "deff"], normal.deff)


def check_by(
    w: Walker,
    path: list[Any],
    design: est.Design,
    y: np.ndarray,
    labels: np.ndarray,
    by_name: str,
    *,
    kind: str = "mean",
) -> None:
    """A ``svyby_list`` block; the by-levels are compared as labels in R's sorted order."""
    codes, names = codes_of(labels)
    assert names == w.at([*path, by_name]), f"{path}: levels"
    fn = est.mean_by if kind == "mean" else est.total_by
    normal = fn(design, y, codes)
    t = fn(design, y, codes, ci="t")
    w.check([*path, "estimate"], normal.estimate)
    w.check([*path, "se"], normal.se)
    w.check([*path, "ci_normal_lower"], normal.ci_lower)
    w.check([*path, "ci_normal_upper"], normal.ci_upper)
    w.check([*path, "df_t"], design.df)
    w.check([*path, "ci_t_lower"], t.ci_lower)
    w.check([*path, "ci_t_upper"], t.ci_upper)


CIPROP = {
    "logit": "logit",
    "likelihood": "likelihood",
    "asin": "arcsine",
    "beta": "beta",
    "mean": "mean",
    "xlogit": "logit",
}


def check_ciprop(w: Walker, path: list[Any], design: est.Design, yes: np.ndarray) -> None:
    """``svyciprop`` with every method (``xlogit`` is the logit interval on the exact mean)."""
    for r_method, ours in CIPROP.items():
        p = est.proportion(design, yes, ci=ours)  # type: ignore[arg-type]
        w.check([*path, r_method, "estimate"], p.estimate)
        w.check([*path, r_method, "se"], p.se)
        w.check([*path, r_method, "ci_lower"], p.ci_lower)
        w.check([*path, r_method, "ci_upper"], p.ci_upper)
        w.check([*path, r_method, "df"], p.df)
    p_inf = est.proportion(design, yes, ci="logit", df=math.inf)
    for key, value in (
        ("estimate", p_inf.estimate),
        ("se", p_inf.se),
        ("ci_lower", p_inf.ci_lower),
        ("ci_upper", p_inf.ci_upper),
        ("df", p_inf.df),
    ):
        w.check([*path, "logit_df_Inf", key], value)


def strat_design(apistrat: Api, *, fpc: bool) -> est.Design:
    return est.Design.from_arrays(
        apistrat.num("pw"),
        strata=apistrat.col("stype").astype(str),
        fpc=apistrat.num("fpc") if fpc else None,
    )


def strat_block(w: Walker, design: est.Design, d: Api) -> None:
    w.check(["n"], design.n)
    w.check(["degf"], design.df)
    api00, enroll = d.num("api00"), d.num("enroll")
    check_stat(w, ["svymean_api00"], design, api00)
    check_stat(w, ["svytotal_enroll"], design, enroll, kind="total")
    # svymean(~sch.wide): the share of each level, normal and t intervals
    sch = d.col("sch.wide").astype(str)
    codes, names = codes_of(sch)
    assert (
        names
        == ["No", "Yes"]
        == [s.removeprefix("sch.wide") for s in w.at(["svymean_sch.wide_factor", "names"])]
    )
    normal = est.distribution(design, codes, ci="normal")
    t = est.distribution(design, codes, ci="t")
    path = ["svymean_sch.wide_factor"]
    w.check([*path, "estimate"], [normal[c].estimate for c in (0.0, 1.0)])
    w.check([*path, "se"], [normal[c].se for c in (0.0, 1.0)])
    w.check([*path, "var"], [normal[c].var for c in (0.0, 1.0)])
    w.check([*path, "ci_normal_lower"], [normal[c].ci_lower for c in (0.0, 1.0)])
    w.check([*path, "ci_normal_upper"], [normal[c].ci_upper for c in (0.0, 1.0)])
    w.check([*path, "df_t"], design.df)
    w.check([*path, "t_quantile"], float(quantile(LEVEL, np.array([design.df]))[0]))
    w.check([*path, "ci_t_lower"], [t[c].ci_lower for c in (0.0, 1.0)])
    w.check([*path, "ci_t_upper"], [t[c].ci_upper for c in (0.0, 1.0)])
    check_by(w, ["svyby_api00_by_awards"], design, api00, d.col("awards"), "awards")
    check_by(w, ["svyby_api00_by_sch.wide"], design, api00, d.col("sch.wide"), "sch.wide")
    check_by(w, ["svyby_api00_by_stype"], design, api00, d.col("stype"), "stype")
    check_by(
        w, ["svyby_enroll_total_by_awards"], design, enroll, d.col("awards"), "awards", kind="total"
    )
    check_ciprop(w, ["svyciprop_sch.wide_Yes"], design, (sch == "Yes").astype(float))


def test_meta_level(exp: dict[str, Any]) -> None:
    w = Walker(exp["meta"], "meta")
    w.check(["level"], LEVEL)
    w.finish()
    assert exp["meta"]["survey_version"] == "4.1.1"


@pytest.mark.parametrize("with_fpc", [True, False])
def test_apistrat(exp: dict[str, Any], apistrat: Api, with_fpc: bool) -> None:
    name = "apistrat_fpc" if with_fpc else "apistrat_nofpc"
    w = Walker(exp[name], name)
    strat_block(w, strat_design(apistrat, fpc=with_fpc), apistrat)
    w.finish()


def test_apistrat_domains(exp: dict[str, Any], apistrat: Api) -> None:
    w = Walker(exp["apistrat_fpc_domains"], "apistrat_fpc_domains")
    design = strat_design(apistrat, fpc=True)
    api00 = apistrat.num("api00")
    awards = apistrat.col("awards").astype(str)
    for level in ("Yes", "No"):
        mask = awards == level
        key = f"awards_{level}"
        w.check([key, "n_domain"], est.mean(design, api00, domain=mask).n)
        check_stat(w, [key, "correct"], design, api00, domain=mask)
        w.check([key, "correct", "degf_of_domain_design"], design.domain_df(mask))
        # The wrong way (a design rebuilt on the domain rows) gives R's WRONG numbers, and the
        # right way does not: the domain really uses the full design.
        sub = est.Design.from_arrays(
            apistrat.num("pw")[mask],
            strata=apistrat.col("stype")[mask].astype(str),
            fpc=apistrat.num("fpc")[mask],
        )
        check_stat(w, [key, "WRONG_subset_before_design"], sub, api00[mask])
        right = est.mean(design, api00, domain=mask).se
        assert not close(right, w.at([key, "WRONG_subset_before_design", "se", 0]), 1e-4)
    check_stat(
        w,
        ["svytotal_enroll_awards_Yes"],
        design,
        apistrat.num("enroll"),
        kind="total",
        domain=awards == "Yes",
    )
    both = (apistrat.col("stype") == "E") & (apistrat.col("sch.wide") == "Yes")
    check_stat(
        w, ["svymean_api00_stypeE_and_sch.wide_Yes"], design, api00, domain=both.astype(bool)
    )
    w.finish()


def clus1_design(apiclus1: Api) -> est.Design:
    return est.Design.from_arrays(
        apiclus1.num("pw"), psu=apiclus1.num("dnum").astype(int), fpc=apiclus1.num("fpc")
    )


def test_apiclus1(exp: dict[str, Any], apiclus1: Api) -> None:
    w = Walker(exp["apiclus1"], "apiclus1")
    design = clus1_design(apiclus1)
    w.check(["n"], design.n)
    w.check(["n_psu"], design.n_psus)
    w.check(["degf"], design.df)
    api00 = apiclus1.num("api00")
    check_stat(w, ["svymean_api00"], design, api00)
    check_stat(w, ["svytotal_enroll"], design, apiclus1.num("enroll"), kind="total")
    check_by(w, ["svyby_api00_by_stype"], design, api00, apiclus1.col("stype"), "stype")
    check_by(w, ["svyby_api00_by_sch.wide"], design, api00, apiclus1.col("sch.wide"), "sch.wide")
    yes = (apiclus1.col("sch.wide") == "Yes").astype(float)
    check_ciprop(w, ["svyciprop_sch.wide_Yes"], design, yes)
    w.finish()


def population_margin(apipop: Api, column: str) -> tuple[list[str], np.ndarray]:
    labels, counts = np.unique(apipop.col(column).astype(str), return_counts=True)
    return [str(x) for x in labels], counts.astype(float)


def test_apiclus1_poststratify(exp: dict[str, Any], apiclus1: Api, apipop: Api) -> None:
    w = Walker(exp["apiclus1_poststratify"], "apiclus1_poststratify")
    labels, counts = population_margin(apipop, "stype")
    assert labels == w.at(["population_margin_stype", "stype"])
    w.check(["population_margin_stype", "Freq"], counts)
    stype, names = codes_of(apiclus1.col("stype"))
    assert names == labels
    ps = est.post_stratify(clus1_design(apiclus1), stype, counts).design
    api00 = apiclus1.num("api00")
    check_stat(w, ["svymean_api00"], ps, api00)
    check_stat(w, ["svytotal_enroll"], ps, apiclus1.num("enroll"), kind="total")
    check_by(w, ["svyby_api00_by_stype"], ps, api00, apiclus1.col("stype"), "stype")
    check_by(w, ["svyby_api00_by_sch.wide"], ps, api00, apiclus1.col("sch.wide"), "sch.wide")
    w.check(["sum_weights"], ps.population_size)
    w.finish()


def rake_margins(apiclus1: Api, apipop: Api) -> list[est.Margin]:
    out = []
    for column in ("stype", "sch.wide"):
        labels, counts = population_margin(apipop, column)
        codes, names = codes_of(apiclus1.col(column))
        assert names == labels
        out.append(est.Margin(codes, counts, column))
    return out


def abs_margin_errors(design: est.Design, margins: list[est.Margin]) -> list[float]:
    errors = []
    for m in margins:
        got = np.bincount(
            np.asarray(m.cells), weights=design.weights, minlength=len(np.asarray(m.totals))
        )
        errors.append(float(np.max(np.abs(got - np.asarray(m.totals)))))
    return errors


def test_apiclus1_rake(exp: dict[str, Any], apiclus1: Api, apipop: Api) -> None:
    w = Walker(exp["apiclus1_rake"], "apiclus1_rake")
    margins = rake_margins(apiclus1, apipop)
    for column, m in zip(("stype", "sch.wide"), margins, strict=True):
        w.check([f"population_margin_{column}", "Freq"], m.totals)
        assert w.at([f"population_margin_{column}", column]) == codes_of(apipop.col(column))[1]
    design = clus1_design(apiclus1)
    api00, enroll = apiclus1.num("api00"), apiclus1.num("enroll")

    # R's default control (maxit = 10, epsilon = 1 weighted count): same stopping rule.
    default = est.rake(design, margins, epsilon=1.0, max_iter=10).design
    check_stat(w, ["rake_default_control", "svymean_api00"], default, api00)
    errors = abs_margin_errors(default, margins)
    w.check(["rake_default_control", "max_abs_margin_error", 0], errors[0])
    w.check_abs(
        ["rake_default_control", "max_abs_margin_error", 1],
        errors[1],
        NOISE * 6194,
        "the last margin of a pass is met exactly: rounding noise",
    )

    raked = est.rake(design, margins)  # to relative 1e-10 on every margin
    for path in (["rake_converged"], ["calibrate_raking"]):
        check_stat(w, [*path, "svymean_api00"], raked.design, api00)
        check_stat(w, [*path, "svytotal_enroll"], raked.design, enroll, kind="total")
        w.check_abs(
            [*path, "max_abs_margin_error"],
            abs_margin_errors(raked.design, margins),
            NOISE * 6194,
            "converged margins: R's errors are rounding noise",
        )
    check_by(
        w,
        ["rake_converged", "svyby_api00_by_stype"],
        raked.design,
        api00,
        apiclus1.col("stype"),
        "stype",
    )
    pop = w.at(["calibrate_raking", "population"])
    w.check(["calibrate_raking", "population", "(Intercept)"], apipop.n)
    for key, (column, level) in {
        "stypeH": ("stype", "H"),
        "stypeM": ("stype", "M"),
        "sch.wideYes": ("sch.wide", "Yes"),
    }.items():
        w.check(["calibrate_raking", "population", key], float(np.sum(apipop.col(column) == level)))
    assert set(pop) == {"(Intercept)", "stypeH", "stypeM", "sch.wideYes"}
    w.check_abs(
        ["calibrate_raking", "max_abs_weight_diff_vs_rake_converged"],
        0.0,
        NOISE,
        "difference of two converged solutions: rounding noise (our weights are checked per row)",
    )
    w.skip(["note"], "text")
    w.finish()


def test_apiclus1_weights_every_row(apiclus1: Api, apipop: Api) -> None:
    rows = read_rows(REFERENCE / "expected" / "apiclus1_weights.csv")
    assert len(rows) == apiclus1.n
    design = clus1_design(apiclus1)
    margins = rake_margins(apiclus1, apipop)
    stype_counts = population_margin(apipop, "stype")[1]
    ours = {
        "pw": design.weights,
        "w_poststratify_stype": est.post_stratify(
            design, margins[0].cells, stype_counts
        ).design.weights,
        "w_rake_default": est.rake(design, margins, epsilon=1.0, max_iter=10).design.weights,
        "w_rake_converged": est.rake(design, margins).design.weights,
        # calibrate(calfun="raking") converges to the same weights as rake (module docstring)
        "w_calibrate_raking": est.rake(design, margins).design.weights,
    }
    failures = []
    for i, (row, data) in enumerate(zip(rows, apiclus1.rows, strict=True)):
        assert int(row["row"]) == i + 1
        for key in ("cds", "snum", "dnum", "stype", "sch.wide"):
            assert row[key] == data[key], (i, key)
        for key, values in ours.items():
            if not close(float(values[i]), float(row[key])):
                failures.append(f"row {i + 1} {key}: ours {values[i]!r}, R {row[key]}")
    assert not failures, "\n".join(failures[:20])
    # every numeric column of the file was compared
    assert set(rows[0]) == {"row", "cds", "snum", "dnum", "stype", "sch.wide", *ours}


def test_fixture_copy_is_the_shared_reference() -> None:
    shared = REFERENCE.parents[3].parent / "shared" / "reference"
    if not shared.is_dir():
        pytest.skip("../shared/reference is not present beside the repository")
    for rel in (
        "expected/api_expected.json",
        "expected/apiclus1_weights.csv",
        "data/apiclus1.csv",
        "data/apistrat.csv",
        "data/apipop.csv",
        "r/01_api.R",
    ):
        assert (REFERENCE / rel).read_bytes() == (shared / rel).read_bytes(), rel
