"""Change from the previous wave (and from the same month a year earlier), with its SE and a 5 % test.

For a unit and index measured in two waves, the change is Δ = θ̂_now − θ̂_then on the published
0–100 scale, and its standard error treats the two waves as independent samples:
SE(Δ) = √(SE_now² + SE_then²) (``docs/estimation.md``, "Change between waves"). The test is the
two-sided z-test of the ranking's ``difference_test`` (the same ``effective_se`` for a unit at
0 %/100 %): significant when p < 0.05. Built at read time from the stored results, so a
revision of either wave changes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from survey.results.queries import ResultRow

CHANGE_ALPHA = 0.05
Key = tuple[str, str, str]  # (index id, level, unit code)


@dataclass(frozen=True)
class Change:
    """The change of one figure since ``since`` (a wave's month)."""

    since: str
    change: float
    se: float
    z: float
    p_value: float
    significant: bool
    scale: str = "%"

    @property
    def direction(self) -> str:
        """``up`` / ``down`` for a significant change, else ``""`` (no trend arrow)."""
        if not self.significant:
            return ""
        return "up" if self.change > 0 else "down"

    def text(self, what: str = "较上期") -> str:
        """E.g. 较上期上升 2.1 个百分点（不显著）; a change that rounds to 0.0 is 持平."""
        unit = "个百分点" if self.scale == "%" else "分"
        verdict = "显著" if self.significant else "不显著"
        shown = round(abs(self.change), 1)
        if shown == 0:
            return f"{what}持平（{verdict}）"
        verb = "上升" if self.change > 0 else "下降"
        return f"{what}{verb} {shown:.1f} {unit}（{verdict}）"


@dataclass(frozen=True)
class RowChanges:
    """A result's change from the previous wave and from the same month a year earlier."""

    previous: Change | None = None
    year_ago: Change | None = None


def change_between(now: ResultRow, then: ResultRow) -> Change | None:
    """``now`` − ``then`` with its SE and 5 % test, or None when either lacks an estimate/SE."""
    from survey.ranking.uncertainty import difference_test

    if now.estimate is None or now.se is None or then.estimate is None or then.se is None:
        return None
    test = difference_test(
        then.estimate,
        then.se,
        then.n_eff,
        now.estimate,
        now.se,
        now.n_eff,
        alpha=CHANGE_ALPHA,
    )
    return Change(
        since=then.month,
        change=test.difference,
        se=test.se,
        z=test.z,
        p_value=test.p_value,
        significant=test.distinguishable,
        scale=now.scale,
    )


def year_earlier(month: str) -> str:
    """``2026-10`` → ``2025-10``."""
    year, mon = month.split("-")
    return f"{int(year) - 1:04d}-{mon}"


def changes_for(rows: Iterable[ResultRow], history: Iterable[ResultRow]) -> dict[Key, RowChanges]:
    """Each row's changes, from ``history`` (the programme's stored results of every wave up to
    the rows' wave): the previous wave is the latest earlier month with results, the year-ago
    wave the same month a year earlier (when it exists)."""
    rows = list(rows)
    by_month: dict[str, dict[Key, ResultRow]] = {}
    for h in history:
        by_month.setdefault(h.month, {})[(h.index_id, h.level, h.unit_code)] = h
    out: dict[Key, RowChanges] = {}
    for r in rows:
        key = (r.index_id, r.level, r.unit_code)
        earlier = sorted(m for m in by_month if m < r.month)
        previous = by_month[earlier[-1]].get(key) if earlier else None
        ago = by_month.get(year_earlier(r.month), {}).get(key)
        out[key] = RowChanges(
            previous=None if previous is None else change_between(r, previous),
            year_ago=None if ago is None else change_between(r, ago),
        )
    return out
