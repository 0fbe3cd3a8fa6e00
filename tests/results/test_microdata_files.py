"""SPSS and Stata microdata of the demo's published wave read back with pyreadstat (values, Chinese
variable and value labels, don't-know/refused as user-missing, weights), the readable CSV/XLSX
(``--labels``, sanctions as columns, codebooks) and the command line with ``--with-script``."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pyreadstat
import pytest
from openpyxl import load_workbook

import survey.results.demo
from questionnaires import default_instruments
from survey.cli import main
from survey.collection.tables import Response
from survey.db.tables import PopulationCount, Wave
from survey.demo import DISTRICT
from survey.results.export import export_microdata, export_results, result_columns
from tests.conftest import build_test_demo, run_async

pytestmark = pytest.mark.anyio


async def _wave_id(month: str = "2026-10") -> int:
    row = await Wave.select(Wave.id).where(Wave.month == month).first()
    assert row is not None
    return int(row["id"])


def _read(content: bytes, suffix: str, **options: object) -> tuple[object, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(content)
        reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
        return reader(str(path), **options)  # type: ignore[operator]


async def _stored_answers(wave_id: int) -> dict[int, dict[str, object]]:
    rows = await Response.select(Response.id, Response.answers).where(
        (Response.wave == wave_id) & (Response.status == "completed")
    )
    return {r["id"]: json.loads(r["answers"]) for r in rows}


async def _adults() -> float:
    rows = await PopulationCount.select(PopulationCount.persons).where(
        PopulationCount.unit.level == "community"
    )
    return float(sum(r["persons"] for r in rows))


ITEM = default_instruments()["liangshuaiyidu"].item("q_anquan")


async def test_sav_round_trip(demo_city: None) -> None:
    wave_id = await _wave_id()
    content, media, name = await export_microdata(wave_id, "sav")
    assert name.endswith("-2026-10.sav") and media == "application/x-spss-sav"
    frame, meta = _read(content, ".sav", user_missing=True)
    assert meta.file_encoding == "UTF-8"  # type: ignore[attr-defined]
    labels = meta.column_names_to_labels  # type: ignore[attr-defined]
    assert len(frame) == 720  # type: ignore[arg-type]
    # Chinese variable labels: the question text of the instrument file
    assert labels["q_anquan"] == ITEM.text
    assert labels["weight"].startswith("最终权重")
    assert labels["manyidu_bumen_gongan"].startswith("政法部门满意度")
    # value labels: the options, and don't-know/refused (说不清 8, 拒答 9) are user-missing
    value_labels = meta.variable_value_labels["q_anquan"]  # type: ignore[attr-defined]
    assert value_labels == {float(o.code): o.label for o in ITEM.options}
    assert value_labels[8.0] == "说不清" and value_labels[9.0] == "拒答"
    ranges = meta.missing_ranges["q_anquan"]  # type: ignore[attr-defined]
    assert sorted(r["lo"] for r in ranges) == [8.0, 9.0]
    assert meta.variable_value_labels["sex"] == {1.0: "男", 2.0: "女"}  # type: ignore[attr-defined]
    # values: every answer as stored, by response id
    stored = await _stored_answers(wave_id)
    for rid, answer, district_name in zip(
        frame["response_id"], frame["q_anquan"], frame["district_name"], strict=True
    ):
        assert answer == stored[int(rid)]["q_anquan"]
        assert district_name == DISTRICT[1]
    dk = int((frame["q_anquan"] >= 8).sum())
    assert dk > 0
    plain, _meta = _read(content, ".sav")  # user-missing read as system-missing
    assert int(plain["q_anquan"].isna().sum()) == dk + int(frame["q_anquan"].isna().sum())
    # weights: base, raked and final each add up to the registry's adults (one district)
    adults = await _adults()
    for column in ("base_weight", "raked_weight", "weight"):
        assert float(frame[column].sum()) == pytest.approx(adults, rel=1e-9)
    assert (frame["psu"] == frame["response_id"]).all()
    assert (frame["stratum"] != "").all() and (frame["district"] == DISTRICT[0]).all()


async def test_dta_round_trip(demo_city: None) -> None:
    wave_id = await _wave_id()
    sav, _m, _n = await export_microdata(wave_id, "sav")
    content, media, name = await export_microdata(wave_id, "dta")
    assert name.endswith(".dta") and media == "application/x-stata-dta"
    assert content.startswith(b"<stata_dta><header><release>118</release>")
    frame, meta = _read(content, ".dta")
    reference, _ = _read(sav, ".sav", user_missing=True)
    assert list(frame.columns) == list(reference.columns)  # type: ignore[attr-defined]
    labels = meta.column_names_to_labels  # type: ignore[attr-defined]
    assert labels["q_anquan"] == ITEM.text and labels["district_name"] == "区县"
    assert all(len(text) <= 80 for text in labels.values())
    assert meta.variable_value_labels["q_anquan"] == {o.code: o.label for o in ITEM.options}  # type: ignore[attr-defined]
    for column in ("weight", "base_weight", "raked_weight", "q_anquan", "anquangan"):
        assert frame[column].equals(reference[column]), column
    assert (frame["station"] == reference["station"]).all()


async def test_readable_tables(demo_city: None) -> None:
    wave_id = await _wave_id()
    content, _m, _n = await export_microdata(wave_id, "csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    expected = {"q_anquan", "q_anquan_label", "sex_label", "district_name", "station_name"}
    assert expected <= set(rows[0])
    codes = {o.code: o.label for o in ITEM.options}
    for row in rows:
        if row["q_anquan"]:
            assert row["q_anquan_label"] == codes[int(row["q_anquan"])]
    content, _m, _n = await export_microdata(wave_id, "csv", labels="text")
    text = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert "q_anquan_label" not in text[0]
    assert {r["q_anquan"] for r in text} <= set(codes.values()) | {""}
    content, _m, _n = await export_microdata(wave_id, "csv", labels="codes")
    assert "station_name" not in content.decode("utf-8-sig").splitlines()[0].split(",")

    # results: sanctions as level / measure / reason columns; --labels picks code or name columns
    content, _m, _n = await export_results(wave_id, "csv")
    results = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    veto = [
        r
        for r in results
        if r["index"] == "anquangan" and "veto" in r["sanction_level"].split("；")
    ]
    assert [r["unit_name"] for r in veto] == ["解放派出所"]
    assert veto[0]["unit_code"].startswith("990102P")
    assert veto[0]["sanction_level_name"] == "一票否决"
    assert veto[0]["sanction_reason"] == "连续3个月安全感排名后两位 → 一票否决"
    assert veto[0]["level_name"] == "派出所" and veto[0]["status_name"] == "参与排名"
    assert not any(cell.startswith(("[", "{")) for r in results for cell in r.values())
    content, _m, _n = await export_results(wave_id, "csv", labels="text")
    header = content.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == list(result_columns("text"))
    assert "unit_name" in header and "unit_code" not in header and "sanction_level" not in header
    content, _m, _n = await export_results(wave_id, "csv", labels="codes")
    header = content.decode("utf-8-sig").splitlines()[0].split(",")
    assert "unit_code" in header and "unit_name" not in header

    # the codebook sheets: every column explained
    content, _m, _n = await export_microdata(wave_id, "xlsx")
    book = load_workbook(io.BytesIO(content))
    sheet = list(book["变量说明"].iter_rows(values_only=True))
    assert sheet[0] == ("variable", "label", "type", "values", "missing")
    q = next(row for row in sheet if row[0] == "q_anquan")
    assert q[1] == ITEM.text and "8=说不清" in str(q[3]) and q[4] == "8、9"
    data_header = next(book["微观数据"].iter_rows(values_only=True))
    described = {row[0] for row in sheet[1:]}
    assert {c for c in data_header if not str(c).endswith("_label")} == described


@pytest.fixture()
def sync_demo_city(db: None) -> None:
    """The demo city with this area's waves, for tests that run the command line (its own
    event loop)."""
    run_async(lambda: build_test_demo((survey.results.demo,)))


def test_command_line_sav_with_r_script(sync_demo_city: None, tmp_path: Path) -> None:
    out = tmp_path / "wave.sav"
    assert main(["results", "export", "2026-10", "--microdata", "--format", "sav", "--with-script", "r", "-o", str(out)]) == 0  # fmt: skip
    assert out.exists() and (tmp_path / "wave-margins.csv").exists()
    script = (tmp_path / "wave.R").read_text(encoding="utf-8")
    assert 'haven::read_sav("wave.sav")' in script and 'read.csv("wave-margins.csv"' in script
    assert "svydesign(ids = ~psu, strata = ~stratum, weights = ~base_weight" in script
    assert 'composite("manyidu"' in script
    dta = tmp_path / "wave.dta"
    assert main(["results", "export", "2026-10", "--microdata", "--format", "dta", "--with-script", "stata", "-o", str(dta)]) == 0  # fmt: skip
    do = (tmp_path / "wave.do").read_text(encoding="utf-8")
    assert 'use "wave.dta"' in do and "svyset psu [pweight = weight], strata(stratum_n)" in do
    csv_out = tmp_path / "results.csv"
    assert main(["results", "export", "2026-10", "--labels", "codes", "-o", str(csv_out)]) == 0
    assert (tmp_path / "results-codebook.csv").exists()


def test_command_line_errors(
    sync_demo_city: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["results", "export", "2026-10", "--format", "sav"]) == 1
    assert "sav 格式只用于微观数据，请加 --microdata" in capsys.readouterr().err
    assert main(["results", "export", "2026-10", "--with-script", "r"]) == 1
    assert "--with-script 只用于微观数据导出" in capsys.readouterr().err
    args = ["results", "export", "2026-10", "--microdata", "--with-script", "stata"]
    assert main([*args, "-o", str(tmp_path / "m.csv")]) == 1
    assert "Stata 脚本读 .dta 文件，请用 --format dta" in capsys.readouterr().err
    assert main(["results", "export", "2026-10", "--microdata", "--format", "json"]) == 1
    assert "微观数据只能导出为 csv、xlsx、sav（SPSS）或 dta（Stata）" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_multiple_choice_and_text_items_become_variables() -> None:
    from survey.results.microdata import _item_value, _item_variables

    item = next(i for i in default_instruments()["anquangan"].items if i.type == "multiple")
    columns = _item_variables(item)
    assert [v.name for v, _id, _code in columns] == [f"{item.id}_{o.code}" for o in item.options]
    first, _id, code = columns[0]
    assert first.label == f"{item.text}：{item.options[0].label}" and code == item.options[0].code
    assert first.value_labels == {0: "未选", 1: "选中"}
    assert _item_value([1, 3], "number", 3) == 1 and _item_value([1, 3], "number", 2) == 0
    assert _item_value(None, "number", 2) is None  # not asked: missing, not 0
    assert _item_value("7", "number", None) == 7 and _item_value("", "number", None) is None
    assert _item_value("夜里路灯太少", "text", None) == "夜里路灯太少"
