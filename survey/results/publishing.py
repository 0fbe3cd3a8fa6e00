"""Stepping a wave through its statuses 设计 → 采集 → 结束 → 发布 (the rules are in
``survey.waves``), with what publishing needs from the results: a computed ``ResultRun``, no
held sanction left unreviewed, the published results stored as revision 1 (or a pending
correction published)."""

from __future__ import annotations

from survey.audit import record
from survey.db import write_transaction
from survey.db.tables import WAVE_STATUSES, Wave
from survey.results.report import draw_ahead
from survey.results.review import held_sanctions
from survey.results.revisions import publish_pending_revision, record_first_revision
from survey.results.tables import ResultRun
from survey.waves import STATUS_NAMES, TRANSITIONS, WaveError, WaveStep, next_steps


async def _has_results(wave_id: int) -> bool:
    return bool(await ResultRun.exists().where(ResultRun.wave == wave_id))


async def set_status(
    wave_id: int,
    new_status: str,
    *,
    username: str = "",
    limit_to_district: int | None = None,
) -> WaveStep:
    """Move wave ``wave_id`` to ``new_status`` if the rules of ``survey.waves`` allow it.

    ``limit_to_district``: a district-limited user may only step waves of programmes of that
    district (others are reported as not found). Raises ``WaveError`` naming what is wrong.
    A published correction is a new revision of the results: its report is drawn ahead."""
    step = await _step(wave_id, new_status, username, limit_to_district)
    if step.revision is not None:
        draw_ahead(wave_id)
    return step


async def _step(
    wave_id: int, new_status: str, username: str, limit_to_district: int | None
) -> WaveStep:
    if new_status not in WAVE_STATUSES:
        raise WaveError(f"未知状态「{new_status}」（可选: {', '.join(WAVE_STATUSES)}）")
    async with write_transaction():
        query = Wave.select(Wave.id, Wave.month, Wave.status, Wave.programme.region).where(
            Wave.id == wave_id
        )
        wave = await query.first()
        if wave is None or (
            limit_to_district is not None and wave["programme.region"] != limit_to_district
        ):
            raise WaveError(f"没有编号为 {wave_id} 的测评期，或您无权管理")
        old, month = str(wave["status"]), str(wave["month"])
        if old == new_status == "published":
            # Publishing a published wave publishes its pending correction, if there is one.
            number = await publish_pending_revision(wave_id, month, username=username)
            return WaveStep(wave_id, month, old, new_status, number)
        if old == new_status:
            # A repeated click: the step already happened, nothing to do.
            return WaveStep(wave_id, month, old, new_status)
        step = TRANSITIONS.get((old, new_status))
        if step is None:
            allowed = "、".join(f"{name}（{STATUS_NAMES[to]}）" for to, name in next_steps(old))
            raise WaveError(
                f"测评期 {month} 当前为「{STATUS_NAMES.get(old, old)}」，不能改为"
                f"「{STATUS_NAMES[new_status]}」"
                + (f"；可以: {allowed}" if allowed else "；已发布的测评期不能再改变")
            )
        if new_status == "published" and not await _has_results(wave_id):
            raise WaveError(f"测评期 {month} 尚未计算结果，不能发布；请先计算结果")
        if new_status == "published":
            # The policy's review = "hold": every held sanction needs a reviewer's decision.
            held = await held_sanctions(wave_id)
            if held:
                names = "、".join(f"{h.unit_name}（{h.index_name}{h.name}）" for h in held)
                raise WaveError(
                    f"测评期 {month} 有 {len(held)} 项待复核的处理尚未复核，不能发布：{names}；"
                    f"请复核人逐项维持或撤销并写明理由（survey results review {month}，"
                    "或结果页的「复核」）"
                )
        # The status is part of the condition: of two concurrent clicks only one moves the wave.
        moved = (
            await Wave.update({Wave.status: new_status})
            .where((Wave.id == wave_id) & (Wave.status == old))
            .returning(Wave.id)
        )
        if not moved:
            now = await Wave.select(Wave.status).where(Wave.id == wave_id).first()
            if now is not None and now["status"] == new_status:
                return WaveStep(wave_id, month, new_status, new_status)  # a concurrent twin
            raise WaveError(f"测评期 {month} 的状态刚被他人修改，请刷新后重试")
        await record(username, step[0], f"wave={wave_id} {month} {old}→{new_status}")
        if new_status == "published":
            await record_first_revision(wave_id, username=username)
    return WaveStep(wave_id, month, old, new_status)
