"""Registry import: creates and updates, idempotent, and rejects a bad file whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from survey.cli import main
from survey.db.tables import Department, PopulationCount, Station, StationCommunity, Unit
from survey.demo import registry_csv
from survey.registry.service import import_registry_file
from survey.tabular import ImportRejected

# Row numbers as a spreadsheet shows them: header = row 1, 市 = row 2, …, 二号社区 = row 10.
HEADER = (
    "kind,code,name,parent_code,station_code,pop_m_18_29,pop_m_30_44,pop_m_45_59,pop_m_60p,"
    "pop_f_18_29,pop_f_30_44,pop_f_45_59,pop_f_60p"
)
GOOD = "\n".join(
    [
        HEADER,
        "市,110100,测试市,,,,,,,,,,",
        "区,110101,东区,110100,,,,,,,,,",
        "派出所,S1,东关派出所,110101,,,,,,,,,",
        "派出所,S2,西关派出所,110101,,,,,,,,,",
        "部门,gongan,东区公安分局,110101,,,,,,,,,",
        "部门,fayuan,东区法院,110101,,,,,,,,,",
        "街道,110101001,东关街道,110101,,,,,,,,,",
        "社区,110101001001,一号社区,110101001,S1,100,120,130,140,101,121,131,141",
        "社区,110101001002,二号社区,110101001,S2,10,20,30,40,11,21,31,41",
    ]
)

pytestmark = pytest.mark.anyio


async def snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every registry row, as plain tuples, to compare before and after a rejected import."""
    return {
        "units": [tuple(r.values()) for r in await Unit.select().order_by(Unit.id)],
        "stations": [tuple(r.values()) for r in await Station.select().order_by(Station.id)],
        "departments": [
            tuple(r.values()) for r in await Department.select().order_by(Department.id)
        ],
        "links": [
            tuple(r.values()) for r in await StationCommunity.select().order_by(StationCommunity.id)
        ],
        "population": [
            tuple(r.values()) for r in await PopulationCount.select().order_by(PopulationCount.id)
        ],
    }


async def test_import_creates_everything(db: None) -> None:
    summary = await import_registry_file("good.csv", GOOD.encode())
    assert summary.created == {
        "unit": 5,
        "station": 2,
        "department": 2,
        "station_community": 2,
        "population": 16,
    }
    community = (
        await Unit.select(Unit.name, Unit.parent.code).where(Unit.code == "110101001002").first()
    )
    assert community == {"name": "二号社区", "parent.code": "110101001"}
    link = await StationCommunity.select(StationCommunity.station.code).where(
        StationCommunity.community.code == "110101001001"
    )
    assert link == [{"station.code": "S1"}]
    counts = await PopulationCount.select(PopulationCount.persons).where(
        (PopulationCount.unit.code == "110101001001")
        & (PopulationCount.sex == "F")
        & (PopulationCount.age_group == "60+")
    )
    assert counts == [{"persons": 141}]


async def test_reimport_changes_nothing(db: None) -> None:
    await import_registry_file("good.csv", GOOD.encode())
    before = await snapshot()
    summary = await import_registry_file("good.csv", GOOD.encode())
    assert not summary.changed
    assert summary.unchanged == 5 + 2 + 2 + 2 + 16
    assert await snapshot() == before


async def test_import_updates_names_counts_and_station(db: None) -> None:
    await import_registry_file("good.csv", GOOD.encode())
    changed = GOOD.replace("二号社区,110101001,S2,10,", "第二社区,110101001,S1,15,")
    summary = await import_registry_file("changed.csv", changed.encode())
    assert summary.updated == {"unit": 1, "station_community": 1, "population": 1}
    assert not summary.created
    row = await StationCommunity.select(StationCommunity.station.code).where(
        StationCommunity.community.code == "110101001002"
    )
    assert row == [{"station.code": "S1"}]


async def test_xlsx_import_matches_csv(db: None, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for line in GOOD.splitlines():
        # Numbers as real numeric cells, as Excel users type them.
        ws.append([int(c) if c.isdigit() and len(c) < 6 else c for c in line.split(",")])
    path = tmp_path / "registry.xlsx"
    wb.save(path)
    summary = await import_registry_file(path)
    assert summary.created["population"] == 16
    again = await import_registry_file("good.csv", GOOD.encode())
    assert not again.changed


async def test_demo_registry_imports(db: None) -> None:
    summary = await import_registry_file("demo.csv", registry_csv())
    assert summary.created["station"] == 8
    assert summary.created["department"] == 4
    assert await Unit.count().where(Unit.level == "street") == 12
    assert 70 <= await Unit.count().where(Unit.level == "community") <= 90


BAD_CASES = [
    pytest.param(
        GOOD.replace("街道,110101001,东关街道,110101", "街道,110101001,东关街道,999999"),
        ["第8行, 列 parent_code: 上级编码 999999 不存在"],
        id="unknown-parent",
    ),
    pytest.param(
        GOOD + "\n社区,110101001001,重复社区,110101001,S1,,,,,,,,",
        ["第11行, 列 code: 编码 110101001001 重复（第9行已使用）"],
        id="duplicate-code",
    ),
    pytest.param(
        GOOD + "\n社区,110101001001,一号社区,110101001,S2,,,,,,,,",
        [
            "第11行, 列 code: 编码 110101001001 重复（第9行已使用）",
            "第11行, 列 station_code: 社区 110101001001 同时属于派出所 S1（第9行）和 S2",
        ],
        id="community-two-stations",
    ),
    pytest.param(
        GOOD.replace(",S2,10,20,", ",S2,-10,20,"),
        ["第10行, 列 pop_m_18_29: 人口数 -10 不能为负数"],
        id="negative-count",
    ),
    pytest.param(
        GOOD.replace(",S2,10,20,", ",S2,10,二十,"),
        ["第10行, 列 pop_m_30_44: 人口数 '二十' 不是整数"],
        id="count-not-a-number",
    ),
    pytest.param(
        "\n".join(
            ",".join(line.split(",")[:3] + line.split(",")[4:]) for line in GOOD.splitlines()
        ),
        ["第1行, 列 parent_code: 缺少必需的列"],
        id="missing-column",
    ),
    pytest.param(
        GOOD.replace(
            "社区,110101001002,二号社区,110101001,S2", "社区,110101001002,二号社区,110101001,S9"
        ),
        ["第10行, 列 station_code: 派出所编码 S9 不存在"],
        id="unknown-station",
    ),
    pytest.param(
        GOOD.replace("社区,110101001002,二号社区,110101001,", "社区,110101001002,二号社区,110101,"),
        ["第10行, 列 parent_code: 上级 110101 是区/县，此处上级应为街道/乡镇"],
        id="wrong-parent-level",
    ),
]


@pytest.mark.parametrize(("content", "messages"), BAD_CASES)
async def test_bad_file_rejected_whole(db: None, content: str, messages: list[str]) -> None:
    # A first, valid import: the rejected file must not change any of it.
    await import_registry_file("good.csv", GOOD.encode())
    before = await snapshot()
    with pytest.raises(ImportRejected) as info:
        await import_registry_file("bad.csv", content.encode())
    assert [str(p) for p in info.value.problems] == messages
    assert await snapshot() == before


async def test_every_problem_is_listed(db: None) -> None:
    content = GOOD.replace(",S2,10,20,", ",S2,-1,x,") + "\n城堡,Z1,未知,,,,,,,,,,"
    with pytest.raises(ImportRejected) as info:
        await import_registry_file("bad.csv", content.encode())
    assert [str(p) for p in info.value.problems] == [
        "第10行, 列 pop_m_18_29: 人口数 -1 不能为负数",
        "第10行, 列 pop_m_30_44: 人口数 'x' 不是整数",
        "第11行, 列 kind: 未知类型 '城堡'（应为 市/区/街道/社区/派出所/部门）",
    ]
    assert await Unit.count() == 0


async def test_not_utf8_and_empty_files(db: None) -> None:
    with pytest.raises(ImportRejected, match="不是 UTF-8"):
        await import_registry_file("gbk.csv", GOOD.encode("gbk"))
    with pytest.raises(ImportRejected, match="文件为空"):
        await import_registry_file("empty.csv", b"")
    with pytest.raises(ImportRejected, match="不支持的文件类型"):
        await import_registry_file("units.json", b"{}")


def test_cli_import_rejects_with_one_line_per_problem(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD.replace(",S2,10,20,", ",S2,-10,20,"), encoding="utf-8")
    assert main(["import-units", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "导入被拒绝，共 1 个问题" in err
    assert "第10行, 列 pop_m_18_29: 人口数 -10 不能为负数" in err

    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert main(["import-units", str(good)]) == 0
    assert "导入完成" in capsys.readouterr().out


def test_cli_missing_file(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-units", "/nonexistent/units.csv"]) == 1
    assert "无法读取文件" in capsys.readouterr().err


# Population in long format: the counts of GOOD's 二号社区 (M 18-29 … F 60+ = 10 20 30 40 11 21 31 41)
# written one row per cell, with Chinese sex and age labels where the format allows them.
LONG = "\n".join(
    [
        "community,sex,age_group,count",
        "110101001002,M,18-29,10",
        "110101001002,男,30-44,20",
        "110101001002,M,45-59,30",
        "110101001002,M,60+,40",
        "110101001002,F,18-29,11",
        "110101001002,女,30-44,21",
        "110101001002,F,45-59,31",
        "110101001002,F,60岁及以上,41",
    ]
)


async def test_long_population_gives_the_same_counts_as_the_wide_columns(db: None) -> None:
    wide_only = GOOD.replace("S2,10,20,30,40,11,21,31,41", "S2,,,,,,,,")
    await import_registry_file("units.csv", wide_only.encode())
    community = await Unit.select(Unit.id).where(Unit.code == "110101001002").first()
    assert community is not None
    assert not await PopulationCount.exists().where(PopulationCount.unit == community["id"])
    summary = await import_registry_file("population.csv", LONG.encode())
    assert summary.created == {"population": 8}
    rows = await PopulationCount.select(
        PopulationCount.sex, PopulationCount.age_group, PopulationCount.persons
    ).where(PopulationCount.unit == community["id"])
    got = {(r["sex"], r["age_group"]): r["persons"] for r in rows}
    assert got == {
        ("M", "18-29"): 10,
        ("M", "30-44"): 20,
        ("M", "45-59"): 30,
        ("M", "60+"): 40,
        ("F", "18-29"): 11,
        ("F", "30-44"): 21,
        ("F", "45-59"): 31,
        ("F", "60+"): 41,
    }
    again = await import_registry_file("population.csv", LONG.encode())
    assert again.created == {} and again.updated == {} and again.unchanged == 8


async def test_bad_long_population_is_rejected_whole_with_row_and_column(db: None) -> None:
    await import_registry_file("good.csv", GOOD.encode())
    before = await snapshot()
    bad = "\n".join(
        [
            "community,sex,age_group,count",
            "110101001002,M,18-29,99",  # fine alone, but the file is rejected whole
            "110101001,M,30-44,5",  # a street, not a community
            "110101001002,X,30-44,5",
            "110101001002,F,65+,5",
            "110101001002,F,45-59,-3",
            "110101001002,M,18-29,7",  # same cell twice
        ]
    )
    with pytest.raises(ImportRejected) as caught:
        await import_registry_file("pop.csv", bad.encode())
    problems = [str(p) for p in caught.value.problems]
    assert problems == [
        "第3行, 列 community: 社区编码 '110101001' 是街道/乡镇（请先导入区划）",
        "第4行, 列 sex: 性别 'X' 无效（M/F 或 男/女）",
        "第5行, 列 age_group: 年龄段 '65+' 无效（18-29、30-44、45-59、60+）",
        "第6行, 列 count: 人口数 '-3' 应为不小于 0 的整数",
        "第7行, 列 community: 社区 110101001002 的 M 18-29 重复（第2行已有）",
    ]
    assert await snapshot() == before


async def test_a_chinese_department_code_is_refused_with_the_fix(db: None) -> None:
    text = GOOD.replace("部门,fayuan,东区法院", "部门,法院,东区法院")
    with pytest.raises(ImportRejected) as caught:
        await import_registry_file("depts.csv", text.encode())
    (problem,) = caught.value.problems
    assert str(problem) == (
        "第7行, 列 code: 部门编码 '法院' 不能用汉字：编码用字母、数字、- 或 _（1–20 位），"
        "如 检察院 写 jianchayuan、公安分局 写 gongan；中文名称写在 name 列"
    )


def test_the_import_summary_names_the_kinds_in_chinese() -> None:
    """What `survey import-units` and 导入区划 print: the records in Chinese (it printed the
    table names, 「新建: department 4，station 3，station_community 6，unit 10」)."""
    from survey.registry.service import ImportSummary

    summary = ImportSummary()
    for kind, times in (("department", 4), ("station", 3), ("station_community", 6), ("unit", 10)):
        for _ in range(times):
            summary.count(kind, True)
    summary.count("population", False)
    assert summary.describe() == (
        "新建: 区划单位 10，派出所 3，社区归属派出所 6，政法部门 4；更新: 人口数 1；未变: 0"
    )
