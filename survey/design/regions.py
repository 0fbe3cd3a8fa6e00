"""The wave a design belongs to and the units of its region (read-only queries).

A frame row names a unit (a 社区/村 or a 街道/乡镇) of the registry; its stratum is derived from that
unit: its street, its police station (through the community → station map) or the community
itself. This module loads the region's units once so an import of 100,000 rows checks each row
against a dictionary, not the database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from survey.db.tables import Station, StationCommunity, Unit, Wave

# How a frame's rows are grouped into strata (the ranked units are streets and stations).
STRATIFY_BY: dict[str, str] = {
    "street": "按街道/乡镇",
    "station": "按派出所",
    "community": "按社区/村",
    "column": "按文件中的 stratum 列",
}
CLOSED_STATUSES = ("closed", "published")


class DesignError(Exception):
    """A sample-design request was refused; the message (Chinese) says why."""


@dataclass(frozen=True, slots=True)
class WaveInfo:
    """The wave a frame or sample belongs to, with its programme's region."""

    id: int
    month: str
    status: str
    programme_id: int
    programme_name: str
    region_id: int
    region_name: str

    @property
    def label(self) -> str:
        return f"{self.programme_name} {self.month}"


@dataclass(frozen=True, slots=True)
class RegionUnit:
    """A unit inside the region, with the street, station and district it belongs to."""

    id: int
    code: str
    name: str
    level: str
    district_code: str
    street_code: str
    station_code: str


@dataclass(frozen=True, slots=True)
class Region:
    """Every unit inside a programme's region, and the police stations of its districts."""

    id: int
    code: str
    name: str
    units: dict[str, RegionUnit]
    stations: dict[str, str]  # code → name

    def name_of(self, stratum: str) -> str:
        """A readable name for a stratum label (a unit or station code, or a pool label)."""
        if stratum in self.units:
            return self.units[stratum].name
        if stratum in self.stations:
            return self.stations[stratum]
        district, _, kind = stratum.partition("-")
        if district in self.units and kind in ("mobile", "landline"):
            return f"{self.units[district].name} {'手机' if kind == 'mobile' else '固话'}"
        return stratum

    def expected_strata(self, stratify_by: str) -> dict[str, str]:
        """Code → name of every stratum a design must cover (every ranked unit of the region)."""
        if stratify_by == "station":
            return dict(sorted(self.stations.items()))
        level = {"street": "street", "community": "community"}.get(stratify_by)
        if level is None:
            return {}
        return {c: u.name for c, u in sorted(self.units.items()) if u.level == level}

    def districts(self) -> dict[str, RegionUnit]:
        return {c: u for c, u in sorted(self.units.items()) if u.level == "district"}


async def load_wave(wave_id: int) -> WaveInfo:
    """The wave with its programme and region; ``DesignError`` if it does not exist."""
    row = (
        await Wave.select(
            Wave.id,
            Wave.month,
            Wave.status,
            Wave.programme.id,
            Wave.programme.name,
            Wave.programme.region.id,  # type: ignore[union-attr]
            Wave.programme.region.name,  # type: ignore[union-attr]
        )
        .where(Wave.id == wave_id)
        .first()
    )
    if row is None:
        raise DesignError(f"测评期 {wave_id} 不存在")
    return WaveInfo(
        id=int(row["id"]),
        month=row["month"],
        status=row["status"],
        programme_id=int(row["programme.id"]),
        programme_name=row["programme.name"],
        region_id=int(row["programme.region.id"]),
        region_name=row["programme.region.name"],
    )


def require_open(wave: WaveInfo) -> None:
    """Frames and samples may change only while a wave is being designed or collected."""
    if wave.status in CLOSED_STATUSES:
        raise DesignError(f"测评期 {wave.label} 已结束，不能再导入抽样框或抽样")


async def load_region(region_id: int) -> Region:
    """Every unit under (and including) ``region_id`` and the stations of its districts."""
    rows = await Unit.select(Unit.id, Unit.code, Unit.name, Unit.level, Unit.parent)
    by_id = {int(r["id"]): r for r in rows}
    children: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        if r["parent"] is not None:
            children[int(r["parent"])].append(int(r["id"]))
    if region_id not in by_id:
        raise DesignError(f"区域 {region_id} 不存在")
    links = await StationCommunity.select(StationCommunity.community, StationCommunity.station.code)
    station_of = {int(r["community"]): r["station.code"] for r in links}
    units: dict[str, RegionUnit] = {}
    # Walk down from the region, carrying the district and street each unit lies in.
    stack: list[tuple[int, str, str]] = [(region_id, "", "")]
    while stack:
        unit_id, district, street = stack.pop()
        r = by_id[unit_id]
        level = r["level"]
        district = r["code"] if level == "district" else district
        street = r["code"] if level == "street" else street
        units[r["code"]] = RegionUnit(
            id=unit_id,
            code=r["code"],
            name=r["name"],
            level=level,
            district_code=district,
            street_code=street,
            station_code=station_of.get(unit_id, "") if level == "community" else "",
        )
        stack.extend((child, district, street) for child in children[unit_id])
    district_ids = [u.id for u in units.values() if u.level == "district"]
    stations = (
        await Station.select(Station.code, Station.name).where(Station.district.is_in(district_ids))
        if district_ids
        else []
    )
    region = by_id[region_id]
    return Region(
        id=region_id,
        code=region["code"],
        name=region["name"],
        units=units,
        stations={s["code"]: s["name"] for s in stations},
    )
