"""The published figures equal what R ``survey`` computes from the export, on two waves.

``tests/fixtures/r/`` holds the export of that wave (``.sav`` and the raking margins), the R script
that ``survey results export 2026-10 --microdata --format sav --with-script r`` wrote beside it,
and what R 4.2.2 / survey 4.1.1 printed and wrote when it ran that script once (README there).
No R runs here: the tests check that the platform still exports the same data and script, and that
every published estimate and SE equals R's to 1e-8 relative, and every CI too except where the
platform shows a Korn–Graubard interval for a share of exactly 0 % or 100 % (docs/results.md).

The second wave (``trimmed-wave.csv``, 300 delivered interviews, two strata with different design
weights, young men scarce) makes the trimming bind, so R redoes raking, trimming and re-raking.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pyreadstat
import pytest

from survey.db.tables import Programme, Wave
from survey.results.compute import compute_wave
from survey.results.importing import import_responses
from survey.results.microdata import load_microdata
from survey.results.queries import results_for_wave
from survey.results.scripts import script_file
from tests.results.conftest import build_small_city

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "r"
STEM = "microdata-nancheng-lsyd-2026-10"
TRIMMED = "microdata-nancheng-lsyd-2026-12"
REL = 1e-8


async def _wave_id(month: str = "2026-10") -> int:
    row = await Wave.select(Wave.id).where(Wave.month == month).first()
    assert row is not None
    return int(row["id"])


async def build_trimmed_wave() -> int:
    """The small city, its closed wave 2026-12 with ``trimmed-wave.csv`` imported, computed."""
    await build_small_city()
    programme = await Programme.select(Programme.id).first()
    assert programme is not None
    await Wave.insert(Wave(programme=programme["id"], month="2026-12", status="closed"))
    wave_id = await _wave_id("2026-12")
    await import_responses(
        wave_id, FIXTURES / "trimmed-wave.csv", "liangshuaiyidu", None, username="test"
    )
    await compute_wave(wave_id, username="test")
    return wave_id


def _r_results(stem: str = STEM) -> dict[tuple[str, str, str], dict[str, float]]:
    with (FIXTURES / f"{stem}-r-results.csv").open(encoding="utf-8") as f:
        return {
            (r["index"], r["level"], r["unit_code"]): {
                k: float(r[k]) for k in ("estimate", "se", "ci_lower", "ci_upper")
            }
            for r in csv.DictReader(f)
        }


def _close(ours: float | None, theirs: float) -> bool:
    assert ours is not None
    if theirs == 0.0:
        return abs(ours) <= 1e-12
    return abs(ours - theirs) <= REL * abs(theirs)


async def test_published_figures_equal_r_survey(demo_city: None) -> None:
    rows = await results_for_wave(await _wave_id())
    expected = _r_results()
    assert {(r.index_id, r.level, r.unit_code) for r in rows} == set(expected)
    korn_graubard = 0
    for row in rows:
        r = expected[(row.index_id, row.level, row.unit_code)]
        where = f"{row.index_id} {row.unit_code}"
        assert _close(row.estimate, r["estimate"]), (where, row.estimate, r["estimate"])
        assert _close(row.se, r["se"]), (where, row.se, r["se"])
        if row.ci_method == "korn_graubard":
            # a share of 100 %: R's logit interval is the point [100, 100]; the platform shows
            # the Korn–Graubard interval from n_eff instead (docs/results.md)
            assert row.estimate in (0.0, 100.0) and row.se == 0.0
            assert r["ci_lower"] == pytest.approx(r["ci_upper"], abs=1e-9)
            korn_graubard += 1
            continue
        assert _close(row.ci_lower, r["ci_lower"]), (where, row.ci_lower, r["ci_lower"])
        assert _close(row.ci_upper, r["ci_upper"]), (where, row.ci_upper, r["ci_upper"])
    assert korn_graubard == 1  # 990102P07: every weighted answer 安全 this month


async def test_trimmed_wave_equals_r_survey(db: None) -> None:
    wave_id = await build_trimmed_wave()
    md = await load_microdata(wave_id)
    assert md.summary.trimmed
    factors = [r["weight"] / r["base_weight"] for r in md.records]
    raked = [r["raked_weight"] / r["base_weight"] for r in md.records]
    assert max(raked) > 4.0 and max(factors) == pytest.approx(4.0, rel=1e-6)  # trimming binds
    text, name = script_file(md, "r", f"{TRIMMED}.sav", f"{TRIMMED}-margins.csv")
    assert text == (FIXTURES / name).read_text(encoding="utf-8")
    assert "for (round in 1:50)" in text
    expected = _r_results(TRIMMED)
    rows = await results_for_wave(wave_id)
    assert {(r.index_id, r.level, r.unit_code) for r in rows} == set(expected)
    for row in rows:
        r = expected[(row.index_id, row.level, row.unit_code)]
        where = f"{row.index_id} {row.unit_code}"
        for field, ours in (("estimate", row.estimate), ("se", row.se)):
            assert _close(ours, r[field]), (where, field, ours, r[field])
        if row.ci_method == "korn_graubard":
            assert row.estimate in (0.0, 100.0)
            continue
        for field, ours in (("ci_lower", row.ci_lower), ("ci_upper", row.ci_upper)):
            if math.isnan(r[field]):
                assert ours is None, (where, field)  # a unit with one answer: no df
            else:
                assert _close(ours, r[field]), (where, field, ours, r[field])


async def test_fixture_is_the_current_export_and_script(demo_city: None) -> None:
    """The committed data and script are what the platform exports for this wave today (else
    the R run has to be redone: tests/fixtures/r/README.md)."""
    md = await load_microdata(await _wave_id())
    text, name = script_file(md, "r", f"{STEM}.sav", f"{STEM}-margins.csv")
    assert name == f"{STEM}.R"
    assert text == (FIXTURES / name).read_text(encoding="utf-8")
    frame, _meta = pyreadstat.read_sav(str(FIXTURES / f"{STEM}.sav"), user_missing=True)
    assert len(frame) == len(md.records)
    assert list(frame.columns) == [v.name for v in md.variables]
    for i, record in enumerate(md.records):
        for column in ("base_weight", "raked_weight", "weight", "anquangan", "q_anquan"):
            value = record[column]
            got = frame[column].iloc[i]
            if value is None:
                assert math.isnan(got)
            else:
                assert got == pytest.approx(value, rel=1e-12)
        assert frame["district"].iloc[i] == record["district"]
        assert frame["stratum"].iloc[i] == record["stratum"]
    with (FIXTURES / f"{STEM}-margins.csv").open(encoding="utf-8-sig") as f:
        margins = [(r["district"], r["sex"], r["age_group"], float(r["population"])) for r in csv.DictReader(f)]  # fmt: skip
    assert margins == [
        (m["district"], m["sex"], m["age_group"], m["population"]) for m in md.margins
    ]
