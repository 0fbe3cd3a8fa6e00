"""Benchmark of the estimation core on a city-sized wave, beside R ``survey`` 4.1.1's figures.

Run: ``.venv/bin/python benchmarks/estimation.py`` (about 20 s). A seeded synthetic survey of
1,000,000 respondents in 100 strata (districts, PSU = respondent, fpc = N_h), 2,000 street
domains (20 per district), 8 sex × age cells and a 5-point item with 5 % don't-know (missing).
Times, best of ``REPEATS`` after one warm-up:

(a) design construction (``Design.from_arrays`` with strata and fpc);
(b) raking on the stratum margin and the sex × age margin to relative 1e-10;
(c) mean + SE + t interval for all 2,000 streets on the raked design (``mean_by``);
(d) the city mean on the raked design.

R's times for the same steps on this machine (svydesign, rake, svyby(svymean) + confint,
svymean): 8.4 s, 2.46 s, 114 s, 0.40 s. Targets: (c) ≤ 1.1 s, (b) ≤ 0.25 s, peak memory < 2 GB.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from survey import estimation as est

REPEATS = 5
N = 1_000_000
STRATA = 100
STREETS = 2_000
CELLS = 8
SEED = 20261124


def best_of(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Best wall time in seconds over ``repeats`` runs after one warm-up, and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def synthetic(rng: np.random.Generator) -> dict[str, Any]:
    """Respondents with district (stratum), street, sex × age cell and a 1..5 answer (NaN = 说不清)."""
    street = rng.integers(0, STREETS, N)
    district = street // (STREETS // STRATA)
    cell = rng.integers(0, CELLS, N)
    population = rng.integers(50_000, 400_000, STRATA).astype(np.float64)
    # answers depend on the district and the cell, so raking moves the estimates
    p_good = 0.55 + 0.3 * (district % 7) / 7 + 0.02 * cell
    answer = np.where(rng.random(N) < p_good, rng.integers(4, 6, N), rng.integers(1, 4, N))
    y = answer.astype(np.float64)
    y[rng.random(N) < 0.05] = np.nan
    share = rng.dirichlet(np.full(CELLS, 5.0))
    return {
        "street": street,
        "district": district,
        "cell": cell,
        "population": population,
        "cell_totals": share * population.sum(),
        "y": y,
    }


def main() -> None:
    rng = np.random.default_rng(SEED)
    data = synthetic(rng)
    district = data["district"]
    population = data["population"]
    weights = est.design_weights(district, population)
    fpc = population[district]

    t_design, design = best_of(lambda: est.Design.from_arrays(weights, strata=district, fpc=fpc))
    margins = [
        est.Margin(district, population, "区"),
        est.Margin(data["cell"], data["cell_totals"], "性别×年龄"),
    ]
    t_rake, raked = best_of(lambda: est.rake(design, margins))
    calibrated = raked.design

    def fresh() -> est.Design:
        # a new design object each time, so matrices cached on a calibrated design are rebuilt
        return est.Design.with_calibration(design, calibrated.weights, calibrated.calibrations[-1])

    def streets() -> est.DomainEstimates:
        return est.mean_by(fresh(), data["y"], data["street"], n_groups=STREETS, ci="t")

    t_streets, by_street = best_of(streets)
    t_city, city = best_of(lambda: est.mean(fresh(), data["y"], ci="t"))
    t_shares, _ = best_of(
        lambda: est.proportion_by(fresh(), data["y"], data["street"], [4.0, 5.0], n_groups=STREETS)
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [
        ("(a) design construction", t_design, 8.4, None),
        ("(b) raking: 100 strata + 8 sex×age cells", t_rake, 2.46, 0.25),
        ("(c) mean + SE + CI, 2,000 streets", t_streets, 114.0, 1.1),
        ("(d) city mean", t_city, 0.40, None),
    ]
    extra = [("    share of codes 4–5 + logit CI (street df), 2,000 streets", t_shares)]
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {N:,} respondents")
    print(f"{'step':<44}{'time':>10}{'R survey':>11}{'speed-up':>10}{'target':>9}")
    for name, t, r, target in rows:
        mark = "" if target is None else (f"≤ {target:g} s " + ("✔" if t <= target else "✘"))
        print(f"{name:<44}{t * 1000:>8.0f} ms{r:>9.2f} s{r / t:>9.0f}×  {mark}")
    for name, t in extra:
        print(f"{name:<44}{t * 1000:>8.0f} ms")
    print(f"peak memory (max RSS): {peak_mb:,.0f} MB (target < 2,048 MB)")
    print(
        f"raking: {raked.diagnostics.iterations} passes, max margin error "
        f"{raked.diagnostics.max_margin_error:.1e}, Kish deff {raked.diagnostics.kish_deff:.3f}"
    )
    print(
        f"city mean {city.estimate:.4f} (SE {city.se:.5f}); street SEs "
        f"{np.nanmin(by_street.se):.4f}–{np.nanmax(by_street.se):.4f}"
    )


if __name__ == "__main__":
    main()
