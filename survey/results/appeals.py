"""Appeals (申诉) against the sanctions of a published wave.

* :func:`add_appeal` — records an appeal of a sanctioned unit (unit, grounds, date, who entered
  it) against its sanction in a published wave (``appeal.add`` in the audit log).
* :func:`decide_appeal` — the committee's decision: 维持 (the sanction stands), 撤销 (withdrawn)
  or 变更 (changed to another level, ``to_level``), with a reason. A decision that changes the
  sanction is stored as a ``SanctionDecision`` (source ``appeal``) and applied as a **new
  revision** of the wave through the one revision mechanism (``revisions.revise_wave``, then
  published): the ladder, the report and the exports follow the decided outcome and the original
  revision stays readable. Later computed waves of the programme are recomputed the same way, so
  their escalations follow it (a withdrawn sanction does not count toward the next step).
  Audited as ``appeal.decide``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from survey.db import lock_row, write_transaction
from survey.db.tables import Wave
from survey.ranking.records import LEVEL_NAMES, SANCTION_LEVELS
from survey.results.compute import ComputeError, compute_wave, wave_by_id
from survey.results.report import draw_ahead
from survey.results.review import record_decision
from survey.results.tables import Appeal, IndexResult, ResultRun

OUTCOMES = ("维持", "撤销", "变更")
TEXT_MAX = 1000
LEVEL_CODES: dict[str, str] = {name: code for code, name in LEVEL_NAMES.items()}
LEVEL_CODES.update({str(c): str(c) for c in SANCTION_LEVELS})


@dataclass(frozen=True)
class AppealInfo:
    """One appeal as the list and the pages show it."""

    id: int
    wave_id: int
    month: str
    index_id: str
    unit_code: str
    unit_name: str
    level: str
    grounds: str
    entered_by: str
    entered_at: dt.datetime
    outcome: str
    to_level: str
    reason: str
    decided_by: str
    decided_at: dt.datetime | None
    revision: int | None

    @property
    def level_name(self) -> str:
        return str(LEVEL_NAMES.get(self.level, self.level))

    @property
    def to_level_name(self) -> str:
        return LEVEL_NAMES.get(self.to_level, self.to_level)

    @property
    def decided(self) -> bool:
        return bool(self.outcome)


def _info(r: dict[str, object]) -> AppealInfo:
    return AppealInfo(
        id=int(r["id"]),  # type: ignore[call-overload]
        wave_id=int(r["wave"]),  # type: ignore[call-overload]
        month=str(r["month"]),
        index_id=str(r["index_id"]),
        unit_code=str(r["unit_code"]),
        unit_name=str(r["unit_name"]),
        level=str(r["level"]),
        grounds=str(r["grounds"]),
        entered_by=str(r["entered_by"]),
        entered_at=r["entered_at"],  # type: ignore[arg-type]
        outcome=str(r["outcome"]),
        to_level=str(r["to_level"]),
        reason=str(r["reason"]),
        decided_by=str(r["decided_by"]),
        decided_at=r["decided_at"],  # type: ignore[arg-type]
        revision=r["revision"],  # type: ignore[arg-type]
    )


async def list_appeals(wave_id: int | None = None) -> list[AppealInfo]:
    """Appeals (of one wave, or all), newest first."""
    query = Appeal.select(*Appeal.all_columns(), Appeal.wave.month.as_alias("month"))
    if wave_id is not None:
        query = query.where(Appeal.wave == wave_id)
    return sorted((_info(r) for r in await query), key=lambda a: -a.id)


async def get_appeal(appeal_id: int) -> AppealInfo:
    rows = await Appeal.select(*Appeal.all_columns(), Appeal.wave.month.as_alias("month")).where(
        Appeal.id == appeal_id
    )
    if not rows:
        raise ComputeError(f"没有编号为 {appeal_id} 的申诉")
    return _info(rows[0])


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise ComputeError(f"请写明{what}")
    if len(value) > TEXT_MAX:
        raise ComputeError(f"{what}最长 {TEXT_MAX} 字")
    return value


async def add_appeal(
    wave_id: int, unit_code: str, *, grounds: str, username: str, index_id: str | None = None
) -> AppealInfo:
    """Record an appeal of ``unit_code`` against its sanction in the published wave."""
    grounds = _text(grounds, "申诉理由")
    wave = await wave_by_id(wave_id)
    if wave.status != "published":
        raise ComputeError(f"测评期 {wave.month} 尚未发布：申诉针对已发布的处理")
    rows = await IndexResult.select(
        IndexResult.index_id, IndexResult.unit_name, IndexResult.sanctions
    ).where((IndexResult.wave == wave.id) & (IndexResult.unit_code == unit_code))
    sanctioned = [
        (r, s)
        for r in rows
        for s in json.loads(r["sanctions"] or "[]")
        if (index_id is None or r["index_id"] == index_id) and s.get("review") != "withdrawn"
    ]
    if not sanctioned:
        raise ComputeError(f"测评期 {wave.month} 中单位 {unit_code} 没有可申诉的处理")
    if len(sanctioned) > 1:
        names = "、".join(r["index_id"] for r, _s in sanctioned)
        raise ComputeError(f"单位 {unit_code} 有 {len(sanctioned)} 项处理（{names}），请指明指标")
    row, sanction = sanctioned[0]
    async with write_transaction():
        await lock_row(Wave, wave.id)
        open_ = await Appeal.exists().where(
            (Appeal.wave == wave.id)
            & (Appeal.unit_code == unit_code)
            & (Appeal.index_id == row["index_id"])
            & (Appeal.outcome == "")
        )
        if open_:
            raise ComputeError(f"单位 {unit_code} 对这项处理已有待决定的申诉")
        inserted = await Appeal.insert(
            Appeal(
                wave=wave.id,
                index_id=row["index_id"],
                unit_code=unit_code,
                unit_name=row["unit_name"],
                rule=str(sanction.get("rule", "")),
                level=sanction["level"],
                grounds=grounds,
                entered_by=username,
                entered_at=dt.datetime.now(dt.UTC),
            )
        ).returning(Appeal.id)
        appeal_id = int(inserted[0]["id"])
        # Until decided, the sanction is 申诉中 (review state ``appealed``; it still counts).
        await record_decision(
            wave.id,
            row["index_id"],
            unit_code,
            rule=str(sanction.get("rule", "")),
            outcome="appealed",
            reason=f"申诉 {appeal_id}：{grounds}",
            source="appeal",
            username=username,
            action="appeal.add",
            detail=f"appeal={appeal_id} wave={wave.id} {wave.month} {row['index_id']} "
            f"{unit_code} {sanction['level']} grounds={grounds}",
        )
    draw_ahead(wave.id)  # 申诉中 beside the sanction: a new revision of the stored results
    return await get_appeal(appeal_id)


async def decide_appeal(
    appeal_id: int, *, outcome: str, reason: str, username: str, to_level: str | None = None
) -> AppealInfo:
    """Decide an appeal (维持 / 撤销 / 变更 ``to_level``); 撤销 and 变更 become a new revision of
    the wave (and of the programme's later computed waves)."""
    from survey.results.publishing import set_status
    from survey.results.revisions import revise_wave

    if outcome not in OUTCOMES:
        raise ComputeError(f"申诉决定「{outcome}」无效：应为 维持、撤销 或 变更")
    reason = _text(reason, "决定理由")
    appeal = await get_appeal(appeal_id)
    if appeal.decided:
        raise ComputeError(
            f"申诉 {appeal_id} 已于 {appeal.decided_at:%Y-%m-%d} 决定（{appeal.outcome}）"
        )
    level = ""
    if outcome == "变更":
        level = LEVEL_CODES.get((to_level or "").strip(), "")
        if not level:
            choices = "、".join(LEVEL_NAMES[c] for c in SANCTION_LEVELS)
            raise ComputeError(f"变更须用 --to 指明新的处理（{choices}）")
        if level == appeal.level:
            raise ComputeError("变更后的处理与原处理相同；请用「维持」")
    decision = {"维持": "confirmed", "撤销": "withdrawn", "变更": f"changed:{level}"}[outcome]
    wave = await wave_by_id(appeal.wave_id)
    async with write_transaction():
        await lock_row(Wave, wave.id)
        moved = (
            await Appeal.update(
                {
                    Appeal.outcome: outcome,
                    Appeal.to_level: level,
                    Appeal.reason: reason,
                    Appeal.decided_by: username,
                    Appeal.decided_at: dt.datetime.now(dt.UTC),
                }
            )
            .where((Appeal.id == appeal_id) & (Appeal.outcome == ""))
            .returning(Appeal.id)
        )
        if not moved:
            raise ComputeError(f"申诉 {appeal_id} 刚被他人决定，请刷新后查看")
        rule = (await Appeal.select(Appeal.rule).where(Appeal.id == appeal_id).first() or {}).get(
            "rule", ""
        )
        # 维持 is marked beside the stored sanction now; 撤销 and 变更 arrive with the revision.
        await record_decision(
            wave.id,
            appeal.index_id,
            appeal.unit_code,
            rule=str(rule),
            outcome=decision,
            reason=f"申诉 {appeal_id}：{reason}",
            source="appeal",
            username=username,
            action="appeal.decide",
            detail=f"appeal={appeal_id} wave={wave.id} {wave.month} {appeal.unit_code} {outcome}"
            f"{' ' + level if level else ''} reason={reason}",
            mark_stored=outcome == "维持",
        )
    if outcome == "维持":
        draw_ahead(wave.id)  # marked beside the sanction: a new revision of the stored results
        return await get_appeal(appeal_id)
    # 撤销 and 变更: the correction's publication and the later waves' recomputation below draw
    # their reports ahead (the decision alone would draw a revision about to be replaced)
    words = f"申诉 {appeal_id}（{appeal.unit_name}）{outcome}" + (
        f"为{LEVEL_NAMES[level]}" if level else ""
    )
    summary = await revise_wave(wave.id, reason=f"{words}：{reason}", username=username)
    await set_status(wave.id, "published", username=username)
    await Appeal.update({Appeal.revision: summary.number}).where(Appeal.id == appeal_id)
    # The programme's later computed waves follow (their escalations count the decision).
    later = (
        await Wave.select(Wave.id, Wave.status)
        .where((Wave.programme == wave.programme_id) & (Wave.month > wave.month))
        .order_by(Wave.month)
    )
    for w in later:
        if not await ResultRun.exists().where(ResultRun.wave == w["id"]):
            continue
        if w["status"] == "published":
            await revise_wave(
                w["id"], reason=f"{words}，后续各期预警随之重算：{reason}", username=username
            )
            await set_status(w["id"], "published", username=username)
        else:
            await compute_wave(w["id"], username=username)
    return await get_appeal(appeal_id)
