"""Review of uncertain sanctions: the policy's ``review = "flag" | "hold"`` and the decisions.

The ranking core marks a sanction ``flagged`` (提请复核) or ``held`` (待复核) when its evidence is
uncertain (``survey.ranking.ladder``, "Review"). Here:

* :func:`decide` — a reviewer (a role the wave's policy lists in ``reviewers``; the command line
  is the operator's and may decide) confirms (维持) or withdraws (撤销) a flagged or held sanction
  of a computed, unpublished wave with a written reason. The decision is stored
  (``SanctionDecision``), written into the stored result (what the dashboard, report and exports
  show: 「经复核维持 / 撤销」, by whom, why) and audited (``results.review``). A recomputation
  re-applies every decision (:func:`decisions_for`), and the ladder of later waves does not count
  a withdrawn sanction toward the next step.
* :func:`held_sanctions` — what still waits; publishing the wave is refused while any is left
  (``survey.results.publishing.set_status``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from survey.audit import record
from survey.db import lock_row, write_transaction
from survey.db.tables import Wave
from survey.results.compute import ComputeError, wave_by_id, wave_policy
from survey.results.records import REVIEW_NAMES
from survey.results.report import draw_ahead
from survey.results.tables import IndexResult, SanctionDecision

OUTCOMES = {
    "维持": "confirmed",
    "撤销": "withdrawn",
    "confirmed": "confirmed",
    "withdrawn": "withdrawn",
}
OUTCOME_NAMES = {outcome: REVIEW_NAMES[outcome] for outcome in ("confirmed", "withdrawn")}
REASON_MAX = 500
DecisionKey = tuple[str, str, str, str]  # (wave month, index id, unit code, rule id)


@dataclass(frozen=True)
class Decision:
    """A stored decision: ``outcome`` confirmed/withdrawn, by whom, why, from which source."""

    outcome: str
    reason: str
    decided_by: str
    source: str


@dataclass(frozen=True)
class PendingReview:
    """A flagged or held sanction of a wave, as the review page and ``survey results review``
    list it."""

    index_id: str
    index_name: str
    unit_code: str
    unit_name: str
    rule: str
    level: str
    name: str
    reason: str
    review: str
    estimate: float | None
    p_bottom_k: float | None
    note: str
    review_by: str = ""
    review_note: str = ""
    # The rule's k (P(后k位)); for a threshold rule P(低于阈值) instead (from the evidence)
    k: int = 2
    p_below: float | None = None


async def decisions_for(programme_id: int, up_to_month: str) -> dict[DecisionKey, Decision]:
    """The latest decision per sanction for the programme's waves up to ``up_to_month``."""
    rows = await (
        SanctionDecision.select(
            SanctionDecision.wave.month.as_alias("month"),
            SanctionDecision.index_id,
            SanctionDecision.unit_code,
            SanctionDecision.rule,
            SanctionDecision.outcome,
            SanctionDecision.reason,
            SanctionDecision.decided_by,
            SanctionDecision.source,
        )
        .where(
            (SanctionDecision.wave.programme == programme_id)
            & (SanctionDecision.wave.month <= up_to_month)
        )
        .order_by(SanctionDecision.id)
    )
    return {
        (r["month"], r["index_id"], r["unit_code"], r["rule"]): Decision(
            r["outcome"], r["reason"], r["decided_by"], r["source"]
        )
        for r in rows
    }


def _pending(row: dict[str, Any]) -> list[PendingReview]:
    evidence = json.loads(row["evidence"] or "{}")
    return [
        PendingReview(
            index_id=row["index_id"],
            index_name=row["index_name"],
            unit_code=row["unit_code"],
            unit_name=row["unit_name"],
            rule=str(s.get("rule", "")),
            level=s["level"],
            name=s["name"],
            reason=s["reason"],
            review=str(s.get("review") or ""),
            estimate=row["estimate"],
            p_bottom_k=row["p_bottom_k"],
            note=str(evidence.get("note", "")),
            review_by=str(s.get("review_by", "")),
            review_note=str(s.get("review_note", "")),
            k=int(evidence.get("k") or 2),
            p_below=None if evidence.get("p_below") is None else float(evidence["p_below"]),
        )
        for s in json.loads(row["sanctions"] or "[]")
        if s.get("review")
    ]


async def reviews_for_wave(wave_id: int) -> list[PendingReview]:
    """Every sanction of the wave with a review state (flagged, held or decided)."""
    rows = await IndexResult.select(
        IndexResult.index_id,
        IndexResult.index_name,
        IndexResult.unit_code,
        IndexResult.unit_name,
        IndexResult.estimate,
        IndexResult.p_bottom_k,
        IndexResult.sanctions,
        IndexResult.evidence,
    ).where((IndexResult.wave == wave_id) & IndexResult.sanctions.like("%review%"))
    out = [p for r in rows for p in _pending(r)]
    return sorted(out, key=lambda p: (p.index_id, p.unit_code, p.rule))


async def held_sanctions(wave_id: int) -> list[PendingReview]:
    """The wave's sanctions still 待复核 (publishing is refused while any is left)."""
    return [p for p in await reviews_for_wave(wave_id) if p.review == "held"]


async def record_decision(
    wave_id: int,
    index_id: str,
    unit_code: str,
    *,
    rule: str,
    outcome: str,
    reason: str,
    source: str,
    username: str,
    action: str,
    detail: str,
    mark_stored: bool = True,
) -> None:
    """The one way a decision on a sanction is written (a reviewer's, an appeal lodged or
    decided): the ``SanctionDecision`` row (``outcome`` confirmed / withdrawn / appealed /
    changed:<level>), with ``mark_stored`` the review state beside the stored sanction (what the
    dashboard, report and exports show until the next computation re-applies the decisions),
    and the audit entry ``action`` with ``detail``. Call inside the caller's write transaction,
    with the wave row locked."""
    if mark_stored:
        from survey.results.revisions import record_first_revision

        # A wave published before revisions existed keeps its original as revision 1 first.
        if await Wave.exists().where((Wave.id == wave_id) & (Wave.status == "published")):
            await record_first_revision(wave_id, username="")
        row = (
            await IndexResult.select(IndexResult.id, IndexResult.sanctions)
            .where(
                (IndexResult.wave == wave_id)
                & (IndexResult.index_id == index_id)
                & (IndexResult.unit_code == unit_code)
            )
            .first()
        )
        if row is not None:
            sanctions = json.loads(row["sanctions"] or "[]")
            state = "changed" if outcome.startswith("changed:") else outcome
            for s in sanctions:
                if str(s.get("rule", "")) == rule:
                    s.update(review=state, review_by=username, review_note=reason)
            await IndexResult.update(
                {IndexResult.sanctions: json.dumps(sanctions, ensure_ascii=False)}
            ).where(IndexResult.id == row["id"])
    await SanctionDecision.insert(
        SanctionDecision(
            wave=wave_id,
            index_id=index_id,
            unit_code=unit_code,
            rule=rule,
            outcome=outcome,
            reason=reason,
            source=source,
            decided_by=username,
            decided_at=dt.datetime.now(dt.UTC),
        )
    )
    await record(username, action, detail)


async def decide(
    wave_id: int,
    unit_code: str,
    *,
    index_id: str,
    outcome: str,
    reason: str,
    username: str,
    roles: tuple[str, ...] | None = None,
) -> PendingReview:
    """Confirm (维持) or withdraw (撤销) the flagged or held sanction of ``unit_code`` for
    ``index_id`` in a computed, unpublished wave. ``roles`` None: the command line (the
    operator); otherwise one of them must be in the policy's ``reviewers``. ``ComputeError``
    (Chinese) says what is wrong; nothing is stored then."""
    decision = OUTCOMES.get(outcome.strip())
    if decision is None:
        raise ComputeError(f"复核结论「{outcome}」无效：应为 维持 或 撤销")
    reason = reason.strip()
    if not reason:
        raise ComputeError("请写明复核理由（维持或撤销的依据）")
    if len(reason) > REASON_MAX:
        raise ComputeError(f"复核理由最长 {REASON_MAX} 字")
    wave = await wave_by_id(wave_id)
    if wave.status == "published":
        raise ComputeError(
            f"测评期 {wave.month} 已发布：已发布的处理只能通过申诉（survey appeal add）改变"
        )
    if roles is not None:
        policy = await wave_policy(wave, recorded=True)
        if not set(roles) & set(policy.reviewers):
            allowed = "、".join(policy.reviewers)
            raise ComputeError(f"您的角色不能复核处理；本办法允许复核的角色：{allowed}")
    async with write_transaction():
        await lock_row(Wave, wave.id)
        row = (
            await IndexResult.select(IndexResult.id, IndexResult.sanctions)
            .where(
                (IndexResult.wave == wave.id)
                & (IndexResult.index_id == index_id)
                & (IndexResult.unit_code == unit_code)
                & IndexResult.sanctions.like("%review%")
            )
            .first()
        )
        sanctions = json.loads(row["sanctions"]) if row else []
        target = next(
            (s for s in sanctions if s.get("review") in ("flagged", "held", *OUTCOME_NAMES)),
            None,
        )
        if row is None or target is None:
            raise ComputeError(
                f"测评期 {wave.month} 中单位 {unit_code} 的指标 {index_id} 没有待复核或提请复核的处理"
            )
        await record_decision(
            wave.id,
            index_id,
            unit_code,
            rule=str(target.get("rule", "")),
            outcome=decision,
            reason=reason,
            source="review",
            username=username,
            action="results.review",
            detail=f"wave={wave.id} {wave.month} {index_id} {unit_code} "
            f"rule={target.get('rule', '')} {decision} reason={reason}",
        )
    draw_ahead(wave.id)  # a decision is a new revision of the stored results
    return next(
        p
        for p in await reviews_for_wave(wave.id)
        if p.unit_code == unit_code and p.index_id == index_id
    )
