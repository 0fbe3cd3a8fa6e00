"""Plain records the ranking core reads (per-wave results) and writes (outcomes with evidence).

Every number is on the index's published 0–100 scale: percent for shares (安全感、知晓率),
points for mean scores (满意度 100/80/60/30/0). A wave is named by its month, ``"YYYY-MM"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ranked", "insufficient"]
RANKED: Status = "ranked"
INSUFFICIENT: Status = "insufficient"
STATUS_NAMES: dict[str, str] = {"ranked": "参与排名", "insufficient": "样本不足"}

SanctionLevel = Literal["criticism", "yellow_card", "veto"]
SANCTION_LEVELS: tuple[SanctionLevel, ...] = ("criticism", "yellow_card", "veto")
PRAISE_LEVEL = "praise"
LEVEL_NAMES: dict[str, str] = {
    "criticism": "通报批评",
    "yellow_card": "黄牌警告",
    "veto": "一票否决",
    "praise": "通报表扬",
}

_WAVE_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_wave(wave: str) -> tuple[int, int]:
    """``"2026-09"`` → ``(2026, 9)``; raises ValueError for anything else."""
    match = _WAVE_RE.match(wave)
    if not match:
        raise ValueError(f"测评期 {wave!r} 无效：应为 YYYY-MM，如 2026-09")
    return int(match.group(1)), int(match.group(2))


def month_index(wave: str) -> int:
    """Months since year 0 for a ``"YYYY-MM"`` wave (adjacent months differ by 1)."""
    year, month = parse_wave(wave)
    return year * 12 + (month - 1)


@dataclass(frozen=True)
class UnitResult:
    """One index for one unit in one wave, as the estimation step computed it.

    ``estimate`` and ``se`` are on the 0–100 scale (None when nothing could be estimated);
    ``n`` is the number of valid answers, ``n_eff`` the effective sample size of the estimate
    (n / design effect; used by the uncertainty of ranks), ``n_kish`` the Kish effective size of
    the answers' weights, (Σw)²/Σw², which does not depend on the answers (None: not known,
    e.g. results stored before it was kept; ``n_eff`` stands in). ``status`` is
    ``"insufficient"`` (样本不足) when the estimation step already judged the sample too small;
    the policy's ``min_n`` (on ``n``) and ``min_n_eff`` (on ``n_kish``) apply on top of it.
    """

    wave: str
    index: str
    unit_code: str
    estimate: float | None
    se: float | None
    n: int
    n_eff: float
    status: Status = RANKED
    unit_name: str = ""
    n_kish: float | None = None

    @property
    def eligibility_size(self) -> float:
        """The effective size the policy's ``min_n_eff`` is compared with (``n_kish``)."""
        return self.n_eff if self.n_kish is None else self.n_kish


@dataclass(frozen=True)
class Sanction:
    """A warning step the policy imposes: ``level`` (criticism/yellow_card/veto), its Chinese
    ``name``, the ``reason`` in words, the ``rule`` id, the consecutive-wave count ``streak``
    and the ``measure`` text (e.g. 重点管理（挂牌整治）)."""

    level: SanctionLevel
    name: str
    reason: str
    rule: str
    streak: int
    measure: str = ""
    # "" (no review), "flagged" (提请复核), "held" (待复核), "confirmed" (经复核维持) or
    # "withdrawn" (经复核撤销): see ``SanctionRule.review`` and ``evaluate_wave(decisions=…)``.
    review: str = ""


@dataclass(frozen=True)
class Praise:
    """A 通报表扬: ``reason`` in words, ``rule`` id, ``streak`` of consecutive waves met."""

    reason: str
    rule: str
    streak: int
    measure: str = ""
    level: str = PRAISE_LEVEL
    name: str = LEVEL_NAMES[PRAISE_LEVEL]


@dataclass(frozen=True)
class PointEntry:
    """Points from one points rule this wave: negative = deduction (扣分), positive = award."""

    rule: str
    points: float
    reason: str


@dataclass(frozen=True)
class TargetCheck:
    """Whether the published estimate reaches a target (e.g. 安全感 ≥ 90 %)."""

    target: str
    name: str
    at_least: float
    met: bool
    reason: str


@dataclass(frozen=True)
class ConditionState:
    """One rule's condition for one unit: ``met`` this wave, ``streak`` = consecutive waves met
    ending with this one (0 when not met), counted from earlier waves' results."""

    rule: str
    met: bool
    streak: int


@dataclass(frozen=True)
class Evidence:
    """How sure the ranking is for one unit (None where it does not apply).

    ``ci_lower``/``ci_upper``: interval at ``ci_level`` on the 0–100 scale, by ``ci_method``
    (``"logit"``, or ``"clopper_pearson"`` from n_eff for a unit at 0 or 100 or with SE 0).
    ``p_bottom_k``: probability the unit truly belongs to the bottom ``k``; ``rank_lower`` /
    ``rank_upper``: the ``rank_level`` rank interval (rank 1 = best). ``p_below``: probability
    the true value is under ``threshold`` (threshold rules). ``distinguishable``: False when
    the difference to ``compared_with`` (the unit just outside the bottom k, or the threshold)
    is not significant at ``alpha`` (two-sided z-test); ``note`` says it in words.
    """

    ci_lower: float | None = None
    ci_upper: float | None = None
    ci_level: float = 0.95
    ci_method: str = ""
    k: int | None = None
    p_bottom_k: float | None = None
    rank_lower: int | None = None
    rank_upper: int | None = None
    rank_level: float = 0.90
    threshold: float | None = None
    p_below: float | None = None
    distinguishable: bool | None = None
    compared_with: str | None = None
    alpha: float = 0.05
    note: str = ""


@dataclass(frozen=True)
class UnitOutcome:
    """Everything the policy and the evidence say about one unit's index in the current wave.

    ``estimate`` is the unrounded estimate, ``published`` the figure rounded to the policy's
    decimals (ranks, ties and thresholds use ``published``). ``rank`` (1 = best, competition
    ranking: ties share the better rank) is None for 样本不足 units; ``n_ranked`` counts the
    ranked units of this index. ``bottom``/``top`` say whether the unit is in the bottom/top k
    of the index's first bottom-k/top-k rule this wave.
    """

    wave: str
    index: str
    unit_code: str
    unit_name: str
    estimate: float | None
    published: float | None
    se: float | None
    n: int
    n_eff: float
    status: Status
    rank: int | None
    n_ranked: int
    bottom: bool
    top: bool
    conditions: tuple[ConditionState, ...] = ()
    sanctions: tuple[Sanction, ...] = ()
    praises: tuple[Praise, ...] = ()
    points: tuple[PointEntry, ...] = ()
    targets: tuple[TargetCheck, ...] = ()
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def points_total(self) -> float:
        """Sum of this wave's points (negative = net deduction)."""
        return float(sum(p.points for p in self.points))

    @property
    def highest_sanction(self) -> Sanction | None:
        """The most severe sanction (veto > yellow_card > criticism), or None."""
        if not self.sanctions:
            return None
        return max(self.sanctions, key=lambda s: SANCTION_LEVELS.index(s.level))

    @property
    def status_name(self) -> str:
        """参与排名 / 样本不足."""
        return STATUS_NAMES[self.status]


@dataclass(frozen=True)
class WaveEvaluation:
    """The policy applied to one wave: ``outcomes`` ordered by index (policy order), then rank
    (样本不足 units last, by unit code)."""

    wave: str
    policy_id: str
    policy_version: int
    policy_hash: str
    outcomes: tuple[UnitOutcome, ...]

    def for_index(self, index: str) -> tuple[UnitOutcome, ...]:
        """The outcomes of one index, in rank order."""
        return tuple(o for o in self.outcomes if o.index == index)

    def outcome(self, index: str, unit_code: str) -> UnitOutcome:
        """One unit's outcome; KeyError when the wave has no result for it."""
        for o in self.outcomes:
            if o.index == index and o.unit_code == unit_code:
                return o
        raise KeyError((index, unit_code))
