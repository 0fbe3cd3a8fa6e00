"""Read side of the results app: stored runs and index results as plain records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from survey.db.tables import Unit
from survey.programmes.service import ProgrammeInfo, list_programmes
from survey.results.records import ResultRow as ResultRow
from survey.results.tables import IndexResult, ResultRun
from survey.settings import local_time
from survey.waves import WaveRef, visible_regions, waves_for


@dataclass(frozen=True)
class RunInfo:
    """A wave's computation run with its decoded JSON columns."""

    wave_id: int
    computed_at: str
    computed_by: str
    method_version: str
    policy_id: str
    policy_version: int
    policy_hash: str
    seed: int
    n_responses: int
    n_excluded: int
    instruments: list[dict[str, Any]]
    weighting: list[dict[str, Any]]
    flags: list[dict[str, Any]]
    method: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class WaveSummary(WaveRef):
    """A wave (``survey.waves.WaveRef``) for lists and navigation, with whether it has results."""

    has_results: bool


_COLUMNS = (
    IndexResult.wave.id.as_alias("wave_id"),
    IndexResult.wave.month.as_alias("month"),
    IndexResult.index_id,
    IndexResult.index_name,
    IndexResult.level,
    IndexResult.unit_code,
    IndexResult.unit_name,
    IndexResult.district_code,
    IndexResult.scale,
    IndexResult.estimate,
    IndexResult.se,
    IndexResult.ci_lower,
    IndexResult.ci_upper,
    IndexResult.ci_method,
    IndexResult.n,
    IndexResult.n_eff,
    IndexResult.dk_rate,
    IndexResult.deff,
    IndexResult.status,
    IndexResult.rank,
    IndexResult.n_ranked,
    IndexResult.p_bottom_k,
    IndexResult.rank_lower,
    IndexResult.rank_upper,
    IndexResult.distinguishable,
    IndexResult.fh_estimate,
    IndexResult.fh_se,
    IndexResult.target,
    IndexResult.sanctions,
    IndexResult.praises,
    IndexResult.evidence,
    IndexResult.instrument_id,
    IndexResult.instrument_version,
    IndexResult.method_version,
    IndexResult.n_kish,
)


def result_row(r: dict[str, Any]) -> ResultRow:
    """A stored result as read (its JSON columns decoded): from the table or from a revision's
    copy of the rows."""
    data = dict(r)
    data["sanctions"] = json.loads(r["sanctions"] or "[]")
    data["praises"] = json.loads(r["praises"] or "[]")
    data["evidence"] = json.loads(r["evidence"] or "{}")
    if data["distinguishable"] is not None:
        data["distinguishable"] = bool(data["distinguishable"])
    return ResultRow(**data)


def result_order(r: ResultRow) -> tuple[Any, ...]:
    """The order results are shown in: by index, level, then rank (unranked last)."""
    return (r.index_id, r.level, r.rank is None, r.rank or 0, -(r.estimate or 0), r.unit_code)


async def results_for_wave(wave_id: int) -> list[ResultRow]:
    """Every stored result of a wave, by index, level, then rank (unranked last)."""
    rows = await IndexResult.select(*_COLUMNS).where(IndexResult.wave == wave_id)
    return sorted((result_row(r) for r in rows), key=result_order)


async def results_for_programme(programme_id: int, up_to_month: str) -> list[ResultRow]:
    """The programme's stored results of every wave up to ``up_to_month`` (for trends)."""
    rows = await IndexResult.select(*_COLUMNS).where(
        (IndexResult.wave.programme == programme_id) & (IndexResult.wave.month <= up_to_month)
    )
    return sorted((result_row(r) for r in rows), key=lambda r: (r.month, *result_order(r)))


async def run_for_wave(wave_id: int) -> RunInfo | None:
    """The wave's computation run, or None before the first computation."""
    row = await ResultRun.select().where(ResultRun.wave == wave_id).first()
    if row is None:
        return None
    return run_info(wave_id, row)


def run_info(wave_id: int, row: dict[str, Any]) -> RunInfo:
    """A ``RunInfo`` from a ``result_run`` row (or a revision's copy of one)."""
    return RunInfo(
        wave_id=wave_id,
        computed_at=local_time(row["computed_at"]),
        computed_by=row["computed_by"],
        method_version=row["method_version"],
        policy_id=row["policy_id"],
        policy_version=row["policy_version"],
        policy_hash=row["policy_hash"],
        seed=row["seed"],
        n_responses=row["n_responses"],
        n_excluded=row["n_excluded"],
        instruments=json.loads(row["instruments"] or "[]"),
        weighting=json.loads(row["weighting"] or "[]"),
        flags=json.loads(row["flags"] or "[]"),
        method=json.loads(row["method"] or "{}"),
    )


async def programmes_for_user(district_id: int | None) -> list[ProgrammeInfo]:
    """Programmes a user may read results of (same rule as ``waves_for_user``: their district's
    and the city's above it), by code — ``survey.programmes.service.list_programmes`` filtered."""
    allowed = await visible_regions(district_id, city_above=True)
    return [p for p in await list_programmes() if allowed is None or p.region_id in allowed]


async def waves_for_user(district_id: int | None) -> list[WaveSummary]:
    """Waves whose results a user may read (``survey.waves.waves_for`` with the city above their
    district), newest first, with whether results exist."""
    with_results = {r["wave"] for r in await ResultRun.select(ResultRun.wave)}
    return [
        WaveSummary(**asdict(w), has_results=w.id in with_results)
        for w in await waves_for(district_id, city_above=True)
    ]


async def district_code_of(district_id: int | None) -> str | None:
    """The registry code of a user's district (None for unlimited users)."""
    if district_id is None:
        return None
    row = await Unit.select(Unit.code).where(Unit.id == district_id).first()
    return None if row is None else str(row["code"])


async def community_units(ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """``{community id: (code, name)}`` of the registry's communities with these ids."""
    if not ids:
        return {}
    rows = await Unit.select(Unit.id, Unit.code, Unit.name).where(Unit.id.is_in(list(ids)))
    return {r["id"]: (r["code"], r["name"]) for r in rows}
