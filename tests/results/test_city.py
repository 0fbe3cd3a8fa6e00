"""A city on one installation (市考评区): a programme whose region is the city ranks its districts
on the interviews of the districts' own waves of the month, and a district's figures in the
city ranking are its own headline figures.

The city 示范市 has three districts (``city_registry_csv(3)``: 990102 南城区, 990103 第2区,
990104 第3区), each with its own programme (default policy: stations, streets, departments) and
the city's programme (``survey/policies/city.toml``: the same indices at ``level = "district"``,
bottom 2 → 通报批评 → 黄牌警告 → 一票否决). Each district's interviews are imported into its own
wave only; the city wave has none of its own.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from survey.collection.tables import Response
from survey.db import is_postgres, lock_row, write_transaction
from survey.db.tables import Unit, Wave
from survey.demo import city_districts, city_registry_csv
from survey.programmes.service import create_programme
from survey.ranking.policy import policies_dir
from survey.registry.service import import_registry_table
from survey.results.compute import compute_wave, load_responses
from survey.results.dashboard import wave_view
from survey.results.importing import import_responses
from survey.results.publishing import set_status
from survey.results.queries import results_for_wave, waves_for_user
from survey.results.tables import IndexResult, ResultRun
from survey.tabular import read_table

pytestmark = pytest.mark.anyio

HEADER = [
    "respondent_id",
    "community",
    "sex",
    "age_group",
    "q_anquan",
    "q_zhixiao",
    "q_manyi_gongan",
    "q_manyi_jianchayuan",
    "q_manyi_fayuan",
    "q_manyi_sifaju",
]
AGES = ("18-29", "30-44", "45-59", "60+")
PER_DISTRICT = 240
# District 990104 answers worse on every index (it is the bottom district in both months).
WORSE = "990104"
CITY_INDICES = ("anquangan", "zhixiaolv", "manyidu")


async def _delivered_file(district: str, month: str, tmp_path: Path) -> Path:
    """240 seeded interviews of ``district`` (every sex × age cell filled)."""
    communities = [
        r["code"]
        for r in await Unit.select(Unit.code)
        .where((Unit.level == "community") & (Unit.code.like(f"{district}%")))
        .order_by(Unit.code)
    ]
    rng = np.random.default_rng(int(district) * 100 + int(month[-2:]))
    worse = district == WORSE
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in range(PER_DISTRICT):
        anquan = rng.choice([1, 2, 3, 4, 5], p=[0.1, 0.2, 0.2, 0.3, 0.2] if worse else [0.3, 0.3, 0.2, 0.1, 0.1])  # fmt: skip
        zhixiao = 1 if rng.random() < (0.4 if worse else 0.8) else 2
        manyi = rng.choice([1, 2, 3, 4, 5], size=4, p=[0.1, 0.1, 0.2, 0.3, 0.3] if worse else [0.4, 0.3, 0.2, 0.05, 0.05])  # fmt: skip
        writer.writerow(
            [
                f"{district}-{month}-{i:04d}",
                communities[int(rng.integers(len(communities)))],
                "男" if i % 2 == 0 else "女",
                AGES[(i // 2) % 4],
                int(anquan),
                zhixiao,
                *(int(m) for m in manyi),
            ]
        )
    path = tmp_path / f"{district}-{month}.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


async def _city(
    tmp_path: Path, months: tuple[str, ...], *, compute: bool = True
) -> dict[str, dict[str, int]]:
    """The city, its programmes and, per month, every district wave with its interviews
    imported and (``compute``) computed, then the city wave; returns month → {region code:
    wave id} (city code 990100)."""
    await import_registry_table(read_table("city.csv", city_registry_csv(3)), username="t")
    programmes: dict[str, int] = {}
    default = (policies_dir() / "default.toml").read_text(encoding="utf-8")
    for code, name in city_districts(3):
        programmes[code] = await create_programme(
            f"d{code}", f"{name}两率一度", code, policy_text=default, policy_name="default.toml"
        )
    city_policy = (policies_dir() / "city.toml").read_text(encoding="utf-8")
    programmes["990100"] = await create_programme(
        "city-lsyd", "示范市市考评区", "990100", policy_text=city_policy, policy_name="city.toml"
    )
    waves: dict[str, dict[str, int]] = {}
    for month in months:
        waves[month] = {}
        for region, programme in programmes.items():
            row = await Wave.insert(
                Wave(programme=programme, month=month, status="collecting")
            ).returning(Wave.id)
            waves[month][region] = int(row[0]["id"])
        for code, _name in city_districts(3):
            path = await _delivered_file(code, month, tmp_path)
            await import_responses(waves[month][code], path, "liangshuaiyidu", username="t")
            if compute:
                await compute_wave(waves[month][code], username="t")
        if compute:
            await compute_wave(waves[month]["990100"], username="t")
    return waves


async def _district_rows(wave_id: int) -> dict[tuple[str, str], dict[str, object]]:
    rows = await IndexResult.select().where(
        (IndexResult.wave == wave_id) & (IndexResult.level == "district")
    )
    return {(r["index_id"], r["unit_code"]): r for r in rows}


async def test_city_ranks_districts_on_their_own_headline_figures(db: None, tmp_path: Path) -> None:
    waves = await _city(tmp_path, ("2026-11", "2026-12"))
    month = waves["2026-12"]
    # The city wave reads the three districts' interviews (none of its own), entered once.
    city_responses = await load_responses(month["990100"], include_non_probability=False)
    assert len(city_responses) == 3 * PER_DISTRICT
    city = await _district_rows(month["990100"])
    for code, _name in city_districts(3):
        own = await _district_rows(month[code])
        for index in CITY_INDICES:
            mine, in_city = own[(index, code)], city[(index, code)]
            # The same interviews, the same weights (district populations are the strata and
            # each district is raked to its own margins): the same figures.
            assert in_city["n"] == mine["n"] == PER_DISTRICT
            for field in ("estimate", "se", "n_eff"):
                assert math.isclose(in_city[field], mine[field], rel_tol=1e-9), (index, field)
    # Ranked at the district level, 1 = best; the worse district is last on every index.
    for index in CITY_INDICES:
        ranked = sorted((r for (i, _c), r in city.items() if i == index), key=lambda r: r["rank"])
        assert [r["status"] for r in ranked] == ["ranked"] * 3
        assert [r["rank"] for r in ranked] == [1, 2, 3]
        assert ranked[-1]["unit_code"] == WORSE
    # The ladder, unchanged: a district in the bottom 2 (ties at the cut-off included: fewer
    # than 2 districts strictly below it) gets 黄牌警告 when it was in the bottom 2 in November
    # too (it had a sanction then), else 通报批评; the others get nothing.
    november = await _district_rows(waves["2026-11"]["990100"])
    for (index, code), row in city.items():
        if index not in CITY_INDICES:
            continue
        below = sum(1 for (i, _c), r in city.items() if i == index and r["rank"] > row["rank"])
        levels = [s["level"] for s in _sanctions(row)]
        if below < 2:
            before = bool(_sanctions(november[(index, code)]))
            assert levels == ["yellow_card" if before else "criticism"], (index, code)
        else:
            assert levels == [], (index, code)
    assert [s["level"] for s in _sanctions(city[("anquangan", WORSE)])] == ["yellow_card"]
    # The city's ranking has no stations or streets of its own: only districts are ranked.
    ranked_levels = {
        r.level for r in await results_for_wave(month["990100"]) if r.status == "ranked"
    }
    assert ranked_levels == {"district"}


def _sanctions(row: dict[str, object]) -> list[dict[str, str]]:
    import json

    return list(json.loads(str(row["sanctions"])))


async def test_committees_see_the_city_ranking_and_their_own(db: None, tmp_path: Path) -> None:
    waves = await _city(tmp_path, ("2026-12",))
    month = waves["2026-12"]
    everyone = {w.id for w in await waves_for_user(None)}
    assert everyone == set(month.values())  # the city committee (unlimited) sees the city wave
    second = await Unit.select(Unit.id).where(Unit.code == "990103").first()
    assert second is not None
    seen = {w.id for w in await waves_for_user(second["id"])}
    # a district committee sees its own wave and the city's ranking, not another district's
    assert seen == {month["990103"], month["990100"]}
    # the city committee's view ranks the three districts; the district's shows its own row
    full = await wave_view(month["990100"])
    assert {h.result.unit_code for h in full.headlines} == {c for c, _n in city_districts(3)}
    # the city's report and page rank districts, the indices its policy names (no stations)
    assert [(v.index_id, v.unit_word, len(v.rows)) for v in full.rankings] == [
        ("anquangan", "区县", 3),
        ("zhixiaolv", "区县", 3),
        ("manyidu", "区县", 3),
    ]
    own = await wave_view(month["990100"], "990103")
    assert own.headlines and {h.result.unit_code for h in own.headlines} == {"990103"}


async def test_districts_and_the_city_work_at_once_without_waiting(
    db: None, tmp_path: Path
) -> None:
    """Locks are per wave. On PostgreSQL a transaction holds district 990102's wave row locked
    (as its computation, import or publication does while it writes) and, meanwhile, district
    990103 computes, publishes and takes another file, and the city computes over all three
    districts: each finishes (60 s limit). Then two districts compute at once, and both finish
    (on SQLite the database's single write lock serialises them; they still both finish)."""
    waves = await _city(tmp_path, ("2026-12",), compute=False)
    month = waves["2026-12"]
    first, second, third = (month[code] for code, _name in city_districts(3))
    if is_postgres():
        locked, release = asyncio.Event(), asyncio.Event()

        async def hold_first() -> None:
            async with write_transaction():
                await lock_row(Wave, first)
                locked.set()
                await release.wait()

        holder = asyncio.create_task(hold_first())
        await locked.wait()
        try:

            async def second_district_and_city() -> None:
                await compute_wave(second, username="t")
                await set_status(second, "closed", username="t")
                await set_status(second, "published", username="t")
                extra = await _delivered_file("990104", "2027-01", tmp_path)
                await import_responses(third, extra, "liangshuaiyidu", username="t")
                await compute_wave(month["990100"], username="t")

            await asyncio.wait_for(second_district_and_city(), timeout=60)
        finally:
            release.set()
            await holder
        assert (await Wave.select(Wave.status).where(Wave.id == second).first()) == {
            "status": "published"
        }
    # Two districts computing at once (and the city beside them): all finish with results.
    await asyncio.gather(
        compute_wave(first, username="t"),
        compute_wave(third, username="t"),
        compute_wave(month["990100"], username="t"),
    )
    for wave_id in (first, third, month["990100"]):
        assert await ResultRun.count().where(ResultRun.wave == wave_id) == 1
    city_n = await load_responses(month["990100"], include_non_probability=False)
    assert len(city_n) == (4 if is_postgres() else 3) * PER_DISTRICT


async def test_the_responses_come_in_id_order_whatever_order_the_table_keeps(
    db: None, tmp_path: Path
) -> None:
    # ``load_responses`` puts the rows in id order itself (no ORDER BY): a row whose id is
    # changed to the smallest is stored after the others on PostgreSQL (a new row version)
    # and must come first, with its own fields.
    waves = await _city(tmp_path, ("2026-12",), compute=False)
    city = waves["2026-12"]["990100"]
    before = await load_responses(city, include_non_probability=False)
    moved = int(before["id"][len(before) // 2])
    await Response.raw("UPDATE response SET id = -1 WHERE id = {}", moved)
    after = await load_responses(city, include_non_probability=False)
    ids = [int(i) for i in after["id"]]
    assert ids == sorted(ids) and ids[0] == -1 and len(ids) == len(before)
    old = {r["id"]: r for r in before.records()}
    for record in after.records():
        expected = dict(old[moved if record["id"] == -1 else record["id"]], id=record["id"])
        assert record == expected
