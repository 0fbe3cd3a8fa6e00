"""Recording the outcome of a call attempt: one attempt per idempotency key, then what happens
next to the case (retry time, appointment or final disposition) in the same transaction."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from survey import waves
from survey.cati.cases import CatiError, utc_now, whole_seconds
from survey.cati.outcomes import Outcome, case_disposition, outcome_by_code
from survey.cati.queue import campaign_rules
from survey.cati.tables import CallAttempt, Campaign, Case, StratumProgress
from survey.collection.responses import end_unfinished
from survey.collection.tables import Response
from survey.db import is_postgres, write_transaction

MAX_NOTE = 500
MAX_APPOINTMENT_AHEAD = dt.timedelta(days=62)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The recorded attempt, whether it was a repeat of an earlier submission (``duplicate``)
    and the case's state afterwards (``final`` and its AAPOR ``disposition``)."""

    attempt_id: int
    duplicate: bool
    final: bool
    disposition: str


async def record_outcome(
    case_id: int,
    pollster_id: int,
    outcome_code: str,
    idempotency_key: str,
    *,
    now: dt.datetime | None = None,
    appointment_at: dt.datetime | None = None,
    personal: bool = False,
    note: str = "",
) -> AttemptResult:
    """Record one call attempt on a case the pollster holds.

    The same ``idempotency_key`` twice records one attempt (the second call returns the first
    with ``duplicate`` True). Raises ``CatiError`` (Chinese) when the pollster does not hold the
    case, the outcome is unknown or an appointment time is missing or outside calling hours."""
    if not outcome_code:
        raise CatiError("请选择本次拨打结果")
    outcome = outcome_by_code(outcome_code)
    if outcome is None:
        raise CatiError(f"未知的访问结果代码「{outcome_code}」")
    key = idempotency_key.strip()
    if not 8 <= len(key) <= 64:
        raise CatiError("表单缺少有效的提交编号，请刷新页面后重试")
    if len(note) > MAX_NOTE:
        raise CatiError(f"备注不能超过 {MAX_NOTE} 个字")
    now = whole_seconds(now or utc_now())
    async with write_transaction():
        result = await record_attempt(
            case_id, pollster_id, outcome, key, now, appointment_at, personal, note
        )
    return result


PARTIAL_SHARE = 0.5  # a break-off with at least half the asked items answered is a partial (1.2)


async def record_console_outcome(
    case_id: int,
    pollster_id: int,
    outcome_code: str,
    idempotency_key: str,
    *,
    appointment_at: dt.datetime | None = None,
    personal: bool = False,
    note: str = "",
) -> AttemptResult:
    """``record_outcome`` for the console's buttons: outcomes the interview records itself
    (complete, partial, quota full) cannot be posted by hand."""
    outcome = outcome_by_code(outcome_code) if outcome_code else None
    if outcome is not None and not outcome.button:
        raise CatiError(f"“{outcome.label}”由访问流程自动记录，不能手工选择")
    return await record_outcome(
        case_id,
        pollster_id,
        outcome_code,
        idempotency_key,
        appointment_at=appointment_at,
        personal=personal,
        note=note,
    )


async def _answered_share(response_id: int, instrument_id: str) -> float:
    """Share of the asked items (screening excluded) that a response has answered."""
    from questionnaires import default_instruments, visible_items
    from questionnaires.answers import is_answered

    row = await Response.select(Response.answers).where(Response.id == response_id).first()
    instrument = default_instruments().get(instrument_id)
    if row is None or instrument is None:
        return 0.0
    answers = json.loads(row["answers"])
    screening = {it.id for it in instrument.screening.items}
    asked = [it for it in visible_items(instrument, answers) if it.id not in screening]
    if not asked:
        return 0.0
    return sum(1 for it in asked if is_answered(answers.get(it.id))) / len(asked)


async def record_attempt(
    case_id: int,
    pollster_id: int,
    outcome: Outcome,
    key: str,
    now: dt.datetime,
    appointment_at: dt.datetime | None = None,
    personal: bool = False,
    note: str = "",
) -> AttemptResult:
    """``record_outcome`` inside the caller's ``write_transaction`` (the interview records its
    ``complete`` outcome in the transaction that completes the response), arguments checked."""
    # Lock the case first: a concurrent duplicate then waits here and sees the first attempt.
    lock = " FOR UPDATE" if is_postgres() else ""
    rows = await Case.raw(f"SELECT * FROM cati_case WHERE id = {{}}{lock}", case_id)
    if not rows:
        raise CatiError("该号码不存在")
    case = rows[0]
    earlier = await CallAttempt.select(CallAttempt.id, CallAttempt.call_case).where(
        CallAttempt.idempotency_key == key
    )
    if earlier:
        if earlier[0]["call_case"] != case_id:
            raise CatiError("提交编号与号码不符，请刷新页面后重试")
        return AttemptResult(
            int(earlier[0]["id"]), True, case["state"] == "final", case["disposition"]
        )
    if case["state"] != "open" or case["held_by"] != pollster_id:
        raise CatiError("该号码已不在您名下（可能已超时释放或已结案），请取下一个号码")
    rules = await campaign_rules(int(case["campaign"]))
    try:  # a closed wave takes no more outcomes (its status row is read FOR SHARE)
        await waves.require(rules.wave_id, "interview")
    except waves.WaveError as exc:
        raise CatiError(str(exc)) from exc
    if outcome.code == "breakoff" and case["response"] is not None:
        # AAPOR: a break-off after enough of the interview counts as a partial interview.
        campaign = (
            await Campaign.select(Campaign.instrument_id)
            .where(Campaign.id == case["campaign"])
            .first()
        )
        share = await _answered_share(
            int(case["response"]), campaign["instrument_id"] if campaign else ""
        )
        partial = outcome_by_code("partial")
        if share >= PARTIAL_SHARE and partial is not None:
            outcome = partial
    if outcome.action == "appointment":
        if appointment_at is None:
            raise CatiError("预约回访需要填写预约时间")
        appointment_at = whole_seconds(appointment_at)
        if appointment_at <= now:
            raise CatiError("预约时间必须晚于现在")
        if appointment_at > now + MAX_APPOINTMENT_AHEAD:
            raise CatiError("预约时间不能晚于两个月之后")
        if not rules.policy.hours.allows(appointment_at):
            raise CatiError(f"预约时间不在呼叫时段内：{rules.policy.hours.describe()}")
    attempts = int(case["attempts"]) + 1
    disposition = outcome.aapor
    values: dict[str, object] = {
        "attempts": attempts,
        "held_by": None,
        "held_at": None,
        "last_outcome": outcome.code,
        "appointment_at": None,
        "appointment_user": None,
        "next_call_at": now,
    }
    final = outcome.action == "final" or attempts >= rules.policy.max_attempts
    if final:
        if outcome.action != "final":
            # Attempt limit reached: the most informative outcome so far decides.
            history = [
                r["disposition"]
                for r in await CallAttempt.select(CallAttempt.disposition)
                .where(CallAttempt.call_case == case_id)
                .order_by(CallAttempt.id)
            ]
            disposition = case_disposition([*history, outcome.aapor])
        values.update(state="final", disposition=disposition)
    elif outcome.action == "retry":
        values["next_call_at"] = now + dt.timedelta(minutes=outcome.retry_minutes)
    else:
        values["appointment_at"] = appointment_at
        values["appointment_user"] = pollster_id if personal else None
    started = case["held_at"] or now
    result = await CallAttempt.insert(
        CallAttempt(
            call_case=case_id,
            interviewer=pollster_id,
            outcome=outcome.code,
            disposition=outcome.aapor,
            started_at=started,
            ended_at=now,
            note=note.strip(),
            idempotency_key=key,
        )
    ).returning(CallAttempt.id)
    await Case.update({getattr(Case, k): v for k, v in values.items()}).where(Case.id == case_id)
    if final and disposition == "1.1":
        await StratumProgress.update(
            {StratumProgress.completes: StratumProgress.completes + 1}
        ).where(
            (StratumProgress.campaign == case["campaign"])
            & (StratumProgress.stratum == case["stratum"])
        )
    if case["response"] is not None and outcome.code != "complete":
        # An interview begun and then ended by another outcome keeps its answers as a partial
        # (break-off) or a screened-out record, never deleted.
        status = "screened_out" if outcome.category == "NE" else "partial"
        await end_unfinished(int(case["response"]), status, now)
    return AttemptResult(int(result[0]["id"]), False, final, disposition if final else "")
