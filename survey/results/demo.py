"""Demo: three published waves (2026-08/09/10) of seeded synthetic interviews, computed.

The synthetic truth makes the ladder visible: 解放派出所 is truly the least safe area in all
three months (bottom 2 three months running → 一票否决), 北山派出所 joins the bottom 2 in the last
two months (黄牌警告), 桃源乡 and 白沙镇 lag on 知晓率, and 司法局 stays under the pass score.
The sample over-represents older residents and women, so the raking to the registry's sex × age
counts matters. Idempotent: a wave that already has results is left alone.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import numpy as np

from questionnaires import default_instruments
from survey.collection.tables import Response
from survey.db import write_transaction
from survey.db.tables import AGE_GROUPS, AppUser, Wave
from survey.demo_context import DemoContext
from survey.results.compute import compute_wave, load_registry
from survey.results.tables import ResultRun

DEMO_MONTHS: tuple[str, ...] = ("2026-08", "2026-09", "2026-10")
PER_WAVE = 720
# True P(安全/基本安全) by station position (0-based, demo station order) and month.
SAFE_BASE = (0.95, 0.94, 0.93, 0.955, 0.94, 0.80, 0.96, 0.945)
SAFE_SHIFT = {("2026-08", 2): -0.09, ("2026-09", 4): -0.10, ("2026-10", 4): -0.10}
AWARE_BASE = 0.90
AWARE_LOW = {"白沙镇": 0.76, "桃源乡": 0.72}
# Mean satisfaction level by department: probabilities of 很满意…不满意.
SATISFACTION = {
    "gongan": (0.60, 0.30, 0.08, 0.02, 0.00),
    "jianchayuan": (0.55, 0.33, 0.10, 0.02, 0.00),
    "fayuan": (0.52, 0.36, 0.10, 0.02, 0.00),
    "sifaju": (0.22, 0.35, 0.28, 0.11, 0.04),
}
# Over-represented groups: F and 45+ answer more often.
SEX_BIAS = np.array([0.8, 1.2])
AGE_BIAS = np.array([0.6, 0.9, 1.2, 1.4])


def demo_answers(
    rng: np.random.Generator,
    street_code: str,
    community_code: str,
    p_safe: float,
    p_aware: float,
    sex: int,
    age: int,
) -> dict[str, Any]:
    """One simulated interview's answers (the combined instrument's item ids → codes) for a
    resident of ``community_code``: safe with probability ``p_safe``, aware with ``p_aware``;
    ``sex`` and ``age`` are indices into SEXES and AGE_GROUPS."""
    answers: dict[str, Any] = {"s_age": 1, "s_resident": 1}
    answers["street"] = street_code
    answers["community"] = community_code
    if rng.random() < 0.03:
        answers["q_anquan"] = 8
    elif rng.random() < p_safe:
        answers["q_anquan"] = int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
    else:
        answers["q_anquan"] = int(rng.choice([4, 5], p=[0.7, 0.3]))
    answers["q_zhixiao"] = 1 if rng.random() < p_aware else 2
    for dept, probs in SATISFACTION.items():
        answers[f"q_manyi_{dept}"] = (
            8 if rng.random() < 0.07 else int(rng.choice([1, 2, 3, 4, 5], p=probs))
        )
    answers["d_sex"] = sex + 1
    answers["d_age_group"] = age + 1
    return answers


async def _wave_id(context: DemoContext, month: str) -> int:
    async with write_transaction():
        row = (
            await Wave.select(Wave.id)
            .where((Wave.programme == context.programme_id) & (Wave.month == month))
            .first()
        )
        if row is not None:
            return int(row["id"])
        year, mon = (int(x) for x in month.split("-"))
        opens = datetime.date(year, mon, 1)
        closes = datetime.date(year + (mon == 12), mon % 12 + 1, 1) - datetime.timedelta(days=1)
        result = await Wave.insert(
            Wave(
                programme=context.programme_id,
                month=month,
                status="closed",
                opens_on=opens,
                closes_on=closes,
            )
        ).returning(Wave.id)
    return int(result[0]["id"])


async def extend_demo(context: DemoContext) -> list[str]:
    """Add the three published demo waves with computed results (idempotent)."""
    registry = await load_registry(
        (await Wave.select(Wave.programme.region.as_alias("r")).where(Wave.id == context.wave_id))[
            0
        ]["r"]
    )
    instrument = default_instruments()["liangshuaiyidu"]
    instrument = instrument.with_departments(list(registry.departments))
    pollsters = [
        r["id"]
        for r in await AppUser.select(AppUser.id)
        .where(AppUser.username.is_in(["pollster1", "pollster2"]))
        .order_by(AppUser.username)
    ]
    # Communities with their street, station position and adult population.
    station_pos = {s[0]: i for i, s in enumerate(registry.stations)}
    community_ids = sorted(registry.communities)
    from survey.db.tables import PopulationCount

    adults: dict[int, float] = {c: 0.0 for c in community_ids}
    for r in await PopulationCount.select(PopulationCount.unit, PopulationCount.persons).where(
        PopulationCount.unit.is_in(community_ids or [-1])
    ):
        adults[r["unit"]] += r["persons"]
    from survey.db.tables import Unit

    codes = {
        r["id"]: r["code"]
        for r in await Unit.select(Unit.id, Unit.code).where(Unit.id.is_in(community_ids or [-1]))
    }
    weights = np.array([adults[c] for c in community_ids])
    weights = weights / weights.sum()
    notes: list[str] = []
    for w_index, month in enumerate(DEMO_MONTHS):
        wave_id = await _wave_id(context, month)
        if await ResultRun.exists().where(ResultRun.wave == wave_id):
            continue
        if not await Response.exists().where(Response.wave == wave_id):
            rng = np.random.default_rng([context.seed, 8, w_index])
            rows: list[Response] = []
            sex_p = SEX_BIAS / SEX_BIAS.sum()
            age_p = AGE_BIAS / AGE_BIAS.sum()
            picks = rng.choice(len(community_ids), size=PER_WAVE, p=weights)
            start = datetime.datetime(int(month[:4]), int(month[5:]), 10, 9, 0, tzinfo=datetime.UTC)
            for i, pick in enumerate(picks):
                community_id = community_ids[int(pick)]
                street_id, station_code = registry.communities[community_id]
                street_code, street_name, _d = registry.streets[street_id]
                position = station_pos.get(station_code, 0)
                p_safe = SAFE_BASE[position] + SAFE_SHIFT.get((month, position), 0.0)
                p_aware = AWARE_LOW.get(street_name, AWARE_BASE)
                sex = int(rng.choice(2, p=sex_p))
                age = int(rng.choice(4, p=age_p))
                answers = demo_answers(
                    rng, street_code, codes[community_id], p_safe, p_aware, sex, age
                )
                phone = rng.random() < 0.75 and bool(pollsters)
                duration = int(rng.lognormal(np.log(240), 0.3))
                began = start + datetime.timedelta(minutes=7 * i)
                rows.append(
                    Response(
                        wave=wave_id,
                        instrument_id=instrument.id,
                        instrument_version=str(instrument.version),
                        instrument_hash=instrument.content_hash,
                        mode="phone" if phone else "web",
                        status="completed",
                        community=community_id,
                        sex="MF"[sex],
                        age_group=AGE_GROUPS[age],
                        answers=json.dumps(answers, ensure_ascii=False),
                        interviewer=pollsters[i % len(pollsters)] if phone else None,
                        started_at=began,
                        completed_at=began + datetime.timedelta(seconds=duration),
                        duration_seconds=duration,
                        updated_at=began + datetime.timedelta(seconds=duration),
                    )
                )
            async with write_transaction():
                for at in range(0, len(rows), 400):
                    await Response.insert(*rows[at : at + 400])
        summary = await compute_wave(wave_id, username="demo")
        async with write_transaction():
            await Wave.update({Wave.status: "published"}).where(Wave.id == wave_id)
        notes.append(f"测评结果: {summary.describe()}")
    if notes:
        notes.append(f"委员会看板: {context.base_url}/results")
    return notes
