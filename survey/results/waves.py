"""A wave as the results area names it (``WaveRef``), found by id, month or programme/month:
light (no statistics), so the dashboard, the report and the command line load it without the
computation's numpy/scipy."""

from __future__ import annotations

import json
from dataclasses import dataclass

from survey.db.tables import Wave
from survey.results.errors import ComputeError as ComputeError  # where it lived before


@dataclass(frozen=True)
class WaveRef:
    """A wave with its programme: ids, month, status, region and policy name."""

    id: int
    month: str
    status: str
    programme_id: int
    programme_code: str
    programme_name: str
    region_id: int
    policy: str
    instruments: tuple[str, ...]


async def resolve_wave(ref: str) -> WaveRef:
    """A wave by id (``12``), month (``2026-10``, when only one programme has it) or
    ``programme-code/2026-10``; ``ComputeError`` naming the problem otherwise."""
    from survey.waves import WaveError
    from survey.waves import resolve_wave as resolve

    try:
        return await wave_by_id(await resolve(ref))
    except WaveError as exc:
        raise ComputeError(str(exc)) from exc


async def wave_by_id(wave_id: int) -> WaveRef:
    """The wave ``wave_id`` with its programme's code, name, region, policy and instruments."""
    r = (
        await Wave.select(
            Wave.id,
            Wave.month,
            Wave.status,
            Wave.programme.id.as_alias("programme_id"),
            Wave.programme.code.as_alias("programme_code"),
            Wave.programme.name.as_alias("programme_name"),
            Wave.programme.region.as_alias("region_id"),
            Wave.programme.policy.as_alias("policy"),
            Wave.programme.instruments.as_alias("instruments"),
        )
        .where(Wave.id == wave_id)
        .first()
    )
    if r is None:
        raise ComputeError(f"测评期 {wave_id} 不存在")
    return WaveRef(
        id=r["id"],
        month=r["month"],
        status=r["status"],
        programme_id=r["programme_id"],
        programme_code=r["programme_code"],
        programme_name=r["programme_name"],
        region_id=r["region_id"],
        policy=r["policy"],
        instruments=tuple(json.loads(r["instruments"] or "[]")),
    )
