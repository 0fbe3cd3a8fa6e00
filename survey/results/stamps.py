"""The revision of a wave's stored results: what the dashboard's views, the chart resources'
ETags and the report cache are keyed on.

A view of a wave shows its programme's other waves too (changes from the previous wave, the
ladder, the trends), so the revision covers every result run of the programme and the latest
decision on one of its sanctions (a decision changes the stored results in place, without a new
run). Two small queries, and light: the tables only — a report found on disk is answered after
these without importing the dashboard, its charts, templates or numpy (``survey.results.report``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from survey.results.tables import ResultRun, SanctionDecision
from survey.waves import WaveRef

Stamps = tuple[tuple[int, str], ...]


async def run_stamps(programme_id: int) -> Stamps:
    """Each of the programme's result runs as ``(wave, "id@computed_at")``, and the latest
    decision on one of its sanctions as ``(0, "decision N")``."""
    rows = await ResultRun.select(ResultRun.wave, ResultRun.computed_at, ResultRun.id).where(
        ResultRun.wave.programme == programme_id
    )
    decision = (
        await SanctionDecision.select(SanctionDecision.id)
        .where(SanctionDecision.wave.programme == programme_id)
        .order_by(SanctionDecision.id, ascending=False)
        .first()
    )
    stamps = sorted((r["wave"], f"{r['id']}@{r['computed_at']}") for r in rows)
    return (*stamps, (0, f"decision {decision['id'] if decision else 0}"))


def revision_of(wave_id: int, district_code: str | None, stamps: tuple[Any, ...]) -> str:
    """The revision (``WaveView.revision``) of a wave's view from its programme's stamps."""
    return hashlib.sha256(repr((wave_id, district_code, stamps)).encode()).hexdigest()[:16]


async def view_revision(wave: WaveRef, district_code: str | None = None) -> str | None:
    """The ``WaveView.revision`` that ``wave_view`` would build now, from two small queries
    (no results read, no chart drawn); None when the wave has no computed results yet."""
    stamps = await run_stamps(wave.programme_id)
    if not any(stamp[0] == wave.id for stamp in stamps):
        return None
    return revision_of(wave.id, district_code, stamps)
