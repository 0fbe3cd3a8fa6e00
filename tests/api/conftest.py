"""A small, hand-written results scenario for the API tests.

Registry: the demo's 示范市 (990100) with 南城区 (990102), plus a second district 北岭区 (990103).
Programmes: ``nancheng-lsyd`` (南城区) with 2026-09 published and 2026-10 closed (a computed draft),
and ``shifan-city`` (the whole city) with 2026-09 published, holding one row for each district.
Every figure below is written here, so the tests know what the API must answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from survey.accounts import create_user
from survey.db.tables import Programme, Unit, Wave
from survey.results.tables import IndexResult, ResultRun
from tests.conftest import built_once
from tests.results.conftest import build_small_city

PASSWORD = "api-test-pass-2026"
SANCTION = {
    "level": "yellow_card",
    "name": "黄牌警告",
    "reason": "连续 2 期处于后 2 位",
    "measure": "诫勉谈话",
}
PRAISE = {"level": "praise", "name": "通报表扬", "reason": "连续 2 期处于前 3 位", "measure": ""}


@dataclass(frozen=True)
class Scenario:
    """Ids of the scenario's waves."""

    published: int  # nancheng-lsyd 2026-09
    draft: int  # nancheng-lsyd 2026-10 (closed, computed)
    city: int  # shifan-city 2026-09 (published)


def result(wave: int, unit: str, name: str, **values: object) -> IndexResult:
    """An index result row of the scenario (安全感 by station unless told otherwise)."""
    row: dict[str, object] = {
        "wave": wave,
        "index_id": "anquangan",
        "index_name": "公众安全感",
        "level": "station",
        "unit_code": unit,
        "unit_name": name,
        "district_code": "990102",
        "scale": "%",
        "ci_method": "logit",
        "instrument_id": "liangshuaiyidu",
        "instrument_version": 1,
        "method_version": "test",
    }
    row.update(values)
    return IndexResult(**row)


async def build_scenario() -> Scenario:
    await build_small_city()
    city = await Unit.select(Unit.id).where(Unit.code == "990100").first()
    assert city is not None
    await Unit.insert(Unit(code="990103", name="北岭区", level="district", parent=city["id"]))
    nancheng = await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd").first()
    assert nancheng is not None
    city_programme = await Programme.insert(
        Programme(
            code="shifan-city",
            name="示范市两率一度月度测评",
            region=city["id"],
            instruments='["liangshuaiyidu"]',
            policy="default",
        )
    ).returning(Programme.id)

    async def wave(programme: int, month: str, status: str) -> int:
        rows = await Wave.insert(Wave(programme=programme, month=month, status=status)).returning(
            Wave.id
        )
        wave_id = int(rows[0]["id"])
        await ResultRun.insert(
            ResultRun(wave=wave_id, method_version="test", policy_id="default", n_responses=300)
        )
        return wave_id

    published = await wave(nancheng["id"], "2026-09", "published")
    draft = await wave(nancheng["id"], "2026-10", "closed")
    city_wave = await wave(city_programme[0]["id"], "2026-09", "published")
    await IndexResult.insert(
        result(
            published,
            "990102P01",
            "东城派出所",
            estimate=96.25,
            se=1.1,
            ci_lower=93.1,
            ci_upper=97.9,
            n=120,
            n_eff=101.5,
            deff=1.18,
            dk_rate=2.5,
            status="ranked",
            rank=1,
            n_ranked=3,
            rank_lower=1,
            rank_upper=2,
            p_bottom_k=0.01,
            distinguishable=True,
            praises=json.dumps([PRAISE], ensure_ascii=False),
        ),
        result(
            published,
            "990102P02",
            "西城派出所",
            estimate=91.04,
            se=1.9,
            ci_lower=86.2,
            ci_upper=94.3,
            n=110,
            n_eff=90.0,
            status="ranked",
            rank=2,
            n_ranked=3,
            rank_lower=1,
            rank_upper=3,
            p_bottom_k=0.55,
            distinguishable=False,
        ),
        result(
            published,
            "990102P03",
            "北山派出所",
            estimate=88.96,
            se=2.0,
            ci_lower=84.0,
            ci_upper=92.6,
            n=100,
            n_eff=80.0,
            status="ranked",
            rank=3,
            n_ranked=3,
            rank_lower=2,
            rank_upper=3,
            p_bottom_k=0.9,
            distinguishable=False,
            sanctions=json.dumps([SANCTION], ensure_ascii=False),
        ),
        result(draft, "990102P01", "东城派出所", estimate=95.0, n=90, status="ranked", rank=1),
        result(draft, "990102P02", "西城派出所", estimate=90.0, n=95, status="ranked", rank=2),
        result(
            city_wave,
            "990102",
            "南城区",
            level="district",
            estimate=93.5,
            n=330,
            status="ranked",
            rank=1,
            n_ranked=2,
        ),
        result(
            city_wave,
            "990103",
            "北岭区",
            level="district",
            district_code="990103",
            estimate=90.5,
            n=300,
            status="ranked",
            rank=2,
            n_ranked=2,
        ),
    )
    users = (
        ("analyst", "analyst", None),
        ("committee", "committee", None),
        ("nc_committee", "committee", "990102"),
        ("nc_analyst", "analyst", "990102"),
        ("bl_analyst", "analyst", "990103"),
        ("pollster", "pollster", "990102"),
    )
    for username, role, district in users:
        await create_user(username, PASSWORD, frozenset({role}), district_code=district)
    return Scenario(published=published, draft=draft, city=city_wave)


@pytest.fixture()
async def scenario(db: None) -> Scenario:
    """``build_scenario`` in the test database (built once per run)."""
    return await built_once("api_scenario", build_scenario)
