"""Importing delivered interviews: identity and mapped columns, every bad row reported, nothing
half-imported, re-import changes nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from survey.collection.tables import Response
from survey.db.tables import Programme, StationCommunity, Wave
from survey.results.compute import ComputeError
from survey.results.importing import import_responses
from survey.tabular import ImportRejected

pytestmark = pytest.mark.anyio

HEADER = [
    "respondent_id",
    "community",
    "sex",
    "age_group",
    "design_weight",
    "mode",
    "q_anquan",
    "q_zhixiao",
    "q_manyi_gongan",
    "q_manyi_jianchayuan",
    "q_manyi_fayuan",
    "q_manyi_sifaju",
    "d_sex",
    "d_age_group",
    "s_age",
    "s_resident",
]


async def _setup() -> tuple[int, str]:
    programme = (
        await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd").first()
    )
    assert programme is not None
    wave = await Wave.insert(
        Wave(programme=programme["id"], month="2026-12", status="collecting")
    ).returning(Wave.id)
    community = (
        await StationCommunity.select(StationCommunity.community.code)
        .order_by(StationCommunity.community.code)
        .first()
    )
    assert community is not None
    return int(wave[0]["id"]), str(community["community.code"])


def _row(rid: str, community: str, **over: str) -> dict[str, str]:
    row = {
        "respondent_id": rid,
        "community": community,
        "sex": "男",
        "age_group": "30-44",
        "design_weight": "120.5",
        "mode": "电话",
        "q_anquan": "2",
        "q_zhixiao": "1",
        "q_manyi_gongan": "1",
        "q_manyi_jianchayuan": "2",
        "q_manyi_fayuan": "3",
        "q_manyi_sifaju": "8",
        "d_sex": "1",
        "d_age_group": "2",
        "s_age": "1",
        "s_resident": "1",
    }
    row.update(over)
    return row


def _csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


async def _count(wave_id: int) -> int:
    return await Response.count().where(Response.wave == wave_id)


async def test_identity_import_then_reimport_changes_nothing(
    small_city: None, tmp_path: Path
) -> None:
    wave_id, community = await _setup()
    path = _csv(tmp_path / "delivered.csv", [_row(f"A{i:03d}", community) for i in range(5)])
    summary = await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    assert summary.created == 5 and not summary.unchanged
    stored = await Response.select().where(Response.wave == wave_id).first()
    assert stored is not None
    assert stored["status"] == "completed" and stored["mode"] == "phone"
    assert stored["design_weight"] == 120.5 and stored["sex"] == "M"
    assert stored["age_group"] == "30-44" and stored["source_respondent_id"] == "A000"
    again = await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    assert again.unchanged and again.created == 0
    assert await _count(wave_id) == 5


async def test_bad_rows_are_all_reported_and_nothing_is_stored(
    small_city: None, tmp_path: Path
) -> None:
    wave_id, community = await _setup()
    rows = [
        _row("B001", community),
        _row("B002", "999999999"),  # unknown unit code
        _row("B003", community, q_anquan="7"),  # not an option of q_anquan
        _row("B001", community),  # duplicate respondent id
        _row("B005", community, sex="X", design_weight="-1"),
    ]
    path = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    text = str(caught.value)
    assert "第3行, 列 community: 未知的社区代码 999999999" in text
    assert "第4行, 列 q_anquan: '7' 不是题目 q_anquan 的选项代码" in text
    assert "第5行, 列 respondent_id: 受访者编号 B001 重复（第2行已出现）" in text
    assert "第6行, 列 sex:" in text and "第6行, 列 design_weight:" in text
    assert await _count(wave_id) == 0


async def test_missing_required_column_and_published_wave(small_city: None, tmp_path: Path) -> None:
    wave_id, community = await _setup()
    header = [h for h in HEADER if h != "sex"]
    row = {k: v for k, v in _row("C1", community).items() if k != "sex"}
    path = _csv(tmp_path / "nosex.csv", [row], header)
    with pytest.raises(ImportRejected, match="第1行, 列 sex: 缺少必需的列"):
        await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    await Wave.update({Wave.status: "published"}).where(Wave.id == wave_id)
    good = _csv(tmp_path / "good.csv", [_row("C1", community)])
    with pytest.raises(ComputeError, match="已发布"):
        await import_responses(wave_id, good, "liangshuaiyidu", username="t")
    assert await _count(wave_id) == 0


async def test_xlsx_with_a_mapping_of_columns_and_labels(small_city: None, tmp_path: Path) -> None:
    wave_id, community = await _setup()
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        """
[columns]
respondent_id = "问卷编号"
community = "社区代码"
sex = "性别"
age_group = "年龄"
[items]
q_anquan = "Q1"
[values.q_anquan]
"很安全" = 1
"不安全" = 5
""",
        encoding="utf-8",
    )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    base = _row("X", community, d_sex="2", d_age_group="4")  # agrees with 女, 60+ below
    columns = ["问卷编号", "社区代码", "性别", "年龄", "Q1"] + [
        h for h in HEADER if h.startswith(("q_z", "q_m", "d_", "s_"))
    ]
    sheet.append(columns)
    for i, label in enumerate(["很安全", "不安全", "很安全"]):
        sheet.append(
            [f"X{i}", community, "女", "60+", label]
            + [base[h] for h in columns[5:]]  # identity columns for the other items
        )
    path = tmp_path / "delivered.xlsx"
    book.save(path)
    summary = await import_responses(wave_id, path, "liangshuaiyidu", mapping, username="t")
    assert summary.created == 3
    rows = await Response.select(Response.answers, Response.sex, Response.mode).where(
        Response.wave == wave_id
    )
    assert sorted('"q_anquan": 5' in r["answers"] for r in rows) == [False, False, True]
    assert {r["sex"] for r in rows} == {"F"} and {r["mode"] for r in rows} == {"import"}


async def test_screening_columns_may_be_absent_but_other_required_items_not(
    small_city: None, tmp_path: Path
) -> None:
    wave_id, community = await _setup()
    header = [h for h in HEADER if h not in ("s_age", "s_resident")]
    rows = [{k: v for k, v in _row(f"E{i}", community).items() if k in header} for i in range(2)]
    rows[1]["q_zhixiao"] = ""
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, _csv(tmp_path / "a.csv", rows, header), "liangshuaiyidu", username="t")  # fmt: skip
    assert [str(p) for p in caught.value.problems] == ["第3行, 列 q_zhixiao: 此题为必答题，请作答"]
    rows[1]["q_zhixiao"] = "2"
    summary = await import_responses(
        wave_id, _csv(tmp_path / "b.csv", rows, header), "liangshuaiyidu", username="t"
    )
    assert summary.created == 2


async def test_missing_item_column_reported_once_and_demographic_items_from_fields(
    small_city: None, tmp_path: Path
) -> None:
    wave_id, community = await _setup()
    header = [h for h in HEADER if h not in ("q_zhixiao", "d_sex", "d_age_group")]
    rows = [{k: v for k, v in _row(f"F{i}", community).items() if k in header} for i in range(3)]
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, _csv(tmp_path / "a.csv", rows, header), "liangshuaiyidu", username="t")  # fmt: skip
    assert [str(p) for p in caught.value.problems] == [
        "第1行, 列 q_zhixiao: 缺少必答题 q_zhixiao（您是否知道本地正在开展平安建设（平安创建）活动？）的列"
    ]
    header.append("q_zhixiao")
    for row in rows:
        row["q_zhixiao"] = "1"
    summary = await import_responses(
        wave_id, _csv(tmp_path / "b.csv", rows, header), "liangshuaiyidu", username="t"
    )
    assert summary.created == 3
    stored = await Response.select(Response.answers).where(Response.wave == wave_id).first()
    assert stored is not None
    assert '"d_sex": 1' in stored["answers"] and '"d_age_group": 2' in stored["answers"]


async def test_bad_mapping_file_is_rejected_with_its_keys(small_city: None, tmp_path: Path) -> None:
    wave_id, community = await _setup()
    mapping = tmp_path / "bad.toml"
    mapping.write_text('[columns]\nphone = "电话"\n[items]\nq_nothing = "Q9"\n', encoding="utf-8")
    path = _csv(tmp_path / "ok.csv", [_row("D1", community)])
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, path, "liangshuaiyidu", mapping, username="t")
    assert "columns.phone" in str(caught.value) and "items.q_nothing" in str(caught.value)
    assert await _count(wave_id) == 0


async def test_a_code_the_item_does_not_define_is_an_error_unless_the_mapping_recodes_it(
    small_city: None, tmp_path: Path
) -> None:
    """q_zhixiao (知道 1 / 不知道 2 / 拒答 9) has no 8: a file that codes 说不清 as 8 is refused
    naming row, column and the item's codes; a mapping that recodes 8 to 9 (拒答) imports it."""
    wave_id, community = await _setup()
    path = _csv(tmp_path / "eight.csv", [_row("E001", community, q_zhixiao="8")])
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    assert str(caught.value.problems[0]) == (
        "第2行, 列 q_zhixiao: '8' 不是题目 q_zhixiao 的选项代码（可用: 1 知道、2 不知道、9 拒答；"
        "文件用其他代码时，请在映射文件的 [values.q_zhixiao] 中把它改成上列代码）"
    )
    assert await _count(wave_id) == 0
    mapping = tmp_path / "map.toml"
    mapping.write_text('[values.q_zhixiao]\n"8" = 9\n', encoding="utf-8")
    await import_responses(wave_id, path, "liangshuaiyidu", mapping, username="t")
    stored = await Response.select(Response.answers).where(Response.wave == wave_id).first()
    assert stored is not None
    assert '"q_zhixiao": 9' in stored["answers"]


async def test_bulk_file_every_bad_cell_in_row_order_then_all_rows_stored(
    small_city: None, tmp_path: Path
) -> None:
    """3,000 rows checked column by column: the same bad value in many rows is reported on each
    of them, in row order and field order within a row (hand-listed below); nothing is stored.
    Corrected, the file is written in one bulk statement (COPY / executemany) and every row
    reads back as given; importing it again changes nothing."""
    wave_id, community = await _setup()
    rows = [_row(f"K{i:04d}", community) for i in range(3000)]
    for i in (10, 1500, 2999):
        rows[i]["q_anquan"] = "7"
    rows[700]["sex"] = "X"
    rows[700]["age_group"] = "17"
    rows[1200]["community"] = "000"
    rows[2000]["respondent_id"] = "K0005"
    rows[2500]["duration_seconds"] = "-3"
    header = [*HEADER, "duration_seconds"]
    for row in rows:
        row.setdefault("duration_seconds", "300")
    path = _csv(tmp_path / "bulk.csv", rows, header)
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    seven = "'7' 不是题目 q_anquan 的选项代码"
    got = [str(p) for p in caught.value.problems]
    assert [g.split(": ")[0] for g in got] == [
        "第12行, 列 q_anquan",
        "第702行, 列 sex",
        "第702行, 列 age_group",
        "第1202行, 列 community",
        "第1502行, 列 q_anquan",
        "第2002行, 列 respondent_id",
        "第2502行, 列 duration_seconds",
        "第3001行, 列 q_anquan",
    ]
    assert got[0].startswith(f"第12行, 列 q_anquan: {seven}")
    assert got[5] == "第2002行, 列 respondent_id: 受访者编号 K0005 重复（第7行已出现）"
    assert got[6] == "第2502行, 列 duration_seconds: 时长 '-3' 必须是非负整数（秒）"
    assert await _count(wave_id) == 0

    for i in (10, 1500, 2999):
        rows[i]["q_anquan"] = "1"
    rows[700].update(sex="女", age_group="60+", d_sex="2", d_age_group="4")
    rows[1200]["community"] = community
    rows[2000]["respondent_id"] = "K2000"
    rows[2500]["duration_seconds"] = "0"
    good = _csv(tmp_path / "bulk-good.csv", rows, header)
    summary = await import_responses(wave_id, good, "liangshuaiyidu", username="t")
    assert summary.created == 3000 and await _count(wave_id) == 3000
    stored = {
        r["source_respondent_id"]: r
        for r in await Response.select(
            Response.source_respondent_id,
            Response.sex,
            Response.age_group,
            Response.duration_seconds,
            Response.design_weight,
            Response.status,
            Response.mode,
            Response.answers,
            Response.current_page,
        ).where(Response.wave == wave_id)
    }
    assert stored["K0700"]["sex"] == "F" and stored["K0700"]["age_group"] == "60+"
    assert stored["K2500"]["duration_seconds"] == 0 and stored["K0001"]["duration_seconds"] == 300
    assert {r["status"] for r in stored.values()} == {"completed"}
    assert {r["mode"] for r in stored.values()} == {"phone"}
    assert {r["design_weight"] for r in stored.values()} == {120.5}
    assert '"q_anquan": 1' in stored["K0010"]["answers"]
    assert '"q_anquan": 2' in stored["K0011"]["answers"]
    assert (await import_responses(wave_id, good, "liangshuaiyidu", username="t")).unchanged
    assert await _count(wave_id) == 3000


async def test_numeric_sex_and_age_codes_are_the_instruments_codes(
    small_city: None, tmp_path: Path
) -> None:
    """`sex` 1/2 (also 1.0 as pandas writes it) and `age_group` 1–4 are the codes of the
    instrument's own d_sex / d_age_group items; anything else is refused with the codes it
    takes, and a file whose d_sex column contradicts its sex column is refused row by row."""
    wave_id, community = await _setup()
    rows = [
        _row("N1", community, sex="2", age_group="4", d_sex="2", d_age_group="4"),
        _row("N2", community, sex="1.0", age_group="1", d_sex="1", d_age_group="1"),
        _row("N3", community, sex="女", age_group="45～59岁", d_sex="2", d_age_group="3"),
    ]
    summary = await import_responses(
        wave_id, _csv(tmp_path / "n.csv", rows), "liangshuaiyidu", username="t"
    )
    assert summary.created == 3
    stored = {
        r["source_respondent_id"]: (r["sex"], r["age_group"])
        for r in await Response.select(
            Response.source_respondent_id, Response.sex, Response.age_group
        ).where(Response.wave == wave_id)
    }
    assert stored == {"N1": ("F", "60+"), "N2": ("M", "18-29"), "N3": ("F", "45-59")}
    bad = [
        _row("X1", community, sex="3"),
        _row("X2", community, age_group="5"),
        _row("X3", community, sex="2", d_sex="1"),
    ]
    with pytest.raises(ImportRejected) as caught:
        await import_responses(wave_id, _csv(tmp_path / "x.csv", bad), "liangshuaiyidu", username="t")  # fmt: skip
    assert [str(p) for p in caught.value.problems] == [
        "第2行, 列 sex: 性别 '3' 无效（应为 M/F、男/女，或问卷题 d_sex 的代码 1 = 男、2 = 女）",
        "第3行, 列 age_group: 年龄段 '5' 无效（应为 18-29/30-44/45-59/60+，或问卷题 d_age_group"
        " 的代码 1 = 18～29岁、2 = 30～44岁、3 = 45～59岁、4 = 60岁及以上）",
        "第4行, 列 d_sex: 性别（男）与列 sex（女）不一致",
    ]


async def test_sex_codes_follow_an_instrument_that_numbers_women_first(
    small_city: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instrument asking 1 = 女, 2 = 男: a delivered `sex` of 1 is a woman (the old import
    read 1 as 男 whatever the questionnaire said, and weighted her as a man)."""
    import questionnaires
    from survey.results import importing

    source = Path(questionnaires.__file__).parent / "liangshuaiyidu.toml"
    text = source.read_text(encoding="utf-8")
    men_first = '  { code = 1, label = "男" },\n  { code = 2, label = "女" },'
    assert men_first in text
    text = text.replace(men_first, '  { code = 1, label = "女" },\n  { code = 2, label = "男" },')
    text = text.replace('id = "liangshuaiyidu"', 'id = "lsyd_nv_first"', 1)
    variant = questionnaires.load_instrument_text(text, "lsyd_nv_first.toml")
    instruments = {**questionnaires.default_instruments(), variant.id: variant}
    monkeypatch.setattr(importing, "default_instruments", lambda: instruments)
    wave_id, community = await _setup()
    rows = [_row("W1", community, sex="1", d_sex="1"), _row("W2", community, sex="男", d_sex="2")]
    summary = await import_responses(
        wave_id, _csv(tmp_path / "w.csv", rows), "lsyd_nv_first", username="t"
    )
    assert summary.created == 2
    stored = {
        r["source_respondent_id"]: r["sex"]
        for r in await Response.select(Response.source_respondent_id, Response.sex).where(
            Response.wave == wave_id
        )
    }
    assert stored == {"W1": "F", "W2": "M"}


async def test_an_import_leaves_the_wave_open_to_the_console_and_the_pages(
    small_city: None, tmp_path: Path
) -> None:
    """The imported rows carry the hash of the instrument file, like web and phone answers: a
    pollster interviewing with the same instrument after the import is not refused as if the
    file had been edited (the old import stored the hash of the district's department copy,
    and the console then refused every case: 「问卷…的内容与本测评期已收集的答卷不一致」)."""
    from questionnaires import default_instruments
    from survey.collection.responses import ensure_instrument_frozen

    wave_id, community = await _setup()
    path = _csv(tmp_path / "d.csv", [_row("H1", community)])
    await import_responses(wave_id, path, "liangshuaiyidu", username="t")
    instrument = default_instruments()["liangshuaiyidu"]
    stored = await Response.select(Response.instrument_hash).where(Response.wave == wave_id)
    assert [r["instrument_hash"] for r in stored] == [instrument.content_hash]
    await ensure_instrument_frozen(wave_id, instrument)  # raises InstrumentChanged on old code


def test_a_mapping_file_with_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    from questionnaires import default_instruments
    from survey.results.importing import load_mapping

    mapping = tmp_path / "broken.toml"
    mapping.write_text('[columns]\nphone = "电话"\nsex = 性别\n', encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        load_mapping(mapping, default_instruments()["liangshuaiyidu"])
    assert "对照文件第 3 行: TOML 语法错误" in str(caught.value)
