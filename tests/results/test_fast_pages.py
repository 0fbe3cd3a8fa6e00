"""Light pages and cheap charts (issue 17): the committee's results page is gzip-compressed and
links its charts as separate SVG resources with an ETag (304 when unchanged); the charts are
lean SVG with text as text; reports are rendered once per revision of the stored results."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from survey.results import charts
from survey.results import report as report_module
from survey.results.report import render_report
from tests.helpers import login
from tests.results.test_report_and_web import _waves

pytestmark = pytest.mark.anyio
SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_by_hand() -> None:
    # (101.5 − 69.3) / 7 = 4.6 → step 5; 0…170 / 7 = 24.3 → step 25; 0.2…0.9 / 7 = 0.1 → 0.1
    assert charts.nice_ticks(69.3, 101.5) == [70, 75, 80, 85, 90, 95, 100]
    assert charts.nice_ticks(0, 170) == [0, 25, 50, 75, 100, 125, 150]
    assert charts.nice_ticks(0.2, 0.9) == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])


def test_charts_are_lean_svg_with_text_as_text() -> None:
    points = [
        charts.Point("白沙派出所", 100.0, 88.6, 100.0, 31),
        charts.Point("解放派出所", 79.0, 70.2, 85.8, 108, flagged=True),
    ]
    drawn = {
        "forest": charts.forest(points, target=90, unit="%", title="公众安全感：各派出所"),
        "funnel": charts.funnel(points, target=90, unit="%", title="漏斗图"),
        "trend": charts.trend(
            [("公众安全感", [("2026-09", 91.0), ("2026-10", 92.2)])],
            target=None,
            unit="%",
            title="走势",
        ),
    }
    for name, svg in drawn.items():
        root = ET.fromstring(svg)
        elements = list(root.iter())
        assert len(elements) < 120, name  # a few dozen, not hundreds of glyph outlines
        assert not any(e.tag == f"{SVG}path" for e in elements), name
        texts = [e.text for e in elements if e.tag == f"{SVG}text"]
        assert texts, name
        assert "Noto Sans CJK SC" in root.attrib["font-family"]
    forest_texts = {e.text for e in ET.fromstring(drawn["forest"]).iter(f"{SVG}text")}
    assert {"白沙派出所", "解放派出所", "目标 90%", "公众安全感：各派出所"} <= forest_texts
    # the flagged unit is drawn in red, below the 99.8 % limit in the funnel too
    assert charts.RED in drawn["forest"] and charts.RED in drawn["funnel"]


async def test_results_page_is_compressed_and_links_cached_charts(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    wave_id = (await _waves())["2026-10"]
    assert (await login(client, "committee")).status_code == 303
    page = await client.get(f"/results/{wave_id}", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["content-encoding"] == "gzip"
    assert page.num_bytes_downloaded < 150_000
    assert "data:image/svg+xml" not in page.text  # charts are separate resources
    urls = re.findall(rf'src="(/results/{wave_id}/charts/[^"]+)"', page.text)
    kinds = {re.sub(r"\?.*", "", u).rsplit("/", 1)[1] for u in urls}
    assert {"anquangan-forest.svg", "anquangan-funnel.svg", "zhixiaolv-trend.svg"} <= kinds
    for url in urls:
        chart = await client.get(url.replace("&amp;", "&"))
        assert chart.status_code == 200, url
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert chart.text.startswith("<svg") and "<text" in chart.text
        etag = chart.headers["etag"]
        cache = chart.headers["cache-control"]
        assert "private" in cache or "no-store" in cache
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    assert (await client.get(f"/results/{wave_id}/charts/nope.svg")).status_code == 404
    pdf = await client.get(f"/results/{wave_id}/report/pdf", headers={"Accept-Encoding": "gzip"})
    assert pdf.status_code == 200 and "content-encoding" not in pdf.headers  # already compressed
    css = await client.get("/static/app.css", headers={"Accept-Encoding": "gzip"})
    assert css.headers["content-encoding"] == "gzip" and "{" in css.text


async def test_reports_are_rendered_once_per_revision(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))  # not on disk from an earlier test
    wave_id = (await _waves())["2026-10"]
    report_module._RENDERED.clear()
    calls: list[int] = []
    real = report_module.html_to_pdf

    def counting(html: str) -> bytes:
        calls.append(1)
        return real(html)

    monkeypatch.setattr(report_module, "html_to_pdf", counting)
    first, media, _ = await render_report(wave_id, "pdf")
    second, _, _ = await render_report(wave_id, "pdf")
    assert media == "application/pdf" and first == second and len(calls) == 1
    # a correction (the wave is published) is a new revision of the results: drawn again
    from survey.db import write_transaction
    from survey.results.revisions import publish_pending_revision, revise_wave

    await revise_wave(wave_id, reason="测试更正", username="test")
    async with write_transaction():  # as `wave publish` does
        await publish_pending_revision(wave_id, "2026-10", username="test")
    third, _, _ = await render_report(wave_id, "pdf")
    assert len(calls) == 2 and third.startswith(b"%PDF")
