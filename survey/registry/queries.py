"""Read-side queries of the registry for pages and APIs (scoped to a user's district)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from survey.db.tables import Department, Programme, Station, Unit
from survey.registry.tree import load_tree


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
    tree = await load_tree(district_id, population=True)
    if tree is None or tree.root.level != "district":
        return None
    station_names = {s.code: s.name for s in tree.stations}
    communities = tree.at_level("community")
    station_stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in communities:
        station_stats[c.station_code][0] += 1
        station_stats[c.station_code][1] += tree.adults(c.id)
    return DistrictView(
        id=tree.root.id,
        code=tree.root.code,
        name=tree.root.name,
        streets=tuple(
            StreetView(
                s.code,
                s.name,
                tuple(
                    CommunityView(
                        c.code, c.name, station_names.get(c.station_code, "—"), tree.adults(c.id)
                    )
                    for c in tree.children(s.id)
                ),
            )
            for s in tree.at_level("street")
        ),
        stations=tuple(
            StationView(s.code, s.name, station_stats[s.code][0], station_stats[s.code][1])
            for s in tree.stations
        ),
        departments=tuple(d.name for d in tree.departments_of(tree.root.code)),
    )


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
