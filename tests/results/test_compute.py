"""Computing a wave in the database: closed forms, recomputation, concurrency, the demo's ladder.

The fixture wave (2026-12 of the demo programme) is built so that its estimates do not depend
on the weights: every sex × age cell holds the same ten interviews (five in 城关派出所's area,
five in 东门派出所's), so whatever the raking does within cells, each station's share is the
within-cell share:

* 城关 (P01): 安全感 answers 1, 1, 1, 4, 说不清 → 3/4 = 75 %, don't-know rate 1/5 = 20 %;
* 东门 (P02): 1, 2, 3, 3, 5 → 4/5 = 80 %;
* district: 7/9 of the valid answers; 知晓率 P01 streets: all 知道, P02: 3 of 5;
* 满意度 公安: scores 100, 80, 60, 30, 0 and 100, 100, 80, 80, 不了解 → mean 630/9 = 70.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from questionnaires import default_instruments
from survey.collection.tables import Response
from survey.db.tables import AGE_GROUPS, SEXES, Programme, StationCommunity, Unit, Wave
from survey.results.compute import compute_wave
from survey.results.queries import results_for_wave
from survey.results.tables import IndexResult, ResultRun

pytestmark = pytest.mark.anyio

P01_SAFE = (1, 1, 1, 4, 8)
P02_SAFE = (1, 2, 3, 3, 5)
P01_AWARE = (1, 1, 1, 1, 1)
P02_AWARE = (1, 1, 1, 2, 2)
GONGAN = (1, 2, 3, 4, 5, 1, 1, 2, 2, 8)  # scores 100 80 60 30 0 | 100 100 80 80 不了解


async def _community_of(station_code: str) -> tuple[int, str, str]:
    row = (
        await StationCommunity.select(
            StationCommunity.community.id,
            StationCommunity.community.code,
            StationCommunity.community.parent.code,  # type: ignore[union-attr]
        )
        .where(StationCommunity.station.code == station_code)
        .order_by(StationCommunity.community.code)
        .first()
    )
    assert row is not None
    return row["community.id"], row["community.code"], row["community.parent.code"]


async def _fixture_wave() -> int:
    programme = (
        await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd").first()
    )
    assert programme is not None
    wave = await Wave.insert(
        Wave(programme=programme["id"], month="2026-12", status="closed")
    ).returning(Wave.id)
    wave_id = wave[0]["id"]
    instrument = default_instruments()["liangshuaiyidu"].with_departments(
        [
            ("gongan", "公安分局"),
            ("jianchayuan", "检察院"),
            ("fayuan", "法院"),
            ("sifaju", "司法局"),
        ]
    )
    places = [await _community_of("990102P01"), await _community_of("990102P02")]
    rows = []
    for sex in SEXES:
        for age in AGE_GROUPS:
            for i in range(10):
                community_id, community_code, street_code = places[i // 5]
                safe = (P01_SAFE + P02_SAFE)[i]
                aware = (P01_AWARE + P02_AWARE)[i]
                answers = {
                    "s_age": 1,
                    "s_resident": 1,
                    "street": street_code,
                    "community": community_code,
                    "q_anquan": safe,
                    "q_zhixiao": aware,
                    "q_manyi_gongan": GONGAN[i],
                    "q_manyi_jianchayuan": 1,
                    "q_manyi_fayuan": 2,
                    "q_manyi_sifaju": 3,
                    "d_sex": SEXES.index(sex) + 1,
                    "d_age_group": AGE_GROUPS.index(age) + 1,
                }
                rows.append(
                    Response(
                        wave=wave_id,
                        instrument_id=instrument.id,
                        instrument_version=str(instrument.version),
                        instrument_hash=instrument.content_hash,
                        mode="phone",
                        status="completed",
                        community=community_id,
                        sex=sex,
                        age_group=age,
                        answers=json.dumps(answers),
                        duration_seconds=200,
                    )
                )
    # One open-link (non-probability) interview that must not count by default.
    rows.append(
        Response(
            wave=wave_id,
            instrument_id=instrument.id,
            instrument_version=str(instrument.version),
            instrument_hash=instrument.content_hash,
            mode="web",
            status="completed",
            community=places[0][0],
            sex="M",
            age_group="18-29",
            answers=json.dumps({**json.loads(rows[0].answers), "q_anquan": 5}),
            non_probability=True,
        )
    )
    await Response.insert(*rows)
    return int(wave_id)


def _by(rows: list, index: str, level: str, code: str):  # type: ignore[no-untyped-def]
    return next(r for r in rows if r.index_id == index and r.level == level and r.unit_code == code)


async def test_fixture_wave_matches_closed_forms_and_recomputes_identically(
    small_city: None,
) -> None:
    wave_id = await _fixture_wave()
    answers_before = await Response.select(Response.id, Response.answers).where(
        Response.wave == wave_id
    )
    summary = await compute_wave(wave_id, username="test")
    assert summary.n_responses == 80  # the open-link interview is left out
    rows = await results_for_wave(wave_id)
    p01 = _by(rows, "anquangan", "station", "990102P01")
    p02 = _by(rows, "anquangan", "station", "990102P02")
    assert p01.estimate == pytest.approx(75.0, rel=1e-12)
    assert p01.n == 32
    assert p01.dk_rate == pytest.approx(20.0, rel=1e-12)
    assert p02.estimate == pytest.approx(80.0, rel=1e-12)
    assert p02.dk_rate == pytest.approx(0.0, abs=1e-12)
    district = _by(rows, "anquangan", "district", "990102")
    assert district.estimate == pytest.approx(700 / 9, rel=1e-12)
    assert district.n == 72
    gongan = _by(rows, "manyidu_bumen", "department", "990102/gongan")
    assert gongan.estimate == pytest.approx(630 / 9, rel=1e-12)
    assert gongan.dk_rate == pytest.approx(10.0, rel=1e-12)
    composite = _by(rows, "manyidu", "district", "990102")
    # equal weights over the four departments: (70 + 100 + 80 + 60) / 4
    assert composite.estimate == pytest.approx((630 / 9 + 100 + 80 + 60) / 4, rel=1e-12)
    for r in rows:
        assert r.instrument_id == "liangshuaiyidu" and r.method_version
        if r.estimate is not None and r.se:
            assert r.ci_lower <= r.estimate <= r.ci_upper  # type: ignore[operator]
    run = await ResultRun.select().where(ResultRun.wave == wave_id).first()
    assert run is not None and json.loads(run["weighting"])[0]["converged"]
    assert json.loads(run["method"])["ladder_note"] == ""  # no earlier closed wave

    # Recomputing gives the same numbers (P(bottom k) included) and never touches answers.
    await compute_wave(wave_id, username="test")
    again = await results_for_wave(wave_id)
    assert [(r.index_id, r.unit_code, r.estimate, r.se, r.p_bottom_k, r.rank) for r in again] == [
        (r.index_id, r.unit_code, r.estimate, r.se, r.p_bottom_k, r.rank) for r in rows
    ]
    answers_after = await Response.select(Response.id, Response.answers).where(
        Response.wave == wave_id
    )
    assert answers_after == answers_before

    # Including the non-probability interview changes P01 (one more 不安全 answer).
    await compute_wave(wave_id, username="test", include_non_probability=True)
    p01_all = _by(await results_for_wave(wave_id), "anquangan", "station", "990102P01")
    assert p01_all.n == 33


async def test_two_analysts_computing_at_once_leave_one_consistent_result(
    small_city: None,
) -> None:
    wave_id = await _fixture_wave()
    await asyncio.gather(
        compute_wave(wave_id, username="analyst-a"), compute_wave(wave_id, username="analyst-b")
    )
    assert await ResultRun.count().where(ResultRun.wave == wave_id) == 1
    rows = await IndexResult.select(
        IndexResult.index_id, IndexResult.level, IndexResult.unit_code
    ).where(IndexResult.wave == wave_id)
    keys = [(r["index_id"], r["level"], r["unit_code"]) for r in rows]
    assert len(keys) == len(set(keys))
    single = await compute_wave(wave_id, username="analyst-c")
    assert single.n_results == len(keys)


async def check_demo_ladder() -> None:
    """The demo's three waves show the ladder (called from the export test, which builds the
    demo city once for both)."""
    programme = (
        await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd").first()
    )
    assert programme is not None
    waves = {
        r["month"]: r["id"]
        for r in await Wave.select(Wave.id, Wave.month).where(Wave.programme == programme["id"])
    }
    levels = {}
    for month in ("2026-08", "2026-09", "2026-10"):
        rows = await results_for_wave(waves[month])
        jiefang = _by(rows, "anquangan", "station", "990102P06")
        levels[month] = [s["level"] for s in jiefang.sanctions]
        assert jiefang.rank is not None and jiefang.rank >= jiefang.n_ranked - 1  # bottom 2
        assert jiefang.p_bottom_k is not None and jiefang.p_bottom_k > 0.9
    assert levels == {"2026-08": ["criticism"], "2026-09": ["yellow_card"], "2026-10": ["veto"]}
    october = await results_for_wave(waves["2026-10"])
    reasons = [s["reason"] for r in october for s in r.sanctions]
    assert "连续3个月安全感排名后两位 → 一票否决" in reasons
    assert any(s["level"] == "yellow_card" for r in october for s in r.sanctions)
    unit = await Unit.select(Unit.id).where(Unit.code == "990102").first()
    assert unit is not None
