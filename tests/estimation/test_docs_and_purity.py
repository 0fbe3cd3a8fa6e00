"""The package documentation names every public name and its usage example runs; the core
imports no web framework, ORM or template engine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from survey import estimation as est


def test_every_public_name_is_documented() -> None:
    doc = est.__doc__ or ""
    internal = {"Calibration", "CalibrationBlock"}  # what a design remembers; not called by users
    assert [name for name in est.__all__ if name not in doc and name not in internal] == []
    for name in est.__all__:
        assert getattr(getattr(est, name), "__doc__", None), name


def test_usage_example_in_the_package_doc_runs(capsys: object) -> None:
    doc = est.__doc__ or ""
    start = doc.index("Typical use")
    block = doc[doc.index("::", start) + 2 : doc.index("All randomness", start)]
    code = "\n".join(line[4:] for line in block.splitlines())
    namespace: dict[str, object] = {}
    exec(compile(code, "survey.estimation.__doc__", "exec"), namespace)
    raked = namespace["raked"]
    safe = namespace["safe"]
    city = namespace["city"]
    assert isinstance(raked, est.Weighting) and raked.diagnostics.max_margin_error <= 1e-10
    assert isinstance(safe, est.DomainEstimates) and len(safe) == 20
    assert isinstance(city, est.Estimate) and 0 < city.ci_lower < city.estimate < city.ci_upper < 1
    assert np.all((safe.ci_lower >= 0) & (safe.ci_upper <= 1))


def test_core_imports_no_web_orm_or_templates() -> None:
    code = (
        "import sys, survey.estimation\n"
        "bad = [m for m in ('litestar', 'piccolo', 'jinja2', 'pandas', 'survey.db', 'survey.web')"
        " if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
