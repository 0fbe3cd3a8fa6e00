"""Read-side queries of the registry for pages and APIs (scoped to a user's district)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from survey.db.tables import (
    Department,
    PopulationCount,
    Programme,
    Station,
    StationCommunity,
    Unit,
    Wave,
)
from survey.waves import STATUS_NAMES, next_steps


@dataclass(frozen=True, slots=True)
class CommunityView:
    code: str
    name: str
    station_name: str
    adults: int


@dataclass(frozen=True, slots=True)
class StreetView:
    code: str
    name: str
    communities: tuple[CommunityView, ...]

    @property
    def adults(self) -> int:
        return sum(c.adults for c in self.communities)


@dataclass(frozen=True, slots=True)
class StationView:
    code: str
    name: str
    community_count: int
    adults: int


@dataclass(frozen=True, slots=True)
class DistrictView:
    id: int
    code: str
    name: str
    streets: tuple[StreetView, ...]
    stations: tuple[StationView, ...]
    departments: tuple[str, ...]

    @property
    def adults(self) -> int:
        return sum(s.adults for s in self.streets)

    @property
    def community_count(self) -> int:
        return sum(len(s.communities) for s in self.streets)


async def district_ids(limit_to: int | None) -> list[int]:
    """The districts a user may see: their own, or all when not limited."""
    if limit_to is not None:
        return [limit_to]
    rows = await Unit.select(Unit.id).where(Unit.level == "district").order_by(Unit.code)
    return [r["id"] for r in rows]


async def district_view(district_id: int) -> DistrictView | None:
    district = (
        await Unit.select(Unit.id, Unit.code, Unit.name)
        .where((Unit.id == district_id) & (Unit.level == "district"))
        .first()
    )
    if district is None:
        return None
    streets = (
        await Unit.select(Unit.id, Unit.code, Unit.name)
        .where(Unit.parent == district_id)
        .order_by(Unit.code)
    )
    street_ids = [s["id"] for s in streets]
    communities = (
        await Unit.select(Unit.id, Unit.code, Unit.name, Unit.parent)
        .where(Unit.parent.is_in(street_ids))
        .order_by(Unit.code)
        if street_ids
        else []
    )
    community_ids = [c["id"] for c in communities]
    adults: dict[int, int] = defaultdict(int)
    station_of: dict[int, tuple[str, str]] = {}
    if community_ids:
        for row in await PopulationCount.select(
            PopulationCount.unit, PopulationCount.persons
        ).where(PopulationCount.unit.is_in(community_ids)):
            adults[row["unit"]] += row["persons"]
        for row in await StationCommunity.select(
            StationCommunity.community, StationCommunity.station.code, StationCommunity.station.name
        ).where(StationCommunity.community.is_in(community_ids)):
            station_of[row["community"]] = (row["station.code"], row["station.name"])
    by_street: dict[int, list[CommunityView]] = defaultdict(list)
    for c in communities:
        by_street[c["parent"]].append(
            CommunityView(
                c["code"], c["name"], station_of.get(c["id"], ("", "—"))[1], adults[c["id"]]
            )
        )
    station_rows = (
        await Station.select(Station.code, Station.name)
        .where(Station.district == district_id)
        .order_by(Station.code)
    )
    station_stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in communities:
        code = station_of.get(c["id"], ("", ""))[0]
        station_stats[code][0] += 1
        station_stats[code][1] += adults[c["id"]]
    departments = (
        await Department.select(Department.name)
        .where(Department.district == district_id)
        .order_by(Department.sort_order)
    )
    return DistrictView(
        id=district["id"],
        code=district["code"],
        name=district["name"],
        streets=tuple(StreetView(s["code"], s["name"], tuple(by_street[s["id"]])) for s in streets),
        stations=tuple(
            StationView(
                s["code"], s["name"], station_stats[s["code"]][0], station_stats[s["code"]][1]
            )
            for s in station_rows
        ),
        departments=tuple(d["name"] for d in departments),
    )


@dataclass(frozen=True, slots=True)
class WaveView:
    id: int
    programme: str
    programme_code: str
    month: str
    status: str  # shown name (设计 / 采集 / 结束 / 发布)
    status_code: str
    district: str
    steps: tuple[tuple[str, str], ...]  # (next status, name of the step)


async def waves_for(limit_to: int | None) -> list[WaveView]:
    query = Wave.select(
        Wave.id,
        Wave.programme.name,
        Wave.programme.code,
        Wave.month,
        Wave.status,
        Wave.programme.region.name,  # type: ignore[union-attr]
    ).order_by(Wave.month, ascending=False)
    if limit_to is not None:
        query = query.where(Wave.programme.region == limit_to)
    return [
        WaveView(
            r["id"],
            r["programme.name"],
            r["programme.code"],
            r["month"],
            STATUS_NAMES.get(r["status"], r["status"]),
            r["status"],
            r["programme.region.name"],
            tuple(next_steps(r["status"])),
        )
        for r in await query
    ]


async def programmes_for(limit_to: int | None) -> list[dict[str, str]]:
    """Programmes (code, name) a user may manage waves of."""
    query = Programme.select(Programme.code, Programme.name).order_by(Programme.code)
    if limit_to is not None:
        query = query.where(Programme.region == limit_to)
    return [{"code": r["code"], "name": r["name"]} for r in await query]


async def registry_counts() -> dict[str, int]:
    return {
        "districts": await Unit.count().where(Unit.level == "district"),
        "streets": await Unit.count().where(Unit.level == "street"),
        "communities": await Unit.count().where(Unit.level == "community"),
        "stations": await Station.count(),
        "departments": await Department.count(),
        "programmes": await Programme.count(),
    }


async def regions_at(levels: Sequence[str], limit_to: int | None = None) -> list[dict[str, Any]]:
    """Units of the given levels (``district``, ``city`` …) as ``id``, ``code``, ``name``,
    ``level``, by code; ``limit_to`` keeps only that unit (a district-limited user's)."""
    query = Unit.select(Unit.id, Unit.code, Unit.name, Unit.level).where(
        Unit.level.is_in(list(levels))
    )
    if limit_to is not None:
        query = query.where(Unit.id == limit_to)
    return list(await query.order_by(Unit.code))
