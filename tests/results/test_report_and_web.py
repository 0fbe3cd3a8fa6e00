"""The monthly report (HTML, PDF checked with poppler), exports, the dashboard and its access."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from survey.accounts import create_user
from survey.db.tables import AGE_GROUPS, PopulationCount, Programme, Unit, Wave
from survey.results import report as report_module
from survey.results.export import RESULT_COLUMNS, export_microdata, export_results
from survey.results.report import ReportError, render_report
from tests.helpers import csrf_token, login
from tests.results.test_compute import check_demo_ladder

pytestmark = pytest.mark.anyio
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


async def _waves() -> dict[str, int]:
    programme = (
        await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd").first()
    )
    assert programme is not None
    return {
        r["month"]: r["id"]
        for r in await Wave.select(Wave.id, Wave.month).where(Wave.programme == programme["id"])
    }


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
async def test_pdf_report_text_fonts_and_pages(demo_city: None, tmp_path: Path) -> None:
    wave_id = (await _waves())["2026-10"]
    content, media, name = await render_report(wave_id, "pdf")
    assert media == "application/pdf" and name.endswith("2026-10.pdf")
    pdf = tmp_path / name
    pdf.write_bytes(content)
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (
        "南城区两率一度月度测评结果通报",
        "一、总体情况",
        "公众安全感",
        "解放派出所",
        "连续3个月安全感排名后两位",
        "一票否决，取消年度评优评先资格",
        "黄牌警告",
        "平安建设知晓率排名",
        "政法部门满意度排名",
        "方法说明",
    ):
        # table cells wrap: compare without whitespace
        assert expected.replace(" ", "") in re.sub(r"\s+", "", text), expected
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "Noto-Sans-CJK-SC-Bold" in fonts  # a real bold face for the headings
    assert all(" yes yes " in line for line in fonts.splitlines()[2:] if line.strip())
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "page")], check=True)  # fmt: skip
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 20_000 for p in pages)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in pages:
        shutil.copy(page, SCREENSHOTS / f"results-report-{page.name}")

    waves = await _waves()
    content, media, _name = await render_report(waves["2026-09"], "html")
    html = content.decode("utf-8")
    assert media.startswith("text/html")
    assert "data:image/svg+xml;base64," in html and "<script" not in html
    with pytest.raises(ReportError, match="尚未计算"):
        await render_report(waves["2026-11"], "html")


def test_missing_pdf_backend_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from weasyprint.text import ffi

    monkeypatch.setattr(ffi, "harfbuzz_subset", None)
    with pytest.raises(ReportError, match="libharfbuzz-subset0"):
        report_module.check_pdf_backend()


async def test_demo_ladder_and_exports(demo_city: None) -> None:
    await check_demo_ladder()
    wave_id = (await _waves())["2026-10"]
    content, _media, _name = await export_results(wave_id, "json")
    payload = json.loads(content)
    first = payload["results"][0]
    for column in (
        "index", "unit_code", "unit_name", "estimate", "se", "ci_lower", "ci_upper", "n",
        "n_eff", "dk_rate", "rank", "p_bottom_k", "status", "sanctions", "praise",
    ):  # fmt: skip
        assert column in first
    veto = [
        r
        for r in payload["results"]
        if r["index"] == "anquangan" and any(s["level"] == "veto" for s in r["sanctions"])
    ]
    assert [r["unit_name"] for r in veto] == ["解放派出所"]
    assert veto[0]["sanctions"] == [
        {"level": "veto", "reason": "连续3个月安全感排名后两位 → 一票否决", "review": "none"}
    ]
    assert {r["status"] for r in payload["results"]} <= {"ranked", "样本不足", "不排名"}
    content, _media, _name = await export_results(wave_id, "csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == RESULT_COLUMNS
    content, _media, _name = await export_results(wave_id, "xlsx")
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["指标结果", "加权诊断", "数据质量提示", "访问方式", "变量说明"]
    # The mode mix per unit: the district's row counts the wave's interviews by their mode.
    from survey.collection.tables import Response

    content, _media, _name = await export_results(wave_id, "csv", table="modes")
    modes = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    district = next(r for r in modes if r["level"] == "district")
    for mode in ("web", "phone"):
        stored = await Response.count().where(
            (Response.wave == wave_id) & (Response.status == "completed") & (Response.mode == mode)
        )
        assert int(district[mode]) == stored > 0
    assert sum(int(r["web"]) + int(r["phone"]) for r in modes if r["level"] == "street") == 720
    assert {m["index_id"] for m in payload["mode_effect"]} >= {"anquangan", "zhixiaolv"}
    content, _media, _name = await export_microdata(wave_id, "csv")
    micro = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(micro) == 720
    assert {"stratum", "psu", "weight", "anquangan", "manyidu_bumen_gongan"} <= set(micro[0])
    assert not any("phone" in key for key in micro[0])
    # District-limited users get their district only (another district here: nothing).
    other, _m, _n = await export_results(wave_id, "json", district_code="990199")
    assert json.loads(other)["results"] == []
    content, _media, _name = await export_microdata(wave_id, "csv", district_code="990199")
    assert content.decode("utf-8-sig").strip().count("\n") == 0  # header only
    total = sum(float(r["weight"]) for r in micro)
    district = await Unit.select(Unit.id).where(Unit.code == "990102").first()
    assert district is not None and total > 100_000  # raked to the adult population

    # The XLSX adds the raking margins — the registry's adults of the communities, summed here
    # straight from the table — beside the weighted totals, which calibration makes equal.
    content, _media, _name = await export_microdata(wave_id, "xlsx")
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["微观数据", "加权边际", "加权方法", "变量说明"]
    sheet = list(book["加权边际"].iter_rows(values_only=True))
    assert sheet[0] == ("margin", "district", "sex", "age_group", "population", "weighted_total")
    counts = await PopulationCount.select(
        PopulationCount.sex, PopulationCount.age_group, PopulationCount.persons
    ).where(PopulationCount.unit.level == "community")
    expected = {("M", ""): 0, ("F", ""): 0, **{("", a): 0 for a in AGE_GROUPS}}
    for c in counts:
        expected[(c["sex"], "")] += c["persons"]
        expected[("", c["age_group"])] += c["persons"]
    got = {(row[2] or "", row[3] or ""): (row[4], row[5]) for row in sheet[1:]}
    assert {k: v[0] for k, v in got.items()} == expected
    for population, weighted in got.values():
        assert weighted == pytest.approx(population, rel=1e-8)
    assert sum(expected[(s, "")] for s in ("M", "F")) == pytest.approx(total, rel=1e-8)
    method = dict(book["加权方法"].iter_rows(min_row=2, values_only=True))
    assert "耙权" in str(method["加权方法"]) and "svydesign" in str(method["R survey"])


async def test_dashboard_roles_compute_button_and_district_limit(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    wave_id = (await _waves())["2026-10"]
    assert (await login(client, "committee")).status_code == 303
    page = await client.get(f"/results/{wave_id}")
    assert page.status_code == 200
    for expected in ("解放派出所", "一票否决", "P(后2位)", "森林图", "漏斗图", "方法说明"):
        assert expected in page.text
    assert "数据质量提示" not in page.text  # analysts only
    token = await csrf_token(client)
    denied = await client.post(f"/results/{wave_id}/compute", data={"_csrf_token": token})
    assert denied.status_code == 403
    assert (await client.get(f"/results/{wave_id}/export/csv")).status_code == 403
    pdf = await client.get(f"/results/{wave_id}/report/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    await client.post("/logout", data={"_csrf_token": token})

    assert (await login(client, "analyst")).status_code == 303
    token = await csrf_token(client)
    # Published results are final: computing again is refused (shown after a redirect).
    refused = await client.post(f"/results/{wave_id}/compute", data={"_csrf_token": token})
    shown = await client.get(refused.headers["location"])
    assert shown.status_code == 422 and "已发布，发布的结果不能重新计算" in shown.text
    # A closed wave that is not published yet is computed again.
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave_id)
    done = await client.post(f"/results/{wave_id}/compute", data={"_csrf_token": token})
    assert done.status_code == 303 and done.headers["location"].startswith(f"/results/{wave_id}")
    page = await client.get(done.headers["location"])
    assert "已重新计算" in page.text and "数据质量提示" in page.text
    export = await client.get(f"/results/{wave_id}/export/csv")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    flags = await client.get(f"/results/{wave_id}/export/csv?table=flags")
    assert flags.status_code == 200 and flags.text.lstrip("\ufeff").startswith("kind,index_id")
    assert "/microdata/sav" in page.text and "/microdata/dta" in page.text
    sav = await client.get(f"/results/{wave_id}/microdata/sav")
    assert sav.status_code == 200 and sav.content.startswith(b"$FL2")
    assert sav.headers["content-disposition"].endswith('-2026-10.sav"')
    dta = await client.get(f"/results/{wave_id}/microdata/dta")
    assert dta.status_code == 200 and dta.content.startswith(b"<stata_dta>")
    assert (await client.get(f"/results/{wave_id}/microdata/por")).status_code == 404
    # what does not exist is a 404 saying what does (survey.results.formats)
    for path, message in (
        ("export/csv?table=bogus", "结果表只有 results、weighting、flags 和 modes"),
        ("export/sav", "导出格式只有 json、csv 和 xlsx"),
        ("microdata/json", "微观数据只能导出为 csv、xlsx、sav（SPSS）或 dta（Stata）"),
        ("report/docx", "报告格式只有 pdf 和 html"),
    ):
        refused = await client.get(f"/results/{wave_id}/{path}")
        assert refused.status_code == 404 and message in refused.text, path
    await client.post("/logout", data={"_csrf_token": token})

    city = await Unit.select(Unit.id).where(Unit.code == "990100").first()
    assert city is not None
    await Unit.insert(Unit(code="990103", name="北城区", level="district", parent=city["id"]))
    await create_user("north", "pingan2026-north", frozenset({"committee"}), "北城委员", "990103")
    assert (await login(client, "north", "pingan2026-north")).status_code == 303
    assert (await client.get(f"/results/{wave_id}")).status_code == 404
    listing = await client.get("/results")
    assert listing.status_code == 200 and "2026-10" not in listing.text


async def test_delivered_data_upload_form(small_city: None, client: httpx.AsyncClient) -> None:
    from tests.results.test_importing import HEADER, _row

    programme = await Programme.select(Programme.id).first()
    assert programme is not None
    wave = await Wave.insert(
        Wave(programme=programme["id"], month="2026-12", status="collecting")
    ).returning(Wave.id)
    wave_id = wave[0]["id"]
    await create_user("analyst", "pingan2026", frozenset({"analyst"}), "王分析", None)
    community = (
        await Unit.select(Unit.code).where(Unit.level == "community").order_by(Unit.code).first()
    )
    assert community is not None
    assert (await login(client, "analyst")).status_code == 303
    page = await client.get(f"/results/{wave_id}/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    token = await csrf_token(client)

    def upload(rows: list[dict[str, str]]) -> dict[str, tuple[str, bytes, str]]:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
        return {"file": ("delivered.csv", out.getvalue().encode("utf-8"), "text/csv")}

    bad = await client.post(
        f"/results/{wave_id}/import",
        data={"_csrf_token": token, "instrument": "liangshuaiyidu"},
        files=upload([_row("W1", community["code"]), _row("W1", community["code"])]),
    )
    assert bad.status_code == 422
    assert "第3行, 列 respondent_id: 受访者编号 W1 重复（第2行已出现）" in bad.text
    good = await client.post(
        f"/results/{wave_id}/import",
        data={"_csrf_token": token, "instrument": "liangshuaiyidu"},
        files=upload([_row("W1", community["code"]), _row("W2", community["code"])]),
    )
    assert good.status_code == 200 and "已导入 2 份问卷" in good.text
