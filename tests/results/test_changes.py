"""Change from the previous wave: SE of the difference of independent samples and a 5 % test
(docs/estimation.md, "Change between waves"), in the exports and on the dashboard."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from openpyxl import load_workbook

from survey.db.tables import Wave
from survey.results.changes import changes_for, year_earlier
from survey.results.dashboard import wave_view
from survey.results.export import RESULT_COLUMNS, export_results
from survey.results.queries import ResultRow

pytestmark = pytest.mark.anyio


def _row(month: str, estimate: float, se: float, n_eff: float = 300.0) -> ResultRow:
    return ResultRow(
        wave_id=1, month=month, index_id="anquangan", index_name="安全感", level="district",
        unit_code="990102", unit_name="南城区", district_code="990102", scale="%",
        estimate=estimate, se=se, ci_lower=None, ci_upper=None, ci_method="", n=400,
        n_eff=n_eff, dk_rate=None, deff=None, status="not_ranked", rank=None, n_ranked=0,
        p_bottom_k=None, rank_lower=None, rank_upper=None, distinguishable=None,
        fh_estimate=None, fh_se=None, target=None, sanctions=[], praises=[], evidence={},
        instrument_id="", instrument_version=1, method_version="",
    )  # fmt: skip


def test_change_hand_computed() -> None:
    # 85.3 % (SE 1.2) now, 83.2 % (SE 1.6) last month:
    # Δ = 2.1, SE(Δ) = √(1.2² + 1.6²) = √4.00 = 2.0, z = 1.05, p = 2(1 − Φ(1.05)) = 0.2937.
    now, then = _row("2026-10", 85.3, 1.2), _row("2026-09", 83.2, 1.6)
    year_ago = _row("2025-10", 80.0, 1.0)
    got = changes_for([now], [then, now, year_ago, _row("2026-08", 99.0, 0.5)])
    ch = got[("anquangan", "district", "990102")]
    assert ch.previous is not None and ch.year_ago is not None
    assert ch.previous.since == "2026-09"
    assert ch.previous.change == pytest.approx(2.1)
    assert ch.previous.se == pytest.approx(2.0)
    assert ch.previous.z == pytest.approx(1.05)
    assert ch.previous.p_value == pytest.approx(0.2937, abs=5e-5)
    assert not ch.previous.significant
    assert ch.previous.direction == ""  # no trend arrow for noise
    assert ch.previous.text() == "较上期上升 2.1 个百分点（不显著）"
    # Year on year: Δ = 5.3, SE = √(1.44 + 1.00) = 1.5620, z = 3.393, p = 0.00069 → significant.
    assert ch.year_ago.since == "2025-10"
    assert ch.year_ago.se == pytest.approx(math.sqrt(2.44))
    assert ch.year_ago.p_value == pytest.approx(0.000691, abs=5e-6)
    assert ch.year_ago.significant and ch.year_ago.direction == "up"
    assert ch.year_ago.text("较去年同期") == "较去年同期上升 5.3 个百分点（显著）"


def test_significant_fall_and_scores() -> None:
    # 80.0 (SE 1.0) after 84.0 (SE 0.75): Δ = −4.0, SE = 1.25, z = −3.2, p = 0.00137.
    now, then = _row("2026-10", 80.0, 1.0), _row("2026-09", 84.0, 0.75)
    ch = changes_for([now], [then, now])[("anquangan", "district", "990102")]
    assert ch.previous is not None and ch.year_ago is None
    assert ch.previous.z == pytest.approx(-3.2)
    assert ch.previous.p_value == pytest.approx(0.001374, abs=5e-6)
    assert ch.previous.direction == "down"
    assert ch.previous.text() == "较上期下降 4.0 个百分点（显著）"
    assert year_earlier("2026-01") == "2025-01"
    # First wave: nothing to compare with.
    assert changes_for([now], [now])[("anquangan", "district", "990102")].previous is None


async def _wave_ids() -> dict[str, int]:
    return {w["month"]: w["id"] for w in await Wave.select(Wave.id, Wave.month)}


async def test_exports_and_dashboard_carry_the_change(demo_city: None) -> None:
    waves = await _wave_ids()
    content, _media, _name = await export_results(waves["2026-10"], "json")
    now = {(r["index"], r["level"], r["unit_code"]): r for r in json.loads(content)["results"]}
    content, _media, _name = await export_results(waves["2026-09"], "json")
    then = {(r["index"], r["level"], r["unit_code"]): r for r in json.loads(content)["results"]}
    compared = 0
    for key, r in now.items():
        before = then.get(key)
        if before is None or r["se"] is None or before["se"] is None:
            continue
        if r["estimate"] in (0.0, 100.0) or before["estimate"] in (0.0, 100.0):
            continue  # the boundary SE (Clopper–Pearson) is tested in tests/ranking
        compared += 1
        assert r["change_from"] == "2026-09"
        assert r["change"] == pytest.approx(
            r["estimate_exact"] - before["estimate_exact"], abs=1e-4
        )
        se = math.hypot(r["se"], before["se"])
        assert r["change_se"] == pytest.approx(se, abs=2e-4)
        assert r["change_significant"] == (abs(r["change"]) / se > 1.959964)
        assert r["yoy_change"] is None  # the demo has no wave a year earlier
    assert compared > 10
    # The first demo wave has nothing to compare with.
    first = json.loads((await export_results(waves["2026-08"], "json"))[0])["results"]
    assert all(r["change"] is None for r in first)
    content, _media, _name = await export_results(waves["2026-10"], "csv")
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert tuple(table[0]) == RESULT_COLUMNS
    assert {"change", "change_se", "change_significant"} <= set(table[0])
    book = load_workbook(io.BytesIO((await export_results(waves["2026-10"], "xlsx"))[0]))
    header = next(book["指标结果"].iter_rows(values_only=True))
    assert {"change", "change_se", "change_significant"} <= set(header)

    view = await wave_view(waves["2026-10"])
    for head in view.headlines:
        assert head.change is not None
        assert head.change.text().startswith("较上期")
        assert head.change.text().endswith("（显著）" if head.change.significant else "（不显著）")
    for r, change in view.significant_changes:
        assert change.significant and change.direction in ("up", "down")
        assert now[(r.index_id, r.level, r.unit_code)]["change_significant"] is True
