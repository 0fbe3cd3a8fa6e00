"""The platform's survey shape checked against R survey 4.1.1 (fixture platform/platform.R).

Strata = districts with fpc = N_h and weight N_h/n_h, PSU = respondent, 说不清 (code 9) as missing
with ``na.rm = TRUE``, streets as domains (a3 and c2 have fewer than 10 respondents), raking on
district × sex and district × age, post-stratification on district × sex, lonely-PSU rules.
Every number of platform_expected.json is compared to 1e-8 relative, except (written reasons):

* ``svyciprop`` / ``svyby(..., svyciprop)`` on the raked and post-stratified designs report
  SE = NA in R (a subset of a calibrated design keeps its rows, NAs included); the SEs of those
  shares are checked in the ``svymean_safe`` and ``svyby_safe_mean`` blocks instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from survey import estimation as est
from survey.estimation.intervals import quantile
from tests.estimation._api import Walker, close
from tests.estimation._platform import Platform, load_platform, platform_expected

NA_SE = "R reports SE = NA for svyby(svyciprop) on a calibrated design (see svyby_safe_mean)"


@pytest.fixture(scope="module")
def data() -> Platform:
    return load_platform()


@pytest.fixture(scope="module")
def exp() -> dict[str, Any]:
    return platform_expected()


def designs(data: Platform) -> dict[str, est.Design]:
    base = data.design()
    return {
        "design": base,
        "raked": est.rake(
            base, [data.margin("district_sex", "sex"), data.margin("district_age", "age")]
        ).design,
        "poststratified": est.post_stratify(
            base,
            data.margin("district_sex", "sex").cells,
            data.margin("district_sex", "sex").totals,
        ).design,
    }


def stat(
    w: Walker, path: list[Any], r: est.Estimate, t: est.Estimate | None, design: est.Design
) -> None:
    block = w.at(path)
    w.check([*path, "estimate"], r.estimate)
    w.check([*path, "se"], r.se)
    w.check([*path, "var"], r.var)
    w.check([*path, "ci_normal_lower"], r.ci_lower)
    w.check([*path, "ci_normal_upper"], r.ci_upper)
    if t is not None:
        w.check([*path, "df_t"], t.df)
        w.check([*path, "t_quantile"], float(quantile(0.95, np.array([design.df]))[0]))
        w.check([*path, "ci_t_lower"], t.ci_lower)
        w.check([*path, "ci_t_upper"], t.ci_upper)
    if "deff" in block:
        w.check([*path, "deff"], r.deff)


def by_block(w: Walker, path: list[Any], res: est.DomainEstimates, labels: list[str]) -> None:
    assert w.at([*path, "street"]) == labels
    w.check([*path, "estimate"], res.estimate)
    w.check([*path, "se"], res.se)
    w.check([*path, "ci_lower"], res.ci_lower)
    w.check([*path, "ci_upper"], res.ci_upper)


@pytest.mark.parametrize("name", ["design", "raked", "poststratified"])
def test_design_blocks(data: Platform, exp: dict[str, Any], name: str) -> None:
    design = designs(data)[name]
    w = Walker(exp[name], name)
    w.check(["degf"], design.df)
    w.check(["weights"], design.weights)
    stat(
        w,
        ["svymean_score"],
        est.mean(design, data.score),
        est.mean(design, data.score, ci="t"),
        design,
    )
    stat(
        w,
        ["svytotal_aware"],
        est.total(design, data.aware),
        est.total(design, data.aware, ci="t"),
        design,
    )
    stat(
        w,
        ["svymean_safe"],
        est.mean(design, data.safe),
        est.mean(design, data.safe, ci="t"),
        design,
    )
    streets, labels = data.streets()
    by_block(w, ["svyby_score_mean"], est.mean_by(design, data.score, streets), labels)
    t = est.mean_by(design, data.score, streets, ci="t")
    w.check(["svyby_score_mean", "ci_t", "lower"], t.ci_lower)
    w.check(["svyby_score_mean", "ci_t", "upper"], t.ci_upper)
    w.check(["svyby_score_mean", "ci_t", "df"], design.df)
    by_block(w, ["svyby_aware_total"], est.total_by(design, data.aware, streets), labels)
    by_block(w, ["svyby_safe_mean"], est.mean_by(design, data.safe, streets), labels)
    for method in ("logit", "beta", "likelihood"):
        city = est.proportion(design, data.safe, ci=method)  # type: ignore[arg-type]
        path = [f"svyciprop_safe_{method}"]
        for key in ("estimate", "ci_lower", "ci_upper", "df"):
            w.check([*path, key], getattr(city, key))
        if w.at([*path, "se"]) is None:
            w.skip([*path, "se"], NA_SE + " (svymean_safe)")
        else:
            w.check([*path, "se"], city.se)
        res = est.proportion_by(design, data.safe, streets, ci=method)  # type: ignore[arg-type]
        path = [f"svyby_safe_{method}"]
        assert w.at([*path, "street"]) == labels
        w.check([*path, "estimate"], res.estimate)
        w.check([*path, "ci_lower"], res.ci_lower)
        w.check([*path, "ci_upper"], res.ci_upper)
        w.check([*path, "df"], res.df)
        if name == "design":
            w.check([*path, "se"], res.se)
        else:
            w.skip([*path, "se"], NA_SE)
    w.finish()


def test_missing_rows_dropped_first_is_wrong(data: Platform, exp: dict[str, Any]) -> None:
    w = Walker(exp["WRONG_drop_missing_first"], "WRONG")
    keep = ~np.isnan(data.score)
    wrong = est.Design.from_arrays(
        data.num("w")[keep], strata=data.col("district")[keep], fpc=data.num("N")[keep]
    )
    r = est.mean(wrong, data.score[keep])
    for key in ("estimate", "se", "var"):
        w.check([key], getattr(r, key))
    w.check(["ci_normal_lower"], r.ci_lower)
    w.check(["ci_normal_upper"], r.ci_upper)
    w.finish()
    right = est.mean(data.design(), data.score)
    assert not close(right.se, exp["WRONG_drop_missing_first"]["se"][0], 1e-6)
    assert close(right.se, exp["design"]["svymean_score"]["se"][0])


@pytest.mark.parametrize("rule", ["adjust", "certainty"])
def test_lonely_psu_rules(data: Platform, exp: dict[str, Any], rule: str) -> None:
    extra = data.rows[0] | {"id": "999", "district": "D", "street": "d1", "N": "500", "w": "500"}
    lone = Platform([*data.rows, extra])
    design = est.Design.from_arrays(
        lone.num("w"),
        strata=lone.col("district"),
        fpc=lone.num("N"),
        lonely_psu=rule,  # type: ignore[arg-type]
    )
    for key, y, fn in (("", lone.score, est.mean), ("_total", lone.aware, est.total)):
        w = Walker(exp[f"lonely_{rule}{key}"], f"lonely_{rule}{key}")
        stat(w, [], fn(design, y), fn(design, y, ci="t"), design)
        w.finish()
    with pytest.raises(est.EstimationError, match="只有 1 个 PSU"):
        est.Design.from_arrays(lone.num("w"), strata=lone.col("district"), fpc=lone.num("N"))


def test_meta(exp: dict[str, Any]) -> None:
    assert exp["meta"]["survey_version"] == "4.1.1"
    assert exp["meta"]["survey.lonely.psu"] == "fail"
