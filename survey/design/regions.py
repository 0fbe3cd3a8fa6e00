"""The wave a design belongs to and the units of its region (read-only queries).

A frame row names a unit (a 社区/村 or a 街道/乡镇) of the registry; its stratum is derived from that
unit: its street, its police station (through the community → station map) or the community
itself. This module loads the region's units once so an import of 100,000 rows checks each row
against a dictionary, not the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from survey.registry.tree import TreeUnit, load_tree
from survey.waves import WaveRef, wave_ref

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


#: A unit inside the region, with the street, station and district it belongs to.
RegionUnit = TreeUnit


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


async def load_wave(wave_id: int) -> WaveRef:
    """The wave with its programme and region; ``DesignError`` if it does not exist."""
    wave = await wave_ref(wave_id)
    if wave is None:
        raise DesignError(f"测评期 {wave_id} 不存在")
    return wave


def require_open(wave: WaveRef) -> None:
    """Frames and samples may change only while a wave is being designed or collected."""
    if wave.status in CLOSED_STATUSES:
        raise DesignError(f"测评期 {wave.label} 已结束，不能再导入抽样框或抽样")


async def load_region(region_id: int) -> Region:
    """Every unit under (and including) ``region_id`` and the stations of its districts."""
    tree = await load_tree(region_id)
    if tree is None:
        raise DesignError(f"区域 {region_id} 不存在")
    return Region(
        id=region_id,
        code=tree.root.code,
        name=tree.root.name,
        units={u.code: u for u in tree.units},
        stations={s.code: s.name for s in tree.stations},
    )
