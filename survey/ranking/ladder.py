"""Apply a policy to one wave: ranks, bottom-k/top-k membership, consecutive-wave counts derived
from earlier waves, the warning ladder, praise, points, targets, and each unit's evidence.

Rules (stated here, tested in tests/ranking/test_ladder.py):

* Eligibility: a unit is ranked in a wave when its record says ``ranked``, it has an estimate and
  an SE, its number of valid answers ``n`` reaches the policy's ``min_n`` and the Kish effective
  size of their weights ``n_kish`` reaches ``min_n_eff`` for the index — one stable quantity
  set, not a design effect estimated from the answers (a unit at 100 % and one at 80 % with the
  same weights are treated alike); otherwise it is 样本不足:
  no rank, no membership, no sanction, no praise, no points, and it is not counted among the k.
* Ranks, ties and thresholds use the published figure: the estimate rounded half-up to the
  policy's ``decimals`` (a committee compares the numbers it reads). Rank 1 is the best;
  tied units share the better rank (competition ranking 1, 2, 2, 4).
* Ties at the cut-off: ``ties = "include"`` puts every unit tied at the k-th place in the group
  (the bottom 2 may then hold 3 units); ``"exclude"`` leaves the whole tied group out when it
  does not fit inside k.
* Consecutive waves: the sequence is the programme's waves (every distinct wave in the history up
  to the current one, whatever the index, in label order: ``YYYY-MM`` labels sort in time) for
  ``consecutive = "waves"``, or every calendar month
  from the first wave to the current one for ``"months"``. Walking back from the current wave,
  a wave where the unit met the condition adds one; a wave where it was ranked and did not meet
  it ends the run; a wave with no ranked result for it (not measured, 样本不足, or a month without
  a wave) ends the run under ``gap = "break"`` and is passed over under ``gap = "skip"``.
  The current wave itself must meet the condition, otherwise the count is 0.
* Ladder: the highest step whose ``waves`` ≤ the count (4 in a row stays at the 3-wave step).
* Review (``SanctionRule.review``): a sanction whose P(bottom k) — P(below the threshold) for a
  threshold rule — is under ``review_below``, or whose unit is statistically indistinguishable
  from the first unit on the other side, is ``flagged`` (rule ``flag``) or ``held`` (rule
  ``hold``). ``decisions`` (a reviewer's, or an appeal's) mark it ``confirmed`` or
  ``withdrawn`` (or, after an appeal, ``changed:<level>``: the sanction becomes that level and
  still counts). A withdrawn sanction does not count toward the next step: walking back, a wave
  whose sanction of that rule was withdrawn is passed over (neither counted nor ending the run).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from scipy import stats

from survey.ranking.policy import (
    Condition,
    IndexSpec,
    PointsRule,
    Policy,
    SanctionRule,
    TieRule,
    chinese_count,
    format_value,
)
from survey.ranking.records import (
    INSUFFICIENT,
    LEVEL_NAMES,
    RANKED,
    ConditionState,
    Evidence,
    PointEntry,
    Praise,
    Sanction,
    TargetCheck,
    UnitOutcome,
    UnitResult,
    WaveEvaluation,
    month_index,
)
from survey.ranking.uncertainty import (
    difference_test,
    display_interval,
    effective_se,
    p_below,
    simulate_ranks,
)


def published_value(estimate: float, decimals: int = 1) -> float:
    """The figure as published: ``estimate`` rounded half-up (not to even) to ``decimals``,
    from its shortest decimal form (84.95 → 85.0)."""
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(estimate))).quantize(quantum, rounding=ROUND_HALF_UP))


def competition_ranks(values: list[float]) -> list[int]:
    """Rank 1 = largest value; ties share the better rank (1, 2, 2, 4)."""
    v = np.asarray(values, dtype=float)
    ordered = np.sort(v)
    return [int(r) for r in 1 + (v.size - np.searchsorted(ordered, v, side="right"))]


def in_extreme_k(values: list[float], k: int, *, bottom: bool, ties: TieRule) -> list[bool]:
    """Whether each value is among the ``k`` lowest (``bottom``) or highest, with the tie rule
    at the cut-off (module docstring)."""
    v = np.asarray(values, dtype=float)
    ordered = np.sort(v)
    below = np.searchsorted(ordered, v, side="left")  # strictly lower values
    not_above = np.searchsorted(ordered, v, side="right")  # lower or tied (itself included)
    if bottom:
        beyond, tied_or_beyond = below, not_above
    else:
        beyond, tied_or_beyond = v.size - not_above, v.size - below
    flags = beyond < k if ties == "include" else tied_or_beyond <= k
    return [bool(f) for f in flags]


@dataclass
class _WaveIndex:
    """One index in one wave: every record and the published values of the ranked units."""

    records: dict[str, UnitResult] = field(default_factory=dict)
    published: dict[str, float] = field(default_factory=dict)
    _members: dict[tuple[int, bool], dict[str, bool]] = field(default_factory=dict)

    def member(self, k: int, bottom: bool, ties: TieRule) -> dict[str, bool]:
        key = (k, bottom)
        if key not in self._members:
            codes = list(self.published)
            flags = in_extreme_k([self.published[c] for c in codes], k, bottom=bottom, ties=ties)
            self._members[key] = dict(zip(codes, flags, strict=True))
        return self._members[key]


def _is_ranked(record: UnitResult, min_n: float, min_n_eff: float) -> bool:
    return (
        record.status == RANKED
        and record.estimate is not None
        and record.se is not None
        and np.isfinite(record.estimate)
        and np.isfinite(record.se)
        and record.n >= min_n
        and record.eligibility_size >= min_n_eff
    )


class _History:
    def __init__(self, policy: Policy, records: Iterable[UnitResult], wave: str) -> None:
        self.policy = policy
        self.wave = wave
        self.table: dict[tuple[str, str], _WaveIndex] = {}
        waves: set[str] = {wave}
        for record in records:
            if self._later(record.wave):
                continue  # later waves never influence this one
            key = (record.wave, record.index)
            slot = self.table.setdefault(key, _WaveIndex())
            if record.unit_code in slot.records:
                raise ValueError(
                    f"测评期 {record.wave} 指标 {record.index} 单位 {record.unit_code} 有重复结果"
                )
            slot.records[record.unit_code] = record
            waves.add(record.wave)
        for (_, index), slot in self.table.items():
            try:
                minimum = policy.min_n_eff_for(index)
                minimum_n = policy.min_n_for(index)
            except KeyError:
                continue
            for code, record in slot.records.items():
                if _is_ranked(record, minimum_n, minimum):
                    slot.published[code] = published_value(
                        float(record.estimate or 0.0), policy.decimals
                    )
        if policy.consecutive == "months":
            current = month_index(wave)
            first = min(month_index(w) for w in waves)
            self.sequence = [_month_label(i) for i in range(first, current + 1)]
        else:
            self.sequence = sorted(waves)

    def _later(self, other: str) -> bool:
        if self.policy.consecutive == "months":
            return month_index(other) > month_index(self.wave)
        return other > self.wave

    def slot(self, wave: str, index: str) -> _WaveIndex:
        return self.table.get((wave, index)) or _WaveIndex()

    def met(self, condition: Condition, index: str, wave: str, unit: str) -> bool | None:
        """None when the unit has no ranked result that wave."""
        slot = self.slot(wave, index)
        if unit not in slot.published:
            return None
        value = slot.published[unit]
        if condition.kind in ("bottom_k", "top_k"):
            members = slot.member(
                int(condition.k or 0), condition.kind == "bottom_k", self.policy.ties
            )
            return members[unit]
        threshold = condition.threshold_for(unit)
        assert threshold is not None
        return value < threshold if condition.kind == "below" else value >= threshold

    def streak(
        self, condition: Condition, index: str, unit: str, withdrawn: frozenset[str] = frozenset()
    ) -> int:
        count = 0
        for position, wave in enumerate(reversed(self.sequence)):
            if position > 0 and wave in withdrawn:
                continue  # a withdrawn sanction's wave does not count toward the next step
            met = self.met(condition, index, wave, unit)
            if met is None:
                if position == 0 or self.policy.gap == "break":
                    break
                continue
            if not met:
                break
            count += 1
        return count


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _period_prefix(policy: Policy, streak: int) -> str:
    if streak >= 2:
        return f"连续{streak}{policy.period_name}"
    return "本月" if policy.period_name == "个月" else "本期"


def _deduction(rule: PointsRule, value: float) -> float:
    bands = rule.bands
    total = 0.0
    if rule.banding == "marginal":
        for i, band in enumerate(bands):
            floor = bands[i + 1].below if i + 1 < len(bands) else 0.0
            total += band.per_point * max(0.0, band.below - max(value, floor))
    else:
        reached = [b for b in bands if value < b.below]
        if reached:
            total = reached[-1].per_point * (bands[0].below - value)
    if rule.cap is not None:
        total = min(total, rule.cap)
    return round(total, 6)


def _points(
    policy: Policy, history: _History, spec: IndexSpec, unit: str, value: float
) -> tuple[PointEntry, ...]:
    entries = []
    for rule in policy.points:
        if rule.index != spec.id:
            continue
        if rule.kind == "per_point_below":
            lost = _deduction(rule, value)
            if lost > 0:
                top = format_value(rule.bands[0].below)
                what = (
                    rule.what
                    or f"{spec.name}{value:.{policy.decimals}f}{spec.unit}，低于{top}{spec.unit}"
                )
                entries.append(PointEntry(rule.id, -lost, f"{what}，扣{format_value(lost)}分"))
        else:
            assert rule.condition is not None
            if history.met(rule.condition, spec.id, history.wave, unit):
                what = rule.what or rule.condition.describe(spec, unit)
                verb = "扣" if rule.points < 0 else "加"
                amount = abs(rule.points) if rule.cap is None else min(abs(rule.points), rule.cap)
                entries.append(
                    PointEntry(
                        rule.id,
                        float(np.copysign(amount, rule.points)),
                        f"{_period_prefix(policy, 1)}{what}，{verb}{format_value(amount)}分",
                    )
                )
    return tuple(entries)


def _evidence(
    policy: Policy,
    spec: IndexSpec,
    slot: _WaveIndex,
    ranked: list[str],
    rng: np.random.Generator,
    draws: int,
) -> dict[str, Evidence]:
    settings = policy.uncertainty
    if not ranked:
        return {}
    recs = [slot.records[c] for c in ranked]
    est = np.array([float(r.estimate or 0.0) for r in recs])
    se = np.array([float(r.se or 0.0) for r in recs])
    n_eff = np.array([float(r.n_eff) for r in recs])
    k = policy.rank_k(spec.id)
    sim = simulate_ranks(est, se, n_eff, k=k or 1, rng=rng, draws=draws, level=settings.rank_level)
    threshold_condition = policy.threshold_condition(spec.id)
    bottom_members = slot.member(k, True, policy.ties) if k else {}
    members = [c for c in ranked if bottom_members.get(c)]
    outside = [c for c in ranked if c not in bottom_members or not bottom_members[c]]
    first_out = min(
        outside,
        key=lambda c: (slot.published[c], float(slot.records[c].estimate or 0)),
        default=None,
    )
    last_in = max(
        members,
        key=lambda c: (slot.published[c], float(slot.records[c].estimate or 0)),
        default=None,
    )
    z_crit = float(stats.norm.ppf(1 - settings.alpha / 2))
    out: dict[str, Evidence] = {}
    for i, code in enumerate(ranked):
        interval = display_interval(est[i], se[i], n_eff[i], settings.ci_level)
        evidence = Evidence(
            ci_lower=interval.lower,
            ci_upper=interval.upper,
            ci_level=settings.ci_level,
            ci_method=interval.method,
            rank_lower=int(sim.rank_lower[i]),
            rank_upper=int(sim.rank_upper[i]),
            rank_level=settings.rank_level,
            alpha=settings.alpha,
        )
        if k:
            evidence = replace(evidence, k=k, p_bottom_k=float(sim.p_bottom_k[i]))
            other = first_out if code in members else (last_in if code == first_out else None)
            if other is not None:
                o = slot.records[other]
                test = difference_test(
                    est[i],
                    se[i],
                    n_eff[i],
                    float(o.estimate or 0),
                    float(o.se or 0),
                    o.n_eff,
                    alpha=settings.alpha,
                )
                where = (
                    f"后{chinese_count(k)}位之外的第一名"
                    if code in members
                    else f"后{chinese_count(k)}位中最靠前的单位"
                )
                shown = f"{slot.published[other]:.{policy.decimals}f}{spec.unit}"
                evidence = replace(
                    evidence,
                    distinguishable=test.distinguishable,
                    compared_with=other,
                    note=f"与{where}（{o.unit_name or o.unit_code}，{shown}）"
                    f"{_verdict(test.distinguishable)}，z = {test.z:.2f}，p = {test.p_value:.3f}",
                )
        if threshold_condition is not None:
            threshold = threshold_condition.threshold_for(code)
            assert threshold is not None
            evidence = replace(
                evidence,
                threshold=threshold,
                p_below=p_below(est[i], se[i], n_eff[i], threshold),
            )
            if not k:
                # Same z-test as at a rank cut-off, against a fixed number instead of a unit.
                s_eff = effective_se(est[i], se[i], n_eff[i])
                z = (est[i] - threshold) / s_eff if s_eff > 0 else np.inf
                ok = bool(abs(z) > z_crit)
                what = "达标分值" if spec.unit == "分" else "阈值"
                unit = "" if spec.unit == "分" else spec.unit
                evidence = replace(
                    evidence,
                    distinguishable=ok,
                    compared_with=f"threshold:{format_value(threshold)}",
                    note=f"与{what} {format_value(threshold)}{unit} 相比{_verdict(ok)}，z = {z:.2f}",
                )
        out[code] = evidence
    return out


def _needs_review(rule: SanctionRule, evidence: Evidence | None) -> bool:
    """Whether a sanction of ``rule`` with this evidence goes to review (module docstring)."""
    if rule.review == "off" or evidence is None:
        return False
    if evidence.distinguishable is False:
        return True
    p = evidence.p_below if rule.condition.kind == "below" else evidence.p_bottom_k
    return p is not None and p < rule.review_below


def _verdict(distinguishable: bool) -> str:
    return "差异显著" if distinguishable else "差异不显著（统计上无法区分）"


def evaluate_wave(
    policy: Policy,
    history: Iterable[UnitResult],
    wave: str,
    *,
    rng: np.random.Generator,
    draws: int | None = None,
    decisions: Mapping[tuple[str, str, str, str], str] | None = None,
) -> WaveEvaluation:
    """Apply ``policy`` to ``wave``.

    ``decisions``: ``(wave, index, unit code, rule id)`` → ``"confirmed"`` or ``"withdrawn"``,
    the reviewers' and appeals' decisions on sanctions (module docstring, "Review").

    ``history``: the results of the current wave and of earlier waves (later waves are
    ignored), one record per (wave, index, unit); each index's records are the units ranked
    against each other (e.g. the police stations for 安全感, not the district row). Indices the
    policy does not declare are ignored. ``rng`` seeds the P(bottom k) simulation; ``draws``
    overrides the policy's number of draws. Raises ValueError on duplicate records.
    """
    state = _History(policy, history, wave)
    n_draws = draws or policy.uncertainty.draws
    decided = dict(decisions or {})
    outcomes: list[UnitOutcome] = []
    for spec in policy.indices:
        slot = state.slot(wave, spec.id)
        if not slot.records:
            continue
        ranked = sorted(slot.published, key=lambda c: (-slot.published[c], c))
        values = [slot.published[c] for c in ranked]
        ranks = dict(zip(ranked, competition_ranks(values), strict=True))
        evidence = _evidence(policy, spec, slot, ranked, rng, n_draws)
        bottom_k = policy.rank_k(spec.id)
        top_k = policy.top_k(spec.id)
        order = ranked + sorted(c for c in slot.records if c not in slot.published)
        for code in order:
            rec = slot.records[code]
            is_ranked = code in slot.published
            value = slot.published.get(code)
            conditions: list[ConditionState] = []
            sanctions: list[Sanction] = []
            praises: list[Praise] = []
            if is_ranked:
                for rule in policy.sanctions:
                    if rule.index != spec.id:
                        continue
                    withdrawn = frozenset(
                        w
                        for (w, i, u, r), outcome in decided.items()
                        if (i, u, r) == (spec.id, code, rule.id) and outcome == "withdrawn"
                    )
                    streak = state.streak(rule.condition, spec.id, code, withdrawn)
                    conditions.append(ConditionState(rule.id, streak > 0, streak))
                    step = rule.step_for(streak)
                    if step is not None:
                        what = rule.what or rule.condition.describe(spec, code)
                        name = LEVEL_NAMES[step.level]
                        review = decided.get((wave, spec.id, code, rule.id), "")
                        if not review and _needs_review(rule, evidence.get(code)):
                            review = "flagged" if rule.review == "flag" else "held"
                        level, measure = step.level, step.measure
                        if review.startswith("changed:"):
                            # an appeal changed the sanction to another level (变更为…)
                            level, measure, review = review[8:], "", "changed"  # type: ignore[assignment]
                        name = LEVEL_NAMES[level]
                        sanctions.append(
                            Sanction(
                                level,
                                name,
                                f"{_period_prefix(policy, streak)}{what} → {name}",
                                rule.id,
                                streak,
                                measure,
                                review,
                            )
                        )
                for praise_rule in policy.praises:
                    if praise_rule.index != spec.id:
                        continue
                    streak = state.streak(praise_rule.condition, spec.id, code)
                    conditions.append(ConditionState(praise_rule.id, streak > 0, streak))
                    if streak >= praise_rule.waves:
                        what = praise_rule.what or praise_rule.condition.describe(spec, code)
                        praises.append(
                            Praise(
                                f"{_period_prefix(policy, streak)}{what} → 通报表扬",
                                praise_rule.id,
                                streak,
                                praise_rule.measure,
                            )
                        )
            targets = tuple(
                TargetCheck(
                    t.id,
                    t.name,
                    t.at_least,
                    value >= t.at_least,
                    f"{spec.name}{value:.{policy.decimals}f}{spec.unit}，"
                    f"{'达到' if value >= t.at_least else '未达到'}{t.name}"
                    f"（≥ {format_value(t.at_least)}{spec.unit}）",
                )
                for t in policy.targets
                if t.index == spec.id and value is not None
            )
            outcomes.append(
                UnitOutcome(
                    wave=wave,
                    index=spec.id,
                    unit_code=code,
                    unit_name=rec.unit_name,
                    estimate=rec.estimate,
                    published=value,
                    se=rec.se,
                    n=rec.n,
                    n_eff=rec.n_eff,
                    status=RANKED if is_ranked else INSUFFICIENT,
                    rank=ranks.get(code),
                    n_ranked=len(ranked),
                    bottom=bool(
                        is_ranked and bottom_k and slot.member(bottom_k, True, policy.ties)[code]
                    ),
                    top=bool(is_ranked and top_k and slot.member(top_k, False, policy.ties)[code]),
                    conditions=tuple(conditions),
                    sanctions=tuple(sanctions),
                    praises=tuple(praises),
                    points=_points(policy, state, spec, code, value) if value is not None else (),
                    targets=targets,
                    evidence=evidence.get(code, Evidence()),
                )
            )
    return WaveEvaluation(
        wave=wave,
        policy_id=policy.id,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        outcomes=tuple(outcomes),
    )
