"""A wave as the results area finds it: ``survey.waves.WaveRef`` by id, month or programme/month,
with the results area's error. Light (no statistics), so the dashboard, the report and the
command line load it without the computation's numpy/scipy."""

from __future__ import annotations

from survey.results.errors import ComputeError
from survey.waves import WaveError, WaveRef, wave_ref
from survey.waves import resolve_wave as resolve

__all__ = ["ComputeError", "WaveRef", "resolve_wave", "wave_by_id"]


async def resolve_wave(ref: str) -> WaveRef:
    """A wave by id (``12``), month (``2026-10``, when only one programme has it) or
    ``programme-code/2026-10``; ``ComputeError`` naming the problem otherwise."""
    try:
        return await wave_by_id(await resolve(ref))
    except WaveError as exc:
        raise ComputeError(str(exc)) from exc


async def wave_by_id(wave_id: int) -> WaveRef:
    """The wave ``wave_id`` with its programme's code, name, region, policy and instruments."""
    wave = await wave_ref(wave_id)
    if wave is None:
        raise ComputeError(f"测评期 {wave_id} 不存在")
    return wave
