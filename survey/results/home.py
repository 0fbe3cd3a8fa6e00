"""The committee's home page: what matters in the latest published wave, first.

For each programme the user may read, the newest **published** wave with results: its
warnings (通报批评 / 黄牌警告 / 一票否决, with their review or appeal state) and praise, the
headline figures against their targets (达到 / 未达到), and the figures whose change from the
previous wave is significant at 5 % (``survey.results.changes``) — the same read model the
dashboard shows (``dashboard.wave_view``), cut to what a committee member acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from survey.accounts import CurrentUser
from survey.results.changes import Change
from survey.results.dashboard import Headline, wave_view
from survey.results.queries import ResultRow, WaveSummary, district_code_of
from survey.results.reading import readable_waves

#: Roles whose home page leads with the latest results.
READERS = ("committee", "analyst", "admin")
MAX_PROGRAMMES = 3
MAX_CHANGES = 8


@dataclass(frozen=True)
class HomeDigest:
    """One programme's latest published wave, as the home page leads with it."""

    wave: WaveSummary
    headlines: list[Headline]
    sanctions: list[tuple[ResultRow, dict[str, Any]]]
    praises: list[tuple[ResultRow, dict[str, Any]]]
    changes: list[tuple[ResultRow, Change]]
    more_changes: int

    @property
    def targets_missed(self) -> int:
        return sum(1 for h in self.headlines if h.met is False)


async def home_digests(user: CurrentUser) -> list[HomeDigest]:
    """The newest published wave with results of each programme ``user`` may read (newest
    first, at most ``MAX_PROGRAMMES``); empty for users who do not read results."""
    if not user.has_any(READERS):
        return []
    latest: dict[int, WaveSummary] = {}
    for w in await readable_waves(user):
        if w.status != "published" or not w.has_results:
            continue
        if w.programme_id not in latest or w.month > latest[w.programme_id].month:
            latest[w.programme_id] = w
    chosen = sorted(latest.values(), key=lambda w: (w.month, w.programme_code), reverse=True)
    district = await district_code_of(user.district_id)
    out = []
    for wave in chosen[:MAX_PROGRAMMES]:
        view = await wave_view(wave.id, district, unit_trends=False)
        # Largest changes first (by |z|): the ones most clearly not noise.
        changes = sorted(view.significant_changes, key=lambda rc: -abs(rc[1].z))
        out.append(
            HomeDigest(
                wave=wave,
                headlines=view.headlines,
                sanctions=view.sanctions,
                praises=view.praises,
                changes=changes[:MAX_CHANGES],
                more_changes=max(len(changes) - MAX_CHANGES, 0),
            )
        )
    return out
