"""Pure validation of a registry file into a plan of records (no database access here).

File format (CSV or XLSX, one row per record, see docs/registry-format.md):
``kind, code, name, parent_code, station_code`` and optionally the eight population columns
``pop_m_18_29 … pop_f_60p``. ``kind`` is one of city/district/street/community/station/department
(or 市, 区, 县, 街道, 乡镇, 社区, 村, 派出所, 部门). Population counts may instead come in long
format, one file of ``community, sex, age_group, count`` rows (``validate_population_long``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from survey.tabular import Problem, Table, require_columns

REQUIRED_COLUMNS: tuple[str, ...] = ("kind", "code", "name", "parent_code")
POPULATION_COLUMNS: dict[str, tuple[str, str]] = {
    f"pop_{sex.lower()}_{age.replace('-', '_').replace('+', 'p')}": (sex, age)
    for sex in ("M", "F")
    for age in ("18-29", "30-44", "45-59", "60+")
}
KIND_ALIASES: dict[str, str] = {
    "city": "city",
    "市": "city",
    "district": "district",
    "区": "district",
    "县": "district",
    "区县": "district",
    "street": "street",
    "街道": "street",
    "乡镇": "street",
    "镇": "street",
    "乡": "street",
    "community": "community",
    "社区": "community",
    "村": "community",
    "station": "station",
    "派出所": "station",
    "department": "department",
    "部门": "department",
    "政法部门": "department",
}
# The level each unit kind's parent must have (None: no parent allowed/required).
PARENT_LEVEL: dict[str, tuple[str | None, ...]] = {
    "city": (None,),
    "district": ("city", None),
    "street": ("district",),
    "community": ("street",),
    "station": ("district",),
    "department": ("district",),
}
LEVEL_NAMES = {"city": "市", "district": "区/县", "street": "街道/乡镇", "community": "社区/村"}
CODE_PATTERN = re.compile(r"^[0-9A-Za-z_-]{1,20}$")
#: The columns of a population file in long format (one row per community × sex × age group).
LONG_POPULATION_COLUMNS: tuple[str, ...] = ("community", "sex", "age_group", "count")
SEX_ALIASES: dict[str, str] = {"m": "M", "男": "M", "男性": "M", "f": "F", "女": "F", "女性": "F"}
AGE_ALIASES: dict[str, str] = {
    **{age: age for age in ("18-29", "30-44", "45-59", "60+")},
    "18～29岁": "18-29",
    "30～44岁": "30-44",
    "45～59岁": "45-59",
    "60岁及以上": "60+",
    "60岁以上": "60+",
}


@dataclass(frozen=True, slots=True)
class UnitRecord:
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class StationRecord:
    code: str
    name: str
    district_code: str


@dataclass(frozen=True, slots=True)
class DepartmentRecord:
    district_code: str
    code: str
    name: str
    sort_order: int


@dataclass(frozen=True, slots=True)
class RegistryPlan:
    """What a valid file asks for, in an order that respects parents."""

    units: tuple[UnitRecord, ...]
    stations: tuple[StationRecord, ...]
    departments: tuple[DepartmentRecord, ...]
    community_station: tuple[tuple[str, str], ...]  # (community code, station code)
    population: tuple[tuple[str, str, str, int], ...]  # (unit code, sex, age group, count)


@dataclass(frozen=True, slots=True)
class ExistingRegistry:
    """Codes already stored: unit code → level, station codes, community code → station code."""

    unit_levels: Mapping[str, str] = field(default_factory=dict)
    stations: frozenset[str] = frozenset()
    community_station: Mapping[str, str] = field(default_factory=dict)


def validate_registry(
    table: Table, existing: ExistingRegistry
) -> tuple[RegistryPlan, list[Problem]]:
    """Check every row; return the plan and every problem found (the plan is void if any)."""
    problems = require_columns(table, REQUIRED_COLUMNS)
    pop_present = [c for c in POPULATION_COLUMNS if c in table.header]
    if pop_present and len(pop_present) != len(POPULATION_COLUMNS):
        problems.extend(
            Problem(1, c, "缺少人口列（8 个人口列须同时出现）")
            for c in POPULATION_COLUMNS
            if c not in table.header
        )
    if problems:
        return _empty_plan(), problems

    units: dict[str, tuple[int, UnitRecord]] = {}
    stations: dict[str, tuple[int, StationRecord]] = {}
    departments: dict[tuple[str, str], tuple[int, DepartmentRecord]] = {}
    community_station: dict[str, tuple[int, str]] = {}
    population: list[tuple[str, str, str, int]] = []

    for row, values in table.rows:
        kind = KIND_ALIASES.get(values["kind"].strip().lower(), "")
        code, name, parent = values["code"], values["name"], values["parent_code"] or None
        if not kind:
            problems.append(
                Problem(
                    row, "kind", f"未知类型 {values['kind']!r}（应为 市/区/街道/社区/派出所/部门）"
                )
            )
            continue
        if not CODE_PATTERN.match(code):
            if kind == "department" and any("\u4e00" <= ch <= "\u9fff" for ch in code):
                message = (
                    f"部门编码 {code!r} 不能用汉字：编码用字母、数字、- 或 _（1–20 位），"
                    "如 检察院 写 jianchayuan、公安分局 写 gongan；中文名称写在 name 列"
                )
            else:
                message = f"编码 {code!r} 无效（1–20 位字母、数字、- 或 _）"
            problems.append(Problem(row, "code", message))
            continue
        if not name:
            problems.append(Problem(row, "name", "名称不能为空"))
        if kind in LEVEL_NAMES:
            if code in units:
                problems.append(
                    Problem(row, "code", f"编码 {code} 重复（第{units[code][0]}行已使用）")
                )
            else:
                units[code] = (row, UnitRecord(code, name, kind, parent))
            if kind == "community":
                station = values.get("station_code", "")
                if not station:
                    problems.append(Problem(row, "station_code", "社区必须指定所属派出所"))
                elif code in community_station and community_station[code][1] != station:
                    first_row, first = community_station[code]
                    problems.append(
                        Problem(
                            row,
                            "station_code",
                            f"社区 {code} 同时属于派出所 {first}（第{first_row}行）和 {station}",
                        )
                    )
                else:
                    community_station[code] = (row, station)
        elif kind == "station":
            if code in stations:
                problems.append(
                    Problem(row, "code", f"派出所编码 {code} 重复（第{stations[code][0]}行已使用）")
                )
            else:
                stations[code] = (row, StationRecord(code, name, parent or ""))
        else:
            key = (parent or "", code)
            if key in departments:
                problems.append(
                    Problem(
                        row,
                        "code",
                        f"部门编码 {code} 在本区重复（第{departments[key][0]}行已使用）",
                    )
                )
            else:
                departments[key] = (
                    row,
                    DepartmentRecord(parent or "", code, name, len(departments)),
                )
        if kind in LEVEL_NAMES:
            for column, (sex, age) in POPULATION_COLUMNS.items():
                text = values.get(column, "")
                if text == "":
                    continue
                count = _parse_count(text)
                if count is None:
                    problems.append(Problem(row, column, f"人口数 {text!r} 不是整数"))
                elif count < 0:
                    problems.append(Problem(row, column, f"人口数 {count} 不能为负数"))
                else:
                    population.append((code, sex, age, count))
        elif any(values.get(c, "") for c in POPULATION_COLUMNS):
            problems.append(Problem(row, "pop_m_18_29", "派出所和部门行不应填写人口数"))

    def level_of(code: str) -> str | None:
        if code in units:
            return units[code][1].level
        return existing.unit_levels.get(code)

    for code, (row, unit) in units.items():
        problems.extend(_check_parent(row, unit.level, unit.parent_code, level_of))
        if code in existing.unit_levels and existing.unit_levels[code] != unit.level:
            problems.append(
                Problem(
                    row,
                    "kind",
                    f"编码 {code} 已登记为{LEVEL_NAMES[existing.unit_levels[code]]}，不能改为{LEVEL_NAMES[unit.level]}",
                )
            )
    for row, station_record in stations.values():
        problems.extend(
            _check_parent(row, "station", station_record.district_code or None, level_of)
        )
    for (_district, _code), (row, dept) in departments.items():
        problems.extend(_check_parent(row, "department", dept.district_code or None, level_of))
    known_stations = set(stations) | set(existing.stations)
    for _community, (row, station) in community_station.items():
        if station not in known_stations:
            problems.append(Problem(row, "station_code", f"派出所编码 {station} 不存在"))

    order = {"city": 0, "district": 1, "street": 2, "community": 3}
    plan = RegistryPlan(
        units=tuple(sorted((u for _, u in units.values()), key=lambda u: (order[u.level], u.code))),
        stations=tuple(s for _, s in stations.values()),
        departments=tuple(d for _, d in departments.values()),
        community_station=tuple((c, s) for c, (_, s) in community_station.items()),
        population=tuple(population),
    )
    return plan, sorted(problems, key=lambda p: (p.row, p.column))


def is_long_population(table: Table) -> bool:
    """True for a population file in long format (``community, sex, age_group, count``)."""
    return set(LONG_POPULATION_COLUMNS) <= set(table.header) and "kind" not in table.header


def validate_population_long(
    table: Table, existing: ExistingRegistry
) -> tuple[RegistryPlan, list[Problem]]:
    """Population counts in long format: each row a community (a stored community code), a sex
    (M/F, 男/女), an age group (18-29, 30-44, 45-59, 60+) and a whole number ≥ 0; a
    community × sex × age group may appear once. The plan holds population rows only."""
    population: list[tuple[str, str, str, int]] = []
    seen: dict[tuple[str, str, str], int] = {}
    problems: list[Problem] = []
    for row, values in table.rows:
        code = values["community"]
        level = existing.unit_levels.get(code)
        sex = SEX_ALIASES.get(values["sex"].strip().lower())
        age = AGE_ALIASES.get(values["age_group"].strip())
        count = _parse_count(values["count"])
        if level != "community":
            where = f"是{LEVEL_NAMES[level]}" if level else "不存在"
            problems.append(Problem(row, "community", f"社区编码 {code!r} {where}（请先导入区划）"))
        if sex is None:
            problems.append(Problem(row, "sex", f"性别 {values['sex']!r} 无效（M/F 或 男/女）"))
        if age is None:
            problems.append(
                Problem(
                    row,
                    "age_group",
                    f"年龄段 {values['age_group']!r} 无效（18-29、30-44、45-59、60+）",
                )
            )
        if count is None or count < 0:
            problems.append(
                Problem(row, "count", f"人口数 {values['count']!r} 应为不小于 0 的整数")
            )
        if level != "community" or sex is None or age is None or count is None or count < 0:
            continue
        key = (code, sex, age)
        if key in seen:
            problems.append(
                Problem(row, "community", f"社区 {code} 的 {sex} {age} 重复（第{seen[key]}行已有）")
            )
            continue
        seen[key] = row
        population.append((code, sex, age, count))
    return RegistryPlan((), (), (), (), tuple(population)), problems


def _check_parent(row: int, kind: str, parent: str | None, level_of: object) -> list[Problem]:
    assert callable(level_of)
    allowed = PARENT_LEVEL[kind]
    if parent is None:
        if None in allowed:
            return []
        return [
            Problem(
                row, "parent_code", f"必须填写上级编码（上级应为{LEVEL_NAMES[str(allowed[0])]}）"
            )
        ]
    level = level_of(parent)
    if level is None:
        return [Problem(row, "parent_code", f"上级编码 {parent} 不存在")]
    if level not in allowed:
        wanted = "或".join(LEVEL_NAMES[a] for a in allowed if a)
        return [
            Problem(
                row, "parent_code", f"上级 {parent} 是{LEVEL_NAMES[level]}，此处上级应为{wanted}"
            )
        ]
    return []


def _parse_count(text: str) -> int | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    if not value.is_integer():
        return None
    return int(value)


def _empty_plan() -> RegistryPlan:
    return RegistryPlan((), (), (), (), ())
