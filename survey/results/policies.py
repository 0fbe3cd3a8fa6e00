"""Which policy each wave's results were computed with, for the programme pages."""

from __future__ import annotations

import dataclasses
from typing import Any

from survey.programmes.service import ProgrammeDetail
from survey.results.tables import ResultRun


async def with_computed_policies(detail: ProgrammeDetail) -> ProgrammeDetail:
    """``detail`` (``survey.programmes.service.programme_detail``) with each wave's policy id,
    version and hash from its latest computation (``ResultRun``); waves never computed keep
    empty ones."""
    runs: dict[int, dict[str, Any]] = {}
    for r in await ResultRun.select(
        ResultRun.id,
        ResultRun.wave,
        ResultRun.policy_id,
        ResultRun.policy_version,
        ResultRun.policy_hash,
    ).where(ResultRun.wave.is_in([w.wave_id for w in detail.waves] or [-1])):
        if r["wave"] not in runs or runs[r["wave"]]["id"] < r["id"]:
            runs[r["wave"]] = r
    waves = tuple(
        dataclasses.replace(
            w,
            policy_id=str(runs[w.wave_id]["policy_id"]),
            policy_version=int(runs[w.wave_id]["policy_version"]),
            policy_hash=str(runs[w.wave_id]["policy_hash"]),
        )
        if w.wave_id in runs
        else w
        for w in detail.waves
    )
    return dataclasses.replace(detail, waves=waves)
