"""What a user may read of the results — one rule for the results pages and the results API.

Analysts and admins read every wave of the programmes their district may see (computed drafts
included); committee members only published waves, so what they read never changes under them.
District-limited users read only their district's units. A reviewer named by the wave's policy
(``reviewers``, committee members by default) also opens the 复核与申诉 page of a computed,
unpublished wave whose sanctions wait for review (``reviewable_waves``): the wave cannot be
published until they decide.
"""

from __future__ import annotations

from survey.accounts import CurrentUser
from survey.programmes.service import ProgrammeInfo
from survey.results.queries import (
    ResultRow,
    WaveSummary,
    district_code_of,
    programmes_for_user,
    results_for_wave,
    waves_for_user,
)

#: Roles that see waves before publication.
DRAFT_READERS: frozenset[str] = frozenset({"analyst", "admin"})


async def readable_waves(user: CurrentUser) -> list[WaveSummary]:
    """The waves ``user`` may read, newest first."""
    waves = await waves_for_user(user.district_id)
    if user.has_any(DRAFT_READERS):
        return waves
    return [w for w in waves if w.status == "published"]


async def readable_wave(user: CurrentUser, wave_id: int) -> WaveSummary | None:
    """Wave ``wave_id`` if ``user`` may read it, else None (unknown and forbidden look alike)."""
    return next((w for w in await readable_waves(user) if w.id == wave_id), None)


async def readable_programmes(user: CurrentUser) -> list[ProgrammeInfo]:
    """The programmes whose waves ``user`` may read, by code."""
    return await programmes_for_user(user.district_id)


async def readable_results(user: CurrentUser, wave_id: int) -> list[ResultRow] | None:
    """The stored results of a wave ``user`` may read (their district's units only when they are
    district-limited), by index, level and rank; None when the wave is not readable."""
    if await readable_wave(user, wave_id) is None:
        return None
    rows = await results_for_wave(wave_id)
    district = await district_code_of(user.district_id)
    if district is not None:
        rows = [r for r in rows if r.district_code == district]
    return rows


async def reviewable_waves(user: CurrentUser) -> list[WaveSummary]:
    """The unpublished waves of the user's district with sanctions 待复核 or 提请复核 that the
    user's roles may decide under the policy the wave was computed with (besides the waves
    ``readable_waves`` gives: an analyst or admin reads them anyway)."""
    from survey.results.compute import ComputeError, wave_by_id, wave_policy
    from survey.results.review import reviews_for_wave

    out = []
    for wave in await waves_for_user(user.district_id):
        if wave.status == "published" or not wave.has_results:
            continue
        try:
            reviewers = (await wave_policy(await wave_by_id(wave.id), recorded=True)).reviewers
        except ComputeError:
            continue
        if not user.has_any(reviewers):
            continue
        if any(p.review in ("held", "flagged") for p in await reviews_for_wave(wave.id)):
            out.append(wave)
    return out
