"""The one reader of the region tree (``survey.registry.tree``): a city with two districts, read
from the city and from one district; every expected value is read off the file below."""

from __future__ import annotations

import pytest

from survey.db.tables import Unit
from survey.registry.service import import_registry_file
from survey.registry.tree import load_tree

HEADER = (
    "kind,code,name,parent_code,station_code,pop_m_18_29,pop_m_30_44,pop_m_45_59,pop_m_60p,"
    "pop_f_18_29,pop_f_30_44,pop_f_45_59,pop_f_60p"
)
FILE = "\n".join(
    [
        HEADER,
        "市,110100,测试市,,,,,,,,,,",
        "区,110102,西区,110100,,,,,,,,,",
        "区,110101,东区,110100,,,,,,,,,",
        "派出所,S2,西关派出所,110101,,,,,,,,,",
        "派出所,S1,东关派出所,110101,,,,,,,,,",
        "派出所,W1,西区派出所,110102,,,,,,,,,",
        "部门,gongan,东区公安分局,110101,,,,,,,,,",
        "部门,fayuan,东区法院,110101,,,,,,,,,",
        "部门,gongan,西区公安分局,110102,,,,,,,,,",
        "街道,110101002,南关街道,110101,,,,,,,,,",
        "街道,110101001,东关街道,110101,,,,,,,,,",
        "街道,110102001,西街道,110102,,,,,,,,,",
        "社区,110101001002,二号社区,110101001,S2,10,20,30,40,11,21,31,41",
        "社区,110101001001,一号社区,110101001,S1,1,1,1,1,1,1,1,1",
        "社区,110102001001,西一社区,110102001,W1,5,5,5,5,5,5,5,5",
    ]
)

pytestmark = pytest.mark.anyio


async def _id(code: str) -> int:
    row = await Unit.select(Unit.id).where(Unit.code == code).first()
    assert row is not None
    return int(row["id"])


async def test_the_tree_of_a_city_and_of_a_district(db: None) -> None:
    await import_registry_file("tree.csv", FILE.encode())
    assert await load_tree(-1) is None

    city = await load_tree(await _id("110100"), population=True)
    assert city is not None and (city.root.code, city.root.level) == ("110100", "city")
    assert [u.code for u in city.at_level("district")] == ["110101", "110102"]
    assert [u.code for u in city.at_level("street")] == ["110101001", "110101002", "110102001"]
    by_code = {u.code: u for u in city.units}
    two = by_code["110101001002"]
    assert (two.district_code, two.street_code, two.station_code) == ("110101", "110101001", "S2")
    assert by_code["110102001001"].station_code == "W1"
    assert by_code["110101001"].station_code == ""  # only communities have a station
    assert by_code["110100"].district_code == ""  # the city lies in no district
    east_street = by_code["110101001"]
    assert [c.code for c in city.children(east_street.id)] == ["110101001001", "110101001002"]
    assert [(s.code, s.district_code) for s in city.stations] == [
        ("S1", "110101"),
        ("S2", "110101"),
        ("W1", "110102"),
    ]
    # File order within a district (gongan before fayuan in 东区).
    assert [d.code for d in city.departments_of("110101")] == ["gongan", "fayuan"]
    assert [d.name for d in city.departments_of("110102")] == ["西区公安分局"]
    assert city.departments_of("110100") == []
    # 二号社区: 10+20+30+40 + 11+21+31+41 = 204 adults; 一号社区 8; 西一社区 40.
    assert city.adults(two.id) == 204
    assert city.adults(by_code["110101001001"].id) == 8
    assert city.adults(by_code["110102001001"].id) == 40

    east = await load_tree(await _id("110101"))
    assert east is not None and east.root.code == "110101"
    assert {u.code for u in east.units} == {
        "110101",
        "110101001",
        "110101002",
        "110101001001",
        "110101001002",
    }
    assert [s.code for s in east.stations] == ["S1", "S2"]
    assert east.adults(two.id) == 0  # population not asked for
