"""The one reader of the region tree: a region (市 or 区/县) with every unit below it, the
police stations and 政法 departments of its districts, the community → station map and, when
asked, the communities' adult population — read in a few queries and handed over as plain
records. Sample design, result computation, the residents' pages, the telephone console and the
registry pages all shape their views from a ``RegionTree``. Stations and departments are the
records a registry file describes them with (``survey.registry.model``).

Units, stations and departments keep the order the database gives them: units and stations by
code, departments by their file order (``sort_order``) then code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from survey.db.tables import Department, PopulationCount, Station, StationCommunity, Unit
from survey.registry.model import DepartmentRecord, StationRecord


@dataclass(frozen=True, slots=True)
class TreeUnit:
    """A unit of the tree with the district and street it lies in (its own code at that level;
    ``""`` above it) and, for a community, its police station's code."""

    id: int
    code: str
    name: str
    level: str
    district_code: str
    street_code: str
    station_code: str
    parent_id: int | None = None


@dataclass(frozen=True)
class RegionTree:
    """``root`` (the region) and every unit below it, by code; ``population``: community id →
    ``(sex, age group, persons)`` rows (empty unless loaded)."""

    root: TreeUnit
    units: tuple[TreeUnit, ...]
    stations: tuple[StationRecord, ...]
    departments: tuple[DepartmentRecord, ...]
    population: Mapping[int, tuple[tuple[str, str, int], ...]] = field(default_factory=dict)

    def at_level(self, level: str) -> list[TreeUnit]:
        """The units of ``level`` (``district``, ``street``, ``community``; the root included),
        by code."""
        return [u for u in self.units if u.level == level]

    def children(self, unit_id: int) -> list[TreeUnit]:
        """The units whose parent is ``unit_id``, by code."""
        return list(self._children.get(unit_id, ()))

    @cached_property
    def _children(self) -> dict[int | None, list[TreeUnit]]:
        out: dict[int | None, list[TreeUnit]] = defaultdict(list)
        for u in self.units:
            out[u.parent_id].append(u)
        return out

    def departments_of(self, district_code: str) -> list[DepartmentRecord]:
        """The 政法 departments of one district, in file order."""
        return [d for d in self.departments if d.district_code == district_code]

    def adults(self, community_id: int) -> int:
        """The community's registered adults (0 when population was not loaded)."""
        return sum(persons for _sex, _age, persons in self.population.get(community_id, ()))

    def district_adults(self) -> dict[str, int]:
        """Registered adults per district code (the sum over its communities, as the registry
        page and the results' weighting count them; 0 when population was not loaded)."""
        out = {u.code: 0 for u in self.at_level("district")}
        for c in self.at_level("community"):
            out[c.district_code] += self.adults(c.id)
        return out


async def load_tree(region_id: int, *, population: bool = False) -> RegionTree | None:
    """The tree below (and including) unit ``region_id``; None when there is no such unit.
    ``population`` also reads the communities' population counts."""
    rows = await Unit.select(Unit.id, Unit.code, Unit.name, Unit.level, Unit.parent).order_by(
        Unit.code
    )
    by_id = {int(r["id"]): r for r in rows}
    if region_id not in by_id:
        return None
    children: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        if r["parent"] is not None:
            children[int(r["parent"])].append(int(r["id"]))
    # Walk down from the region, carrying the district and street each unit lies in.
    placed: dict[int, tuple[str, str]] = {}
    stack: list[tuple[int, str, str]] = [(region_id, "", "")]
    while stack:
        unit_id, district, street = stack.pop()
        r = by_id[unit_id]
        district = r["code"] if r["level"] == "district" else district
        street = r["code"] if r["level"] == "street" else street
        placed[unit_id] = (district, street)
        stack.extend((child, district, street) for child in children[unit_id])
    communities = [i for i in placed if by_id[i]["level"] == "community"]
    station_of: dict[int, str] = {}
    if communities:
        for link in await StationCommunity.select(
            StationCommunity.community, StationCommunity.station.code
        ).where(StationCommunity.community.is_in(communities)):
            station_of[int(link["community"])] = link["station.code"]
    units = tuple(
        TreeUnit(
            id=int(r["id"]),
            code=r["code"],
            name=r["name"],
            level=r["level"],
            parent_id=None if r["parent"] is None else int(r["parent"]),
            district_code=placed[int(r["id"])][0],
            street_code=placed[int(r["id"])][1],
            station_code=station_of.get(int(r["id"]), ""),
        )
        for r in rows
        if int(r["id"]) in placed
    )
    districts = {u.id: u.code for u in units if u.level == "district"}
    stations: tuple[StationRecord, ...] = ()
    departments: tuple[DepartmentRecord, ...] = ()
    if districts:
        stations = tuple(
            StationRecord(s["code"], s["name"], districts[int(s["district"])])
            for s in await Station.select(Station.code, Station.name, Station.district)
            .where(Station.district.is_in(list(districts)))
            .order_by(Station.code)
        )
        departments = tuple(
            DepartmentRecord(districts[int(d["district"])], d["code"], d["name"], d["sort_order"])
            for d in await Department.select(
                Department.district, Department.code, Department.name, Department.sort_order
            )
            .where(Department.district.is_in(list(districts)))
            .order_by(Department.sort_order)
            .order_by(Department.code)
        )
    counts: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    if population and communities:
        for p in await PopulationCount.select(
            PopulationCount.unit,
            PopulationCount.sex,
            PopulationCount.age_group,
            PopulationCount.persons,
        ).where(PopulationCount.unit.is_in(communities)):
            counts[int(p["unit"])].append((p["sex"], p["age_group"], int(p["persons"])))
    root = next(u for u in units if u.id == region_id)
    return RegionTree(
        root=root,
        units=units,
        stations=stations,
        departments=departments,
        population={k: tuple(v) for k, v in counts.items()},
    )
