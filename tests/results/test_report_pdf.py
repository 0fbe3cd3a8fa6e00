"""The printed report: rows never split across pages, the funnel's axis for units without a
usable effective size, the correction's date in local time, and rendered reports kept on disk
per revision (issue 17)."""

from __future__ import annotations

import dataclasses
import datetime
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from survey.results import charts
from survey.results import report as report_module
from survey.results.dashboard import chart_n_eff, wave_view
from survey.results.queries import results_for_wave
from survey.results.report import render_report
from survey.results.revisions import RevisionInfo
from tests.results.test_report_and_web import _waves

pytestmark = pytest.mark.anyio
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
async def test_ranked_rows_are_not_split_across_pages(demo_city: None, tmp_path: Path) -> None:
    # Before, the first 知晓率 row at the foot of page 3 kept its rank and figures there and
    # its street name went to page 4: the row on page 3 had no name.
    wave_id = (await _waves())["2026-10"]
    content, _media, _name = await render_report(wave_id, "pdf")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = [line for page in text.split("\f") for line in page.splitlines()]
    view = await wave_view(wave_id, unit_trends=False)
    checked = 0
    for ranking in view.rankings:
        for row in ranking.rows:
            r = row.result
            if r.ci_lower is None or r.ci_upper is None:
                continue
            interval = f"{r.ci_lower:.1f}–{r.ci_upper:.1f}"
            # the row's first line holds its interval and the start of its (wrapped) name
            holding = [line for line in lines if interval in line]
            assert holding, interval
            assert any(r.unit_name[:3] in line for line in holding), (r.unit_name, holding)
            checked += 1
    assert checked >= 20  # 8 stations, 11 streets with an interval, 4 departments


def test_funnel_axis_of_a_unit_with_rounding_sized_variance() -> None:
    # A unit whose answers are all alike has SE ≈ 1e-15 and n/deff ≈ 1e17 (rounding noise
    # divided by rounding noise): the funnel uses its Kish size instead.
    from survey.results.records import ResultRow

    fields = {f.name: None for f in dataclasses.fields(ResultRow)}
    base = ResultRow(
        **{
            **fields,
            "index_id": "manyidu",
            "index_name": "满意度",
            "level": "department",
            "unit_code": "d1",
            "unit_name": "南城区法院",
            "district_code": "D",
            "scale": "分",
            "estimate": 80.0,
            "se": 1.2,
            "ci_lower": 77.6,
            "ci_upper": 82.4,
            "n": 600,
            "n_eff": 575.8,
            "n_kish": 590.0,
            "sanctions": [],
            "praises": [],
            "evidence": {},
        }
    )
    assert chart_n_eff(base) == 575.8  # a usable design effective size is kept
    alike = dataclasses.replace(base, se=1.4e-15, n_eff=1.3e17, n_kish=12.0, n=12)
    assert chart_n_eff(alike) == 12.0
    noisy = dataclasses.replace(base, se=0.3, n_eff=2.0e16, n_kish=12.0, n=12)
    assert chart_n_eff(noisy) == 12.0  # n_eff over 1000 × n is no size either
    undefined = dataclasses.replace(base, n_eff=float("nan"))
    assert chart_n_eff(undefined) == 590.0


def _tick_labels(svg: str) -> list[str]:
    """The funnel's x tick labels: the texts 17 px under the axis line at its bottom."""
    root = ET.fromstring(svg)
    return [
        t.text or ""
        for t in root.iter(f"{SVG}text")
        if t.attrib.get("text-anchor") == "middle" and t.attrib["y"] == "327.0"
    ]


def test_funnel_ticks_are_whole_numbers_not_exponents() -> None:
    # A city's units have effective sizes in the hundreds of thousands: 0 … 2,300,000 is
    # ticked every 500,000, and %g printed 1000000 as "1e+06".
    points = [
        charts.Point("甲区", 90.0, 89.0, 91.0, 2_000_000),
        charts.Point("乙区", 80.0, 79.0, 81.0, 1_200_000),
    ]
    labels = _tick_labels(charts.funnel(points, target=85, unit="%", title="漏斗图"))
    assert labels == ["0", "500000", "1000000", "1500000", "2000000"]


def test_revision_times_are_local() -> None:
    info = RevisionInfo(
        wave_id=1,
        number=2,
        reason="更正",
        created_by="a",
        created_at=datetime.datetime(2026, 10, 31, 15, 0, tzinfo=datetime.UTC),
        published_by="b",
        published_at=datetime.datetime(2026, 10, 31, 16, 30, tzinfo=datetime.UTC),
    )
    # 16:30 UTC on 31 October is 00:30 on 1 November in Beijing
    assert info.published_local == "2026-11-01 00:30"
    assert info.created_local == "2026-10-31 23:00"


async def test_report_correction_line_in_local_time(demo_city: None) -> None:
    from survey.db import write_transaction
    from survey.results.revisions import (
        current_correction,
        publish_pending_revision,
        revise_wave,
        revisions_for_wave,
    )
    from survey.settings import local_time

    wave_id = (await _waves())["2026-10"]
    await revise_wave(wave_id, reason="测试更正", username="test")
    async with write_transaction():
        await publish_pending_revision(wave_id, "2026-10", username="test")
    correction = current_correction(await revisions_for_wave(wave_id))
    assert correction is not None and correction.published_at is not None
    html = (await render_report(wave_id, "html"))[0].decode("utf-8")
    line = re.search(r"<strong>更正</strong>[^<]*", html)
    assert line is not None
    assert f"（第 2 版，{local_time(correction.published_at)} 发布）" in line.group(0)


async def test_rendered_report_kept_on_disk_per_revision(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))
    wave_id = (await _waves())["2026-10"]
    report_module._RENDERED.clear()
    first, media, name = await render_report(wave_id, "pdf")
    files = sorted((tmp_path / "reports").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == first

    # a later process: nothing in memory; the file answers without reading the results
    report_module._RENDERED.clear()

    async def no_view(*args: object, **kwargs: object) -> None:
        raise AssertionError("the view was built for a report on disk")

    monkeypatch.setattr("survey.results.dashboard.wave_view", no_view)
    assert await render_report(wave_id, "pdf") == (first, media, name)
    monkeypatch.undo()
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))

    # a new revision of the results is drawn again and replaces the older file
    from survey.db import write_transaction
    from survey.results.revisions import publish_pending_revision, revise_wave

    await revise_wave(wave_id, reason="测试更正", username="test")
    async with write_transaction():
        await publish_pending_revision(wave_id, "2026-10", username="test")
    report_module._RENDERED.clear()
    again, _media, _name = await render_report(wave_id, "pdf")
    files = sorted((tmp_path / "reports").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == again and again != first

    # switched off: nothing written
    monkeypatch.setenv("PINGAN_CACHE_DIR", "off")
    shutil.rmtree(tmp_path / "reports")
    report_module._RENDERED.clear()
    assert (await render_report(wave_id, "html"))[0].startswith(b"<!doctype html>")
    assert not (tmp_path / "reports").exists()


async def test_department_rows_use_their_kish_size_when_alike(demo_city: None) -> None:
    # the demo's departments have usable design sizes: the funnel plots them unchanged
    wave_id = (await _waves())["2026-10"]
    rows = [r for r in await results_for_wave(wave_id) if r.level == "department"]
    assert rows and all(chart_n_eff(r) == r.n_eff for r in rows if r.estimate is not None)
