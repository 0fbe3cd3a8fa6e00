"""Registry import into the database: validate the whole file, then apply it in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from piccolo.table import Table

from survey import audit
from survey.db import is_postgres, write_transaction
from survey.db.tables import (
    Department,
    PopulationCount,
    Station,
    StationCommunity,
    Unit,
)
from survey.registry.model import (
    ExistingRegistry,
    RegistryPlan,
    is_long_population,
    validate_population_long,
    validate_registry,
)
from survey.tabular import ImportRejected, read_upload
from survey.tabular import Table as RowTable

#: The record kinds of an import as people call them, in the order they are reported.
_KIND_WORDS: dict[str, str] = {
    "unit": "区划单位",
    "station": "派出所",
    "station_community": "社区归属派出所",
    "department": "政法部门",
    "population": "人口数",
}


def _ordered(counts: dict[str, int]) -> list[str]:
    return sorted(counts, key=lambda k: (list(_KIND_WORDS).index(k) if k in _KIND_WORDS else 99, k))


@dataclass(slots=True)
class ImportSummary:
    """How many records a registry import created, updated and left unchanged."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0

    def count(self, kind: str, created: bool) -> None:
        target = self.created if created else self.updated
        target[kind] = target.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def describe(self) -> str:
        """In words, e.g. 新建: 区划单位 10，派出所 3，社区归属 6，政法部门 4；更新: 无；未变: 0."""

        def fmt(d: dict[str, int]) -> str:
            return "，".join(f"{_KIND_WORDS.get(k, k)} {d[k]}" for k in _ordered(d)) or "无"

        return f"新建: {fmt(self.created)}；更新: {fmt(self.updated)}；未变: {self.unchanged}"


async def load_existing() -> ExistingRegistry:
    units = await Unit.select(Unit.code, Unit.level)
    stations = await Station.select(Station.code)
    links = await StationCommunity.select(
        StationCommunity.community.code, StationCommunity.station.code
    )
    return ExistingRegistry(
        unit_levels={u["code"]: u["level"] for u in units},
        stations=frozenset(s["code"] for s in stations),
        community_station={r["community.code"]: r["station.code"] for r in links},
    )


async def import_registry_file(
    path: str | Path, data: bytes | None = None, username: str = ""
) -> ImportSummary:
    """Import a registry CSV/XLSX. Raises ``ImportRejected`` (nothing written) on any problem."""
    table = await read_upload(path, data)
    return await import_registry_table(table, username=username)


async def import_registry_table(table: RowTable, username: str = "") -> ImportSummary:
    async with write_transaction():
        if is_postgres():  # two imports at once queue here instead of colliding on unit codes
            await Unit.raw('LOCK TABLE "region_unit" IN SHARE ROW EXCLUSIVE MODE')
        existing = await load_existing()
        # Pure CPU over every row: on a worker thread, so a large file stalls no other request.
        if is_long_population(table):
            plan, problems = await anyio.to_thread.run_sync(
                validate_population_long, table, existing
            )
        else:
            plan, problems = await anyio.to_thread.run_sync(validate_registry, table, existing)
        if problems:
            raise ImportRejected(table.source, problems)
        summary = await _apply(plan)
        if summary.changed:
            await audit.record(username, "import-units", f"{table.source}: {summary.describe()}")
    return summary


async def _insert_id(row: Table) -> int:
    table: Any = type(row)
    result = await table.insert(row).returning(table.id)
    return int(result[0]["id"])


async def _apply(plan: RegistryPlan) -> ImportSummary:
    summary = ImportSummary()
    units = {r["code"]: r for r in await Unit.select(Unit.id, Unit.code, Unit.name, Unit.parent)}
    unit_ids = {code: int(r["id"]) for code, r in units.items()}
    for unit in plan.units:
        parent_id = unit_ids[unit.parent_code] if unit.parent_code else None
        current = units.get(unit.code)
        if current is None:
            unit_ids[unit.code] = await _insert_id(
                Unit(code=unit.code, name=unit.name, level=unit.level, parent=parent_id)
            )
            summary.count("unit", True)
        elif current["name"] != unit.name or current["parent"] != parent_id:
            await Unit.update({Unit.name: unit.name, Unit.parent: parent_id}).where(
                Unit.id == current["id"]
            )
            summary.count("unit", False)
        else:
            summary.unchanged += 1

    stations = {
        r["code"]: r
        for r in await Station.select(Station.id, Station.code, Station.name, Station.district)
    }
    station_ids = {code: int(r["id"]) for code, r in stations.items()}
    for st in plan.stations:
        district_id = unit_ids[st.district_code]
        current = stations.get(st.code)
        if current is None:
            station_ids[st.code] = await _insert_id(
                Station(code=st.code, name=st.name, district=district_id)
            )
            summary.count("station", True)
        elif current["name"] != st.name or current["district"] != district_id:
            await Station.update({Station.name: st.name, Station.district: district_id}).where(
                Station.id == current["id"]
            )
            summary.count("station", False)
        else:
            summary.unchanged += 1

    departments = {
        (r["district"], r["code"]): r
        for r in await Department.select(
            Department.id,
            Department.district,
            Department.code,
            Department.name,
            Department.sort_order,
        )
    }
    for dept in plan.departments:
        district_id = unit_ids[dept.district_code]
        current = departments.get((district_id, dept.code))
        if current is None:
            await _insert_id(
                Department(
                    district=district_id, code=dept.code, name=dept.name, sort_order=dept.sort_order
                )
            )
            summary.count("department", True)
        elif current["name"] != dept.name or current["sort_order"] != dept.sort_order:
            await Department.update(
                {Department.name: dept.name, Department.sort_order: dept.sort_order}
            ).where(Department.id == current["id"])
            summary.count("department", False)
        else:
            summary.unchanged += 1

    links = {
        r["community"]: r
        for r in await StationCommunity.select(
            StationCommunity.id, StationCommunity.community, StationCommunity.station
        )
    }
    for community_code, station_code in plan.community_station:
        community_id, station_id = unit_ids[community_code], station_ids[station_code]
        current = links.get(community_id)
        if current is None:
            await _insert_id(StationCommunity(community=community_id, station=station_id))
            summary.count("station_community", True)
        elif current["station"] != station_id:
            await StationCommunity.update({StationCommunity.station: station_id}).where(
                StationCommunity.id == current["id"]
            )
            summary.count("station_community", False)
        else:
            summary.unchanged += 1

    counts = {
        (r["unit"], r["sex"], r["age_group"]): r
        for r in await PopulationCount.select(
            PopulationCount.id,
            PopulationCount.unit,
            PopulationCount.sex,
            PopulationCount.age_group,
            PopulationCount.persons,
        )
    }
    for unit_code, sex, age, count in plan.population:
        unit_id = unit_ids[unit_code]
        current = counts.get((unit_id, sex, age))
        if current is None:
            await _insert_id(PopulationCount(unit=unit_id, sex=sex, age_group=age, persons=count))
            summary.count("population", True)
        elif current["persons"] != count:
            await PopulationCount.update({PopulationCount.persons: count}).where(
                PopulationCount.id == current["id"]
            )
            summary.count("population", False)
        else:
            summary.unchanged += 1
    return summary
