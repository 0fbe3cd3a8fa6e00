"""The demo city: a seeded, realistic district (南城区 of 示范市) with users for every role.

One module that grows: later areas add samples, responses and call campaigns here. The registry
is generated as a registry file and imported through the same path as a real one.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

import survey.cati.demo
import survey.collection.demo
import survey.collection.fieldwork_demo
import survey.design.demo
import survey.results.demo
from survey.accounts import create_user
from survey.db import write_transaction
from survey.db.tables import AGE_GROUPS, AppUser, Programme, Wave
from survey.demo_context import DEMO_PASSWORD, DemoContext
from survey.programmes.service import DEFAULT_INSTRUMENTS, create_programme, read_policy_source
from survey.registry.model import POPULATION_COLUMNS
from survey.registry.service import ImportSummary, import_registry_table
from survey.tabular import read_table

CITY = ("990100", "示范市")
DISTRICT = ("990102", "南城区")
STREETS: tuple[str, ...] = (
    "城关街道", "东门街道", "西湖街道", "南湖街道", "北山街道", "新华街道",
    "解放街道", "人民路街道", "滨江街道", "白沙镇", "青石镇", "桃源乡",
)  # fmt: skip
COMMUNITY_STEMS: tuple[str, ...] = (
    "和平", "幸福", "光明", "文化", "建设", "朝阳", "金桥", "翠园", "春晖", "锦绣", "长青", "育才",
    "枫林", "康乐", "清泉", "沿江", "广场", "花园", "新村", "书院", "东风", "红旗", "永安", "丰收",
    "望湖", "柳岸", "杏林", "松涛", "石桥", "梅园", "竹苑", "兰亭", "荷塘", "桂香", "云山", "青云",
    "玉泉", "银湖", "宝塔", "龙泉", "凤鸣", "鹤岭", "鹿溪", "雁塔", "燕山", "莲花", "牡丹", "紫荆",
    "晨曦", "星光", "月湾", "彩虹", "阳光", "雨亭", "雪松", "霞飞", "虹桥", "鼓楼", "钟楼", "府前",
    "学府", "商贸", "工业", "园林", "港口", "铁路", "机场", "大学", "科技", "滨河", "湖畔", "山水",
    "田园", "果园", "茶园", "稻香", "渔村", "上塘", "下塘", "中和", "太平", "长乐",
)  # fmt: skip
# Station → the streets it covers (a station covers whole streets except where noted).
STATIONS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("城关派出所", (0,)),
    ("东门派出所", (1, 5)),
    ("西湖派出所", (2,)),
    ("南湖派出所", (3, 8)),
    ("北山派出所", (4,)),
    ("解放派出所", (6, 7)),
    ("白沙派出所", (9,)),
    ("青石派出所", (10, 11)),
)
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("gongan", "公安分局"),
    ("jianchayuan", "检察院"),
    ("fayuan", "法院"),
    ("sifaju", "司法局"),
)
# Share of the adult population in each age group (18–29, 30–44, 45–59, 60+), and males' share.
AGE_SHARES = np.array([0.20, 0.28, 0.27, 0.25])
MALE_SHARE = 0.505


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    roles: frozenset[str]
    display_name: str
    district_limited: bool


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", frozenset({"admin"}), "系统管理员", False),
    DemoUser("analyst", frozenset({"analyst"}), "王分析", True),
    DemoUser("supervisor", frozenset({"supervisor"}), "李督导", True),
    DemoUser("pollster1", frozenset({"pollster"}), "张访问员", True),
    DemoUser("pollster2", frozenset({"pollster"}), "陈访问员", True),
    DemoUser("committee", frozenset({"committee"}), "赵委员", True),
)


def registry_rows(
    seed: int = 20261124, *, district: tuple[str, str] = DISTRICT, with_city: bool = True
) -> list[dict[str, str]]:
    """The demo registry as rows of the registry file format (deterministic for a seed);
    ``district`` (code, name) and ``with_city`` build the other districts of a city
    (``city_registry_csv``)."""
    DISTRICT = district
    rng = np.random.default_rng(seed)
    rows: list[dict[str, str]] = []

    def row(kind: str, code: str, name: str, parent: str, station: str = "") -> dict[str, str]:
        base = {
            "kind": kind,
            "code": code,
            "name": name,
            "parent_code": parent,
            "station_code": station,
        }
        base.update({c: "" for c in POPULATION_COLUMNS})
        return base

    if with_city:
        rows.append(row("city", CITY[0], CITY[1], ""))
    rows.append(row("district", DISTRICT[0], DISTRICT[1], CITY[0]))
    station_of_street: dict[int, str] = {}
    for s_index, (s_name, streets) in enumerate(STATIONS, start=1):
        code = f"{DISTRICT[0]}P{s_index:02d}"
        rows.append(row("station", code, s_name, DISTRICT[0]))
        for street in streets:
            station_of_street[street] = code
    for d_index, (d_code, d_name) in enumerate(DEPARTMENTS):
        rows.append(row("department", d_code, f"{DISTRICT[1]}{d_name}", DISTRICT[0]))
        del d_index
    sizes = rng.integers(5, 9, size=len(STREETS))  # 5–8 communities per street, ≈ 80 in all
    stems = list(COMMUNITY_STEMS)
    rng.shuffle(stems)
    # more communities than stems (another seed's district): the stems again, numbered 二, 三, …
    stem_iter = itertools.chain(stems, (f"{s}{n}" for n in "二三四五" for s in stems))
    for st_index, street_name in enumerate(STREETS):
        street_code = f"{DISTRICT[0]}{st_index + 1:03d}"
        rows.append(row("street", street_code, street_name, DISTRICT[0]))
        rural = street_name.endswith(("镇", "乡"))
        for c_index in range(int(sizes[st_index])):
            suffix = "村" if rural else "社区"
            code = f"{street_code}{c_index + 1:03d}"
            r = row(
                "community",
                code,
                f"{next(stem_iter)}{suffix}",
                street_code,
                station_of_street[st_index],
            )
            adults = int(rng.integers(1500, 9000) if not rural else rng.integers(800, 3500))
            ages = AGE_SHARES * rng.uniform(0.85, 1.15, size=4)
            ages = ages / ages.sum()
            for a_index, age in enumerate(AGE_GROUPS):
                key = age.replace("-", "_").replace("+", "p")
                male = round(adults * ages[a_index] * MALE_SHARE)
                female = round(adults * ages[a_index] * (1 - MALE_SHARE))
                r[f"pop_m_{key}"] = str(male)
                r[f"pop_f_{key}"] = str(female)
            rows.append(r)
    return rows


def registry_csv(seed: int = 20261124) -> bytes:
    """The demo registry as a UTF-8 CSV file (what an admin would upload)."""
    return _csv_bytes(registry_rows(seed))


def city_districts(count: int) -> list[tuple[str, str]]:
    """(code, name) of a seeded city's ``count`` districts: 990102 南城区 (the demo district)
    and 990103 第2区, 990104 第3区, … (the city tests and ``benchmarks/city_month.py``)."""
    return [DISTRICT, *((f"{990102 + k}", f"第{k + 1}区") for k in range(1, count))]


def city_registry_csv(count: int, seed: int = 20261124) -> bytes:
    """The demo city 示范市 with ``count`` districts (each like the demo district: 12 streets,
    8 stations, 4 departments, ≈ 80 communities with populations; seed ``seed + k``)."""
    rows: list[dict[str, str]] = []
    for k, district in enumerate(city_districts(count)):
        rows.extend(registry_rows(seed + k, district=district, with_city=k == 0))
    return _csv_bytes(rows)


def _csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# Areas that add to the demo city (samples, responses, campaigns, results), in this order. Each
# module exposes ``async def extend_demo(context: DemoContext) -> list[str]`` returning lines for
# the console. Every step must be idempotent (a second run adds nothing).
DEMO_STEPS: tuple[ModuleType, ...] = (
    survey.design.demo,
    survey.collection.demo,
    survey.cati.demo,
    survey.collection.fieldwork_demo,
    survey.results.demo,
)


@dataclass(frozen=True, slots=True)
class DemoReport:
    registry: ImportSummary
    users_created: tuple[str, ...]
    programme_code: str
    wave_month: str
    notes: tuple[str, ...] = ()


async def build_demo(
    seed: int = 20261124,
    month: str = "2026-11",
    base_url: str = "http://127.0.0.1:8000",
    *,
    steps: Sequence[ModuleType] | None = None,
) -> DemoReport:
    """Create (or complete) the demo city. Running it twice changes nothing the second time.

    ``base_url`` is where the demo will be served (used in printed links); ``steps`` are the
    areas' demo modules to run (default: all of ``DEMO_STEPS``; ``()``: the base city only)."""
    summary = await import_registry_table(
        read_table("demo-registry.csv", registry_csv(seed)), username="demo"
    )
    created: list[str] = []
    for user in DEMO_USERS:
        if await AppUser.exists().where(AppUser.username == user.username):
            continue
        await create_user(
            user.username,
            DEMO_PASSWORD,
            user.roles,
            display_name=user.display_name,
            district_code=DISTRICT[0] if user.district_limited else None,
        )
        created.append(user.username)
    programme_code = "nancheng-lsyd"
    if not await Programme.exists().where(Programme.code == programme_code):
        # The shipped default policy; web links get the self-completion wording of the combined
        # instrument, pollsters the telephone one.
        policy_text, policy_name = read_policy_source(None)
        await create_programme(
            programme_code,
            f"{DISTRICT[1]}两率一度月度测评",
            DISTRICT[0],
            policy_text=policy_text,
            policy_name=policy_name,
            web_instrument=DEFAULT_INSTRUMENTS["web"],
            phone_instrument=DEFAULT_INSTRUMENTS["phone"],
            username="demo",
        )
    async with write_transaction():
        programme = (
            await Programme.select(Programme.id).where(Programme.code == programme_code).first()
        )
        assert programme is not None
        programme_id = programme["id"]
        wave = (
            await Wave.select(Wave.id)
            .where((Wave.programme == programme_id) & (Wave.month == month))
            .first()
        )
        if wave is None:
            result = await Wave.insert(
                Wave(programme=programme_id, month=month, status="collecting")
            ).returning(Wave.id)
            wave_id = result[0]["id"]
        else:
            wave_id = wave["id"]
    context = DemoContext(seed, DISTRICT[0], programme_id, wave_id, month, base_url)
    notes: list[str] = []
    for module in DEMO_STEPS if steps is None else steps:
        notes.extend(await module.extend_demo(context))
    return DemoReport(summary, tuple(created), programme_code, month, tuple(notes))
