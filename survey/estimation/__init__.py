"""Design-based estimation for 两率一度 waves: weights, Taylor-linearised SEs and intervals.

Pure core (numpy and scipy only: no web framework, ORM or templates), shaped like R's ``survey``
package (Lumley) and checked against survey 4.1.1 to 1e-8 relative: one immutable
:class:`Design`, small estimators over it, one variance routine (``variance.domain_variance``)
that every estimator hands its linearised scores to, and calibration that returns a new design
remembering the calibration so that SEs stay honest. Invalid input raises
:class:`EstimationError` with a message in 简体中文.

Public API
----------
Design (``survey.estimation.design``):

* ``Design.from_arrays(weights, *, strata=None, psu=None, fpc=None, lonely_psu="fail")`` — per-row
  arrays; ``psu=None`` means PSU = respondent; ``fpc`` is N_h (> 1) or the sampling fraction (≤ 1);
  ``lonely_psu`` ``"fail"`` | ``"certainty"`` | ``"adjust"`` as R. Attributes ``weights``,
  ``stratum``, ``psu``, ``n_psu``, ``sampling_fraction``, ``calibrations``; ``n``, ``df``
  (R ``degf``), ``population_size``, ``domain_df(rows)``, ``with_weights(w)``;
* ``design_weights(strata, population)`` — N_h / n_h per respondent;
* ``factorize(values) -> (codes, labels)`` — integer codes for labels.

Estimators (``survey.estimation.estimators``), y a float array with NaN = missing (R
``na.rm=TRUE``: missing answers are out of the domain, the rows stay in the design):

* ``mean(design, y, *, domain=None, ci="normal"|"t", level=0.95, df=None) -> Estimate``;
* ``total(design, y, *, domain, ci, level, df) -> Estimate``;
* ``proportion(design, y, codes=None, *, domain, ci="logit"|"t"|"normal"|"beta"|"mean"|"arcsine"|
  "likelihood", level, df) -> Estimate`` — share of valid answers whose code is in ``codes``;
* ``distribution(design, y, categories=None, *, domain, ci, level, df) -> {code: Estimate}``;
* ``mean_by(design, y, groups, *, n_groups=None, ci, level, df) -> DomainEstimates``, and
  ``total_by``, ``proportion_by(design, y, groups, codes=None, ...)``, ``distribution_by`` —
  ``groups`` are integer domain codes 0..G-1 per row (−1 = in no domain); every domain at once.
* ``indicator(y, codes) -> array`` — 1/0 with NaN kept.

``Estimate`` (frozen): ``estimate, se, var, ci_lower, ci_upper, df`` (None = normal), ``n`` (valid
answers in the domain), ``n_missing``, ``deff`` (vs SRS without replacement, as R; None where
undefined), ``n_eff`` (= n/deff), ``level``, ``method``, ``statistic``. ``DomainEstimates`` has the
same fields as read-only column arrays (df ``inf`` = normal, NaN = undefined) and
``result[g] -> Estimate``.

Intervals: ``normal``/``t`` as R ``confint`` (t uses the full design's df = PSUs − strata);
``logit`` (default for proportions), ``mean``, ``arcsine``, ``beta`` (Korn–Graubard) and
``likelihood`` (profile likelihood of the quasibinomial svyglm) as R
``svyciprop`` with each domain's own df (PSUs with a valid answer in the domain minus their
strata, as ``svyby(..., svyciprop)``). A share of exactly 0 or 1 gets SE 0, the interval [p, p]
(beta: Clopper–Pearson on n) and deff None.

Weighting (``survey.estimation.weighting``), each returning a ``Weighting(design, diagnostics)``:

* ``Margin(cells, totals, name="")`` — cell code 0..K-1 per row and N_c per cell; a
  cross-classification (district × sex) is one margin: ``cross_cells(district, sex, sizes=(D, 2))``;
* ``rake(design, margins, *, tolerance=1e-10, max_iter=1000, epsilon=None)`` — to relative
  1e-10 on every margin, or ``EstimationError`` naming the margin (empty cell, population 0,
  inconsistent totals, no convergence); ``epsilon`` reproduces R's ``control`` stopping rule;
* ``post_stratify(design, cells, totals, *, name="")``;
* ``trim(design, margins, *, lower, upper, factor_lower, factor_upper, max_rounds=50, ...)`` —
  rake, trim to the bounds, re-rake until both hold;
* ``adjust_nonresponse(weights, classes, responded) -> NonresponseAdjustment`` (weighting classes);
* ``weight_diagnostics(weights, base_weights=None) -> WeightingDiagnostics`` — ``kish_deff``
  (1 + CV²), ``n_eff``, ``weight_min/max/ratio``, ``factor_min/max/ratio``, ``iterations``,
  ``max_margin_error`` (relative), ``converged``, ``n_trimmed``.

SEs after ``post_stratify`` and ``rake`` are those of R: the scores lose their post-stratum means
(old-weighted for ``postStratify``; ten sweeps of unweighted cell means over the raking margins
with the weights stored after each margin's step) before the stratified between-PSU variance.

Typical use (strata = districts, PSU = respondent, don't-know = missing, streets as domains)::

    import numpy as np
    from survey import estimation as est

    rng = np.random.default_rng(20261124)
    n = 2_000
    district = rng.integers(0, 4, n)                  # stratum of each respondent
    street = district * 5 + rng.integers(0, 5, n)     # 20 streets, 5 per district
    sex = rng.integers(0, 2, n)
    answer = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0, 9.0], n)   # 9 = 说不清
    answer[answer == 9.0] = np.nan
    population = np.array([40_000.0, 25_000.0, 60_000.0, 15_000.0])
    design = est.Design.from_arrays(
        est.design_weights(district, population), strata=district, fpc=population[district]
    )
    by_sex = est.Margin(
        est.cross_cells(district, sex, sizes=(4, 2)), np.repeat(population / 2, 2), "区×性别"
    )
    raked = est.rake(design, [by_sex])
    safe = est.proportion_by(raked.design, answer, street, codes=[1, 2, 3])  # logit CIs
    city = est.proportion(raked.design, answer, codes=[1, 2, 3])
    print(raked.diagnostics.kish_deff, city.estimate, city.ci_lower, safe.ci_upper[:3])

All randomness in examples and benchmarks comes from a seeded ``numpy.random.Generator``; the
core itself draws nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lazy_exports import lazy_exports
from survey.estimation.errors import EstimationError

if TYPE_CHECKING:
    from survey.estimation.design import (
        Calibration,
        CalibrationBlock,
        Design,
        design_weights,
        factorize,
    )
    from survey.estimation.estimators import (
        DomainEstimates,
        Estimate,
        distribution,
        distribution_by,
        indicator,
        mean,
        mean_by,
        proportion,
        proportion_by,
        total,
        total_by,
    )
    from survey.estimation.weighting import (
        Margin,
        NonresponseAdjustment,
        Weighting,
        WeightingDiagnostics,
        adjust_nonresponse,
        cross_cells,
        post_stratify,
        rake,
        trim,
        weight_diagnostics,
    )

# numpy/scipy behind these names: imported on first use (the command line stays light).
__getattr__ = lazy_exports(
    __name__,
    {
        "survey.estimation.design": (
            "Calibration",
            "CalibrationBlock",
            "Design",
            "design_weights",
            "factorize",
        ),
        "survey.estimation.estimators": (
            "DomainEstimates",
            "Estimate",
            "distribution",
            "distribution_by",
            "indicator",
            "mean",
            "mean_by",
            "proportion",
            "proportion_by",
            "total",
            "total_by",
        ),
        "survey.estimation.weighting": (
            "Margin",
            "NonresponseAdjustment",
            "Weighting",
            "WeightingDiagnostics",
            "adjust_nonresponse",
            "cross_cells",
            "post_stratify",
            "rake",
            "trim",
            "weight_diagnostics",
        ),
    },
)


__all__ = [
    "Calibration",
    "CalibrationBlock",
    "Design",
    "DomainEstimates",
    "Estimate",
    "EstimationError",
    "Margin",
    "NonresponseAdjustment",
    "Weighting",
    "WeightingDiagnostics",
    "adjust_nonresponse",
    "cross_cells",
    "design_weights",
    "distribution",
    "distribution_by",
    "factorize",
    "indicator",
    "mean",
    "mean_by",
    "post_stratify",
    "proportion",
    "proportion_by",
    "rake",
    "total",
    "total_by",
    "trim",
    "weight_diagnostics",
]
