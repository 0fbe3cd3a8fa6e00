"""Frame and number-block import: stored rows, strata, fingerprint, and whole-file rejection."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

import sampling
from survey.db.tables import Wave
from survey.design.frames import import_blocks_file, import_frame_file
from survey.design.regions import DesignError
from survey.design.tables import Frame, FrameRow
from survey.tabular import ImportRejected
from tests.design.conftest import Region, frame_csv

pytestmark = pytest.mark.anyio


async def stored() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    frames = [tuple(r.values()) for r in await Frame.select().order_by(Frame.id)]
    rows = [tuple(r.values()) for r in await FrameRow.select().order_by(FrameRow.id)]
    return frames, rows


@pytest.mark.parametrize(
    ("strata", "expected"),
    [
        ("street", {"110101001": 5, "110101002": 4, "110101003": 1}),
        ("station", {"S1": 6, "S2": 4}),
        ("community", {"C1": 2, "C2": 3, "C3": 4, "C4": 1}),
    ],
)
async def test_frame_rows_get_their_stratum(
    region: Region, strata: str, expected: dict[str, int]
) -> None:
    data = frame_csv({"C1": 2, "C2": 3, "C3": 4, "C4": 1})
    summary = await import_frame_file(region.wave_id, "frame.csv", data, stratify_by=strata)
    assert summary.created and summary.rows == 10 and summary.strata == len(expected)
    rows = await FrameRow.select(FrameRow.stratum, FrameRow.row_number, FrameRow.phone).order_by(
        FrameRow.row_number
    )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["stratum"]] = counts.get(r["stratum"], 0) + 1
    assert counts == expected
    assert [r["row_number"] for r in rows] == list(range(2, 12))  # spreadsheet rows
    assert rows[0]["phone"] == "13900000000"


async def test_fingerprint_is_over_the_canonical_columns_and_reimport_is_a_no_op(
    region: Region,
) -> None:
    data = b"unit,phone,address\nC1,139 0000 0001,A\nC3,+8613900000002,B\n"
    first = await import_frame_file(region.wave_id, "f.csv", data)
    expected = sampling.frame_fingerprint(
        ("unit", "stratum", "household_id", "phone"),
        [["C1", "110101001", "", "13900000001"], ["C3", "110101002", "", "13900000002"]],
    )
    assert first.fingerprint == expected
    again = await import_frame_file(region.wave_id, "f.csv", data)
    assert (again.frame_id, again.created) == (first.frame_id, False)
    assert await Frame.count() == 1 and await FrameRow.count() == 2
    extra = await FrameRow.select(FrameRow.extra).order_by(FrameRow.row_number).first()
    assert extra is not None and extra["extra"] == '{"address": "A"}'


async def test_bad_rows_are_all_reported_and_nothing_is_stored(region: Region) -> None:
    await import_frame_file(region.wave_id, "good.csv", frame_csv({"C1": 2}))
    before = await stored()
    bad = "\n".join(
        [
            "unit,phone",
            "C1,13900001111",
            "XX9,13900001112",  # row 3: unknown unit
            "110101,13900001113",  # row 4: a district, not a street or community
            ",13900001114",  # row 5: empty unit
            "C2,1390000",  # row 6: malformed number
            "C3,13900001111",  # row 7: repeats row 2
            "W1,13900001115",  # row 8: a community of another district
        ]
    ).encode()
    with pytest.raises(ImportRejected) as info:
        await import_frame_file(region.wave_id, "bad.csv", bad)
    lines = [str(p) for p in info.value.problems]
    assert lines == [
        "第3行, 列 unit: 未知的单位代码「XX9」（不在 东区 的区划中）",
        "第4行, 列 unit: 「110101」是区县，请填写社区/村或街道/乡镇代码",
        "第5行, 列 unit: 单位代码为空",
        "第6行, 列 phone: 手机号码「1390000」应为 11 位数字，以 13–19 开头",
        "第7行, 列 phone: 号码与第2行重复",
        "第8行, 列 unit: 未知的单位代码「W1」（不在 东区 的区划中）",
    ]
    assert await stored() == before


async def test_household_frames_and_station_strata_need_their_columns(region: Region) -> None:
    with pytest.raises(ImportRejected) as info:
        await import_frame_file(
            region.wave_id, "h.csv", b"unit,phone\nC1,13900000001\n", kind="household"
        )
    assert [str(p) for p in info.value.problems] == ["第1行, 列 household_id: 缺少必需的列"]
    data = b"unit,household_id,phone\nC1,H1,13900000001\n110101002,H1,13900000002\n"
    with pytest.raises(ImportRejected) as info:
        await import_frame_file(
            region.wave_id, "h.csv", data, kind="household", stratify_by="station"
        )
    assert [str(p) for p in info.value.problems] == [
        "第3行, 列 unit: 按派出所分层时必须填写社区/村代码，「110101002」是街道/乡镇",
        "第3行, 列 household_id: 住户编号「H1」与第2行重复",
    ]
    assert await Frame.count() == 0


async def test_xlsx_frame(region: Region, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["unit", "stratum", "phone"])
    sheet.append(["C1", "甲层", 13900000001])  # a number cell, as Excel stores it
    sheet.append(["C4", "乙层", "13900000002"])
    path = tmp_path / "frame.xlsx"
    book.save(path)
    summary = await import_frame_file(region.wave_id, path, stratify_by="column")
    assert summary.rows == 2
    rows = await FrameRow.select(FrameRow.stratum, FrameRow.phone).order_by(FrameRow.row_number)
    assert rows == [
        {"stratum": "甲层", "phone": "13900000001"},
        {"stratum": "乙层", "phone": "13900000002"},
    ]


async def test_closed_wave_refuses_frames(region: Region) -> None:
    with pytest.raises(DesignError, match="已结束"):
        await import_frame_file(region.earlier_wave_id, "f.csv", frame_csv({"C1": 1}))
    assert await Wave.count() == 2 and await Frame.count() == 0


async def test_number_blocks(region: Region) -> None:
    data = "prefix,carrier,district\n1380013,中国移动,110101\n0571-8765,中国电信,110101\n"
    summary = await import_blocks_file(region.wave_id, "blocks.csv", data.encode())
    assert (summary.kind, summary.rows, summary.strata) == ("blocks", 2, 2)
    rows = await FrameRow.select(FrameRow.stratum, FrameRow.phone).order_by(FrameRow.row_number)
    assert rows == [
        {"stratum": "110101-mobile", "phone": "1380013"},
        {"stratum": "110101-landline", "phone": "0571-8765"},
    ]


async def test_malformed_number_blocks_are_rejected_whole(region: Region) -> None:
    bad = "\n".join(
        [
            "prefix,carrier,district",
            "1380013,中国移动,110101",
            "138001,中国移动,110101",  # row 3: six digits
            "1380013,中国移动,110101",  # row 4: repeated
            "0571-1234,,110101",  # row 5: landline starting with 1, no carrier
            "1390013,中国联通,999999",  # row 6: unknown district
            "1390014,中国联通,110101001",  # row 7: a street, not a district
        ]
    ).encode()
    with pytest.raises(ImportRejected) as info:
        await import_blocks_file(region.wave_id, "blocks.csv", bad)
    lines = [str(p) for p in info.value.problems]
    assert (
        lines[0]
        == "第3行, 列 prefix: 手机号段「138001」应为 7 位数字，以 13–19 开头（例如 1380013）"
    )
    assert lines[1] == "第4行, 列 prefix: 号段「1380013」与第2行重复"
    assert lines[2].startswith("第5行, 列 prefix: 号段「0571-1234」格式错误")
    assert lines[3] == "第5行, 列 carrier: 运营商为空"
    assert lines[4] == "第6行, 列 district: 未知的区县代码「999999」（不在 东区 中）"
    assert lines[5] == "第7行, 列 district: 未知的区县代码「110101001」（不在 东区 中）"
    assert len(lines) == 6
    assert await Frame.count() == 0 and await FrameRow.count() == 0
