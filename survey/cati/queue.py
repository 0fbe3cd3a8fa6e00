"""The call queue in the database: hand a pollster the next case, atomically.

Same order as ``survey.cati.selection.pick_case`` (see there). On PostgreSQL the hand-out is
one statement: candidate rows are locked with ``FOR UPDATE SKIP LOCKED`` (a concurrent pollster
skips them and takes the next) and the chosen one is marked held, atomically; on SQLite
``BEGIN IMMEDIATE`` serialises the hand-outs. Holding a case sets ``held_by`` and moves ``next_call_at`` to the hold's expiry, so a
case whose pollster disappeared returns to the queue by itself after ``hold_minutes``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from survey import waves
from survey.cati.cases import CatiError, utc_now, whole_seconds
from survey.cati.selection import CallingHours, QueuePolicy, StratumProgress, stratum_order
from survey.cati.tables import Campaign, Case
from survey.db import is_postgres, write_transaction


@dataclass(frozen=True, slots=True)
class CampaignRules:
    """A campaign's id, wave, status and queue policy."""

    id: int
    wave_id: int
    status: str
    policy: QueuePolicy
    hold: dt.timedelta


@dataclass(frozen=True, slots=True)
class Assignment:
    """The case handed to a pollster (``resumed``: it already held it), or ``case_id`` None with
    the Chinese ``reason`` why there is nothing to call."""

    case_id: int | None
    resumed: bool = False
    reason: str = ""


def rules_from_row(row: dict[str, Any]) -> CampaignRules:
    """Campaign rules from a ``cati_campaign`` row (raises ``CallingHoursError`` if malformed)."""
    hours = CallingHours.parse(
        row["calling_windows"], row["timezone"], row["excluded_weekdays"], row["excluded_dates"]
    )
    return CampaignRules(
        id=int(row["id"]),
        wave_id=int(row["wave"]),
        status=row["status"],
        policy=QueuePolicy(hours=hours, max_attempts=int(row["max_attempts"])),
        hold=dt.timedelta(minutes=int(row["hold_minutes"])),
    )


async def campaign_rules(campaign_id: int) -> CampaignRules:
    """The rules of a campaign; ``CatiError`` if it does not exist."""
    row = await Campaign.select().where(Campaign.id == campaign_id).first()
    if row is None:
        raise CatiError(f"呼叫任务 {campaign_id} 不存在")
    return rules_from_row(row)


async def stratum_progress(campaign_id: int, wave_id: int) -> list[StratumProgress]:
    """Completes and targets of every stratum of the campaign (targets from the wave's
    ``stratum_target``)."""
    rows = await Case.raw(
        "SELECT s.stratum AS stratum, s.completes AS completes, t.target AS target "
        "FROM cati_stratum s LEFT JOIN stratum_target t "
        "ON t.wave = {} AND t.stratum = s.stratum WHERE s.campaign = {}",
        wave_id,
        campaign_id,
    )
    return [
        StratumProgress(
            r["stratum"], int(r["completes"]), None if r["target"] is None else int(r["target"])
        )
        for r in rows
    ]


async def _wave_refusal(wave_id: int) -> str:
    """Why the wave's campaigns make no calls now (its status does not allow interviews: a
    closed wave pauses its campaigns, reopening resumes them), or ``""``."""
    try:
        await waves.require(wave_id, "interview")
    except waves.WaveError as exc:
        return str(exc)
    return ""


def _placeholders(n: int) -> str:
    return ", ".join(["{}"] * n)


async def next_case(
    campaign_id: int, pollster_id: int, now: dt.datetime | None = None
) -> Assignment:
    """Hand ``pollster_id`` the next case of the campaign at ``now`` (default: the clock).

    A pollster already holding a case gets it back (``resumed``). Returns an ``Assignment``
    with ``case_id`` None and a reason when the campaign is paused, outside calling hours or
    has nothing to call."""
    now = whole_seconds(now or utc_now())
    if is_postgres():
        return await _next_case_postgres(campaign_id, pollster_id, now)
    # SQLite: BEGIN IMMEDIATE serialises hand-outs; the rules are read in the same transaction.
    async with write_transaction():
        rules = await campaign_rules(campaign_id)
        stopped = await _wave_refusal(rules.wave_id)
        if stopped:
            assignment = Assignment(None, reason=stopped)
        elif rules.status != "running":
            assignment = Assignment(None, reason="该呼叫任务已暂停或已结束")
        elif not rules.policy.hours.allows(now):
            hours = rules.policy.hours.describe()
            assignment = Assignment(None, reason=f"当前不在呼叫时段：{hours}")
        else:
            assignment = await _assign(rules, pollster_id, now)
    return assignment


# One statement on PostgreSQL (atomic on its own): the pollster's current hold, else the first
# due appointment, else the first ready case of the first stratum in ``order`` that has one.
# Candidates are locked with FOR UPDATE SKIP LOCKED, so concurrent statements take other rows.
_PG_HANDOUT = """
WITH held AS (
  SELECT id FROM cati_case WHERE held_by = {} AND campaign = {} AND state = 'open'
  AND next_call_at > {} ORDER BY id LIMIT 1
), due AS (
  SELECT id FROM cati_case WHERE campaign = {} AND state = 'open'
  AND appointment_at IS NOT NULL AND appointment_at <= {} AND next_call_at <= {}
  AND attempts < {} AND (appointment_user IS NULL OR appointment_user = {} OR appointment_at <= {})
  AND stratum = ANY({}::text[]) AND NOT EXISTS (SELECT 1 FROM held)
  ORDER BY appointment_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
), retry AS (
  SELECT x.id FROM unnest({}::text[]) WITH ORDINALITY AS s(name, rank)
  CROSS JOIN LATERAL (
    SELECT id FROM cati_case WHERE campaign = {} AND stratum = s.name AND state = 'open'
    AND appointment_at IS NULL AND next_call_at <= {} AND attempts < {}
    ORDER BY next_call_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
  ) x
  WHERE NOT EXISTS (SELECT 1 FROM held) AND NOT EXISTS (SELECT 1 FROM due)
  ORDER BY s.rank LIMIT 1
), taken AS (
  UPDATE cati_case SET held_by = {}, held_at = {}, next_call_at = {}
  WHERE state = 'open' AND id = (SELECT id FROM due UNION ALL SELECT id FROM retry LIMIT 1)
  RETURNING id
)
SELECT (SELECT id FROM held) AS held, (SELECT id FROM taken) AS taken
"""
# A row changed by a concurrent hand-out between snapshot and lock is skipped, which can leave a
# LIMIT 1 scan empty although other rows qualify: try again before reporting an empty queue.
_PG_TRIES = 3


async def _next_case_postgres(campaign_id: int, pollster_id: int, now: dt.datetime) -> Assignment:
    rules = await campaign_rules(campaign_id)
    stopped = await _wave_refusal(rules.wave_id)
    if stopped:
        return Assignment(None, reason=stopped)
    if rules.status != "running":
        return Assignment(None, reason="该呼叫任务已暂停或已结束")
    if not rules.policy.hours.allows(now):
        return Assignment(None, reason=f"当前不在呼叫时段：{rules.policy.hours.describe()}")
    order = stratum_order(await stratum_progress(campaign_id, rules.wave_id))
    if not order:
        return Assignment(None, reason="所有层的目标样本量均已完成")
    max_attempts = rules.policy.max_attempts
    grace_edge = now - rules.policy.personal_grace
    for _ in range(_PG_TRIES):
        rows = await Case.raw(
            _PG_HANDOUT,
            *(pollster_id, campaign_id, now),
            *(campaign_id, now, now, max_attempts, pollster_id, grace_edge, order),
            *(order, campaign_id, now, max_attempts),
            *(pollster_id, now, now + rules.hold),
        )
        if rows and rows[0]["held"] is not None:
            return Assignment(int(rows[0]["held"]), resumed=True)
        if rows and rows[0]["taken"] is not None:
            return Assignment(int(rows[0]["taken"]))
    return Assignment(None, reason="暂时没有到期可拨的号码，请稍后再试")


async def _assign(rules: CampaignRules, pollster_id: int, now: dt.datetime) -> Assignment:
    campaign_id = rules.id
    held = await Case.raw(
        "SELECT id FROM cati_case WHERE held_by = {} AND campaign = {} AND state = 'open' "
        "AND next_call_at > {} ORDER BY id LIMIT 1",
        pollster_id,
        campaign_id,
        now,
    )
    if held:
        return Assignment(int(held[0]["id"]), resumed=True)
    progress = await stratum_progress(campaign_id, rules.wave_id)
    order = stratum_order(progress)
    if not order:
        return Assignment(None, reason="所有层的目标样本量均已完成")
    case_id: int | None = None
    grace_edge = now - rules.policy.personal_grace
    due = await Case.raw(
        "SELECT id FROM cati_case WHERE campaign = {} AND state = 'open' "
        "AND appointment_at IS NOT NULL AND appointment_at <= {} AND next_call_at <= {} "
        "AND attempts < {} "
        "AND (appointment_user IS NULL OR appointment_user = {} OR appointment_at <= {}) "
        f"AND stratum IN ({_placeholders(len(order))}) "
        "ORDER BY appointment_at, id LIMIT 1",
        campaign_id,
        now,
        now,
        rules.policy.max_attempts,
        pollster_id,
        grace_edge,
        *order,
    )
    if due:
        case_id = int(due[0]["id"])
    else:
        for stratum in order:
            found = await Case.raw(
                "SELECT id FROM cati_case WHERE campaign = {} AND stratum = {} "
                "AND state = 'open' AND appointment_at IS NULL AND next_call_at <= {} "
                "AND attempts < {} ORDER BY next_call_at, id LIMIT 1",
                campaign_id,
                stratum,
                now,
                rules.policy.max_attempts,
            )
            if found:
                case_id = int(found[0]["id"])
                break
    if case_id is None:
        return Assignment(None, reason="暂时没有到期可拨的号码，请稍后再试")
    await Case.raw(
        "UPDATE cati_case SET held_by = {}, held_at = {}, next_call_at = {} WHERE id = {}",
        pollster_id,
        now,
        now + rules.hold,
        case_id,
    )
    return Assignment(case_id)


async def release_case(case_id: int, pollster_id: int) -> bool:
    """Give a held case back to the queue at once, without an attempt (e.g. wrong click)."""
    now = utc_now()
    async with write_transaction():
        updated = (
            await Case.update({Case.held_by: None, Case.held_at: None, Case.next_call_at: now})
            .where((Case.id == case_id) & (Case.held_by == pollster_id) & (Case.state == "open"))
            .returning(Case.id)
        )
    return bool(updated)
