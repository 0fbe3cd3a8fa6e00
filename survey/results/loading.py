"""Loading what a wave's computation reads from the database: the registry below the
programme's region, the wave's completed responses (``load_responses``: the one place where the
responses of a wave are read; a city wave reads its districts' waves of the month too), the
earlier waves' stored results (ladder history, previous estimates), the invitations' response
rate and the policy. The pure steps that use them are in ``preparation`` and ``evaluation``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from survey.collection.tables import Invitation, Response
from survey.db.tables import (
    AGE_GROUPS,
    SEXES,
    Unit,
    Wave,
)
from survey.registry.tree import load_tree
from survey.results import ranking_adapter as ranking
from survey.results.errors import ComputeError
from survey.results.preparation import Registry, ResponseColumns
from survey.results.tables import IndexResult, ResultRun
from survey.results.waves import WaveRef


async def load_registry(region_id: int) -> Registry:
    """Districts, streets, communities, stations, departments and populations of a region."""
    tree = await load_tree(region_id, population=True)
    if tree is None:
        raise ComputeError("测评方案的区域不存在")
    district_units = tree.at_level("district")
    districts = tuple((u.id, u.code, u.name) for u in district_units)
    district_index = {u.code: i for i, u in enumerate(district_units)}
    streets = {
        u.id: (u.code, u.name, district_index[u.district_code]) for u in tree.at_level("street")
    }
    community_units = tree.at_level("community")
    communities = {u.id: (u.parent_id or 0, u.station_code) for u in community_units}
    stations = tuple((s.code, s.name, s.district_code) for s in tree.stations)
    district_names = {u.code: u.name for u in district_units}
    departments: dict[str, str] = {}
    for dept in tree.departments:
        name, prefix = dept.name, district_names[dept.district_code]
        departments.setdefault(dept.code, name[len(prefix) :] if name.startswith(prefix) else name)
    population = np.zeros((len(districts), 2, 4))
    for u in community_units:
        d = district_index[u.district_code]
        for sex, age_group, persons in tree.population.get(u.id, ()):
            if sex in SEXES and age_group in AGE_GROUPS:
                population[d, SEXES.index(sex), AGE_GROUPS.index(age_group)] += persons
    return Registry(
        districts, streets, communities, stations, tuple(departments.items()), population
    )


async def source_wave_ids(wave_id: int) -> list[int]:
    """The waves whose completed responses a wave's computation reads: the wave itself and,
    when its programme's region is a city, every wave of the same month of a programme whose
    region is one of the city's districts (their interviews are not entered twice)."""
    wave = (
        await Wave.select(Wave.month, Wave.programme.region.as_alias("region"))
        .where(Wave.id == wave_id)
        .first()
    )
    if wave is None:
        return [wave_id]
    region = await Unit.select(Unit.level).where(Unit.id == wave["region"]).first()
    if region is None or region["level"] != "city":
        return [wave_id]
    districts = await Unit.select(Unit.id).where(
        (Unit.parent == wave["region"]) & (Unit.level == "district")
    )
    rows = await Wave.select(Wave.id).where(
        (Wave.month == wave["month"])
        & Wave.programme.region.is_in([r["id"] for r in districts] or [-1])
    )
    return [wave_id, *sorted(int(r["id"]) for r in rows)]


#: The fields of a response the computation reads (``ResponseColumns``).
RESPONSE_FIELDS: tuple[str, ...] = (
    "id",
    "instrument_id",
    "instrument_version",
    "instrument_hash",
    "mode",
    "community",
    "sex",
    "age_group",
    "answers",
    "design_weight",
    "stratum",
    "interviewer",
    "duration_seconds",
    "non_probability",
)


async def load_responses(wave_id: int, *, include_non_probability: bool) -> ResponseColumns:
    """The completed responses the wave's computation reads (``source_wave_ids``: a city wave
    reads its districts' waves of the month too), only the columns the computation reads, in
    response-id order. The driver's rows are read column by column (no mapping per response:
    a million of them cost seconds)."""
    query = Response.select(*(getattr(Response, name) for name in RESPONSE_FIELDS)).where(
        Response.wave.is_in(await source_wave_ids(wave_id)) & (Response.status == "completed")
    )
    if not include_non_probability:
        query = query.where(Response.non_probability == False)  # noqa: E712
    # Put in id order here, not by the database: sorting a million wide rows spilled to disk.
    rows = await Response._meta.db.run_querystring(query.querystrings[0])
    # One transposition in C (asyncpg's records iterate their values, SQLite's rows are dicts).
    names = list(rows[0].keys()) if rows else list(RESPONSE_FIELDS)
    values = map(dict.values, rows) if rows and isinstance(rows[0], dict) else rows
    transposed = list(zip(*values, strict=True)) if rows else [()] * len(names)
    columns = dict(zip(names, transposed, strict=True))
    del rows, values, transposed
    ids = np.fromiter(columns["id"], dtype=np.int64, count=len(columns["id"]))
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        columns = {name: tuple(np.asarray(v, dtype=object)[order]) for name, v in columns.items()}
    return ResponseColumns(columns)


async def load_history(wave: WaveRef, levels: Mapping[str, str]) -> list[ranking.UnitResult]:
    """Stored results of the programme's earlier waves at each policy index's ranked level."""
    rows = await IndexResult.select(
        IndexResult.wave.month.as_alias("month"),
        IndexResult.index_id,
        IndexResult.level,
        IndexResult.unit_code,
        IndexResult.unit_name,
        IndexResult.estimate,
        IndexResult.se,
        IndexResult.n,
        IndexResult.n_eff,
        IndexResult.n_kish,
    ).where(
        (IndexResult.wave.programme == wave.programme_id) & (IndexResult.wave.month < wave.month)
    )
    out: list[ranking.UnitResult] = []
    for r in rows:
        if levels.get(r["index_id"]) != r["level"]:
            continue
        out.append(
            ranking.UnitResult(
                wave=r["month"],
                index=r["index_id"],
                unit_code=r["unit_code"],
                estimate=r["estimate"],
                se=r["se"],
                n=r["n"],
                n_eff=r["n_eff"],
                status=ranking.RANKED if r["estimate"] is not None else ranking.INSUFFICIENT,
                unit_name=r["unit_name"],
                n_kish=r["n_kish"],
            )
        )
    return out


async def load_previous_wave(
    wave: WaveRef,
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], tuple[int, int]]]:
    """Estimates and (don't-know, answered) counts by (index, unit) of the programme's latest
    earlier wave with results (empty before the first)."""
    earlier = (
        await IndexResult.select(IndexResult.wave.month.as_alias("month"))
        .where(
            (IndexResult.wave.programme == wave.programme_id)
            & (IndexResult.wave.month < wave.month)
        )
        .order_by(IndexResult.wave.month, ascending=False)
        .first()
    )
    if earlier is None:
        return {}, {}
    rows = await IndexResult.select(
        IndexResult.index_id, IndexResult.unit_code, IndexResult.estimate, IndexResult.evidence
    ).where(
        (IndexResult.wave.programme == wave.programme_id)
        & (IndexResult.wave.month == earlier["month"])
    )
    estimates: dict[tuple[str, str], float] = {}
    dk: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        key = (r["index_id"], r["unit_code"])
        if r["estimate"] is not None:
            estimates[key] = r["estimate"]
        counts = json.loads(r["evidence"] or "{}").get("dk_counts")
        if counts:
            dk[key] = (int(counts[0]), int(counts[1]))
    return estimates, dk


async def uncomputed_earlier_waves(wave: WaveRef) -> str:
    """A warning naming earlier closed/published waves without results: the ladder counts
    consecutive waves from stored results, so a missing computation shortens the streaks."""
    earlier = await Wave.select(Wave.id, Wave.month).where(
        (Wave.programme == wave.programme_id)
        & (Wave.month < wave.month)
        & Wave.status.is_in(["closed", "published"])
    )
    computed = {
        r["wave"]
        for r in await ResultRun.select(ResultRun.wave).where(
            ResultRun.wave.is_in([r["id"] for r in earlier] or [-1])
        )
    }
    missing = sorted(r["month"] for r in earlier if r["id"] not in computed)
    if not missing:
        return ""
    return f"较早的测评期 {'、'.join(missing)} 尚未计算结果，连续期数可能少算：请先计算这些测评期"


async def invitation_response_rate(wave_id: int) -> float | None:
    """Completed interviews per invitation sent (web links; open links excluded), or None when
    the wave sent no invitations. Telephone response rates (AAPOR) belong to the CATI reports."""
    sent = await Invitation.count().where(
        (Invitation.wave == wave_id) & (Invitation.open_link == False)  # noqa: E712
    )
    if not sent:
        return None
    done = await Response.count().where(
        (Response.wave == wave_id)
        & (Response.status == "completed")
        & Response.invitation.is_not_null()
        & (Response.non_probability == False)  # noqa: E712
    )
    return done / sent


async def wave_policy(wave: WaveRef, *, recorded: bool) -> ranking.Policy:
    """The policy for computing ``wave``: with ``recorded``, the version its latest computation
    used (so a published wave's revision, and its microdata, keep their rules), else the
    programme's current version (``survey.programmes``)."""
    from survey.programmes.service import ProgrammeError, policy_for_wave

    recorded_hash = None
    if recorded:
        run = (
            await ResultRun.select(ResultRun.policy_hash)
            .where(ResultRun.wave == wave.id)
            .order_by(ResultRun.id, ascending=False)
            .first()
        )
        recorded_hash = str(run["policy_hash"]) if run else None
    try:
        return await policy_for_wave(wave.programme_id, recorded_hash)
    except (ProgrammeError, ranking.PolicyError) as exc:
        raise ComputeError(f"测评结果运用办法无法读取：{exc}") from exc
