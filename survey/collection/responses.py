"""Responses: start an interview, store answers page by page, complete it exactly once.

Used by the residents' web pages (mode ``"web"``, one response per invitation) and reusable for
telephone interviews (mode ``"phone"`` with ``interviewer_id`` set, with or without an
invitation). The guarantees live in the database:

- at most one response per invitation: a unique constraint on ``response.invitation`` and an
  ``INSERT … ON CONFLICT DO NOTHING`` when starting, so two tabs starting at once share a row;
- exactly one completion: ``complete_response`` updates the row only ``WHERE status =
  'in_progress'`` — on PostgreSQL one statement (a CTE that also marks the invitation; the row
  lock makes concurrent callers wait and then match nothing), on SQLite inside a ``BEGIN
  IMMEDIATE`` transaction — so of 50 simultaneous final submits one completes and the rest see
  it completed;
- answers are only written while the response is in progress (a replayed page never changes a
  completed interview).

Every response records the instrument id, version and content hash it was answered with — of
the instrument as shipped (``default_instruments()[id]``, the file), not of its
``with_departments`` form: department names are registry data, and web and phone interviews of
one wave must record the same identity. Pass that instrument to ``start_response``,
``complete_response`` and ``ensure_instrument_frozen``;
``ensure_instrument_frozen`` refuses an instrument whose content changed under the same version
while the wave has responses with it (an instrument in use is versioned, never edited).

API
---
``find_invitation(token) -> InvitationRecord | None`` (timing-safe lookup by hash),
``find_link(token) -> (InvitationRecord, ResponseRecord | None) | None`` (the same, with the
response and the wave's status, in one query),
``link_problem(invitation, now) -> str | None`` (``"expired"``, ``"revoked"``, ``"phone"`` (moved
to the telephone campaign) or None),
``response_for_invitation(invitation_id) -> ResponseRecord | None``,
``get_response(response_id) -> ResponseRecord | None``,
``start_response(*, wave_id, instrument, mode="web", invitation_id=None, interviewer_id=None,
stratum="", design_weight=None, non_probability=False, current_page=0, now=None) ->
ResponseRecord``,
``save_answers(response_id, answers, current_page, *, community_id=UNCHANGED, now=None) ->
bool``,
``complete_response(response_id, answers, instrument, *, status="completed", community_id=
UNCHANGED, now=None) -> bool`` (True only for the call that completed it; checks the instrument
is frozen first and stores the weighting codes of ``questionnaires.demographics``),
``ensure_instrument_frozen(wave_id, instrument)`` (raises ``InstrumentChanged``),
``community_id(code) -> int | None`` (the registry id of a community code),
``set_response_weights(response_ids, weight)`` (a release's new design weight, for the CATI
cases' responses), ``end_unfinished(response_id, status, now)`` (an interview ended by another
call outcome: ``partial`` or ``screened_out``).
Times are timezone-aware UTC datetimes; ``duration_seconds`` is whole seconds from start to
completion.
"""

from __future__ import annotations

import datetime
import functools
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from piccolo.engine.postgres import PostgresEngine

from questionnaires import Instrument
from questionnaires.demographics import demographic_codes
from survey.collection import dispositions
from survey.collection.invitations import TOKEN_PATTERN, token_hash
from survey.collection.tables import Invitation, Response
from survey.db import is_postgres, write_transaction
from survey.db.tables import Unit


class Unchanged:
    """The type of ``UNCHANGED``: a column the caller leaves as stored."""


UNCHANGED: Final = Unchanged()
OPEN_STATUSES = ("pending", "started")


class InstrumentChanged(Exception):
    """The instrument's content changed while its version is in use in the wave."""


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    """An invitation as the web pages need it (no phone number: that lives in ``Contact``)."""

    id: int
    wave_id: int
    instrument_id: str
    expires_at: datetime.datetime
    status: str
    stratum: str
    design_weight: float | None
    open_link: bool
    wave_open: bool = True  # the wave is collecting (read with the link, never cached)


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One stored interview. ``answers`` maps item ids (and unit level ids) to answers;
    ``current_page`` is the index of the next screen to show (web) or block (phone)."""

    id: int
    wave_id: int
    invitation_id: int | None
    mode: str
    status: str
    answers: dict[str, Any]
    current_page: int
    community_id: int | None
    instrument_id: str
    instrument_version: str
    instrument_hash: str
    started_at: datetime.datetime
    completed_at: datetime.datetime | None
    duration_seconds: int | None


_RESPONSE_COLUMNS = (
    Response.id,
    Response.wave,
    Response.invitation,
    Response.mode,
    Response.status,
    Response.answers,
    Response.current_page,
    Response.community,
    Response.instrument_id,
    Response.instrument_version,
    Response.instrument_hash,
    Response.started_at,
    Response.completed_at,
    Response.duration_seconds,
)


def _utc(value: datetime.datetime) -> datetime.datetime:
    # SQLite hands back naive datetimes; they were written as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


def _record(row: Mapping[str, Any]) -> ResponseRecord:
    answers = json.loads(row["answers"] or "{}")
    return ResponseRecord(
        id=int(row["id"]),
        wave_id=int(row["wave"]),
        invitation_id=row["invitation"],
        mode=row["mode"],
        status=row["status"],
        answers=answers if isinstance(answers, dict) else {},
        current_page=int(row["current_page"]),
        community_id=row["community"],
        instrument_id=row["instrument_id"],
        instrument_version=row["instrument_version"],
        instrument_hash=row["instrument_hash"],
        started_at=_utc(row["started_at"]),
        completed_at=_utc(row["completed_at"]) if row["completed_at"] else None,
        duration_seconds=row["duration_seconds"],
    )


async def find_invitation(token: str) -> InvitationRecord | None:
    """The invitation of a link token, or None for a malformed or unknown token.

    The lookup is by the token's SHA-256, so response time does not depend on how much of a
    guessed token is right; the stored hash is compared again in constant time."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    wanted = token_hash(token)
    row = (
        await Invitation.select(
            Invitation.id,
            Invitation.wave,
            Invitation.token_hash,
            Invitation.instrument_id,
            Invitation.expires_at,
            Invitation.status,
            Invitation.stratum,
            Invitation.design_weight,
            Invitation.open_link,
        )
        .where(Invitation.token_hash == wanted)
        .first()
    )
    if row is None or not hmac.compare_digest(row["token_hash"], wanted):
        return None
    return InvitationRecord(
        id=int(row["id"]),
        wave_id=int(row["wave"]),
        instrument_id=row["instrument_id"],
        expires_at=_utc(row["expires_at"]),
        status=row["status"],
        stratum=row["stratum"],
        design_weight=row["design_weight"],
        open_link=bool(row["open_link"]),
    )


_LINK_SQL = (
    "SELECT i.id AS inv_id, i.wave AS inv_wave, i.token_hash, i.instrument_id AS inv_instrument,"
    " i.expires_at, i.status AS inv_status, i.stratum AS inv_stratum,"
    " i.design_weight AS inv_weight, i.open_link, r.id, r.wave, r.invitation, r.mode, r.status,"
    " r.answers, r.current_page, r.community, r.instrument_id, r.instrument_version,"
    " r.instrument_hash, r.started_at, r.completed_at, r.duration_seconds,"
    " w.status AS wave_status"
    " FROM invitation i JOIN wave w ON w.id = i.wave"
    " LEFT JOIN response r ON r.invitation = i.id WHERE i.token_hash = {}"
)


@functools.lru_cache(maxsize=32)
def _numbered(sql: str) -> str:
    """Piccolo's ``{}`` placeholders as PostgreSQL's ``$1, $2, …``."""
    counter = iter(range(1, 1000))
    return re.sub(r"\{\}", lambda _: f"${next(counter)}", sql)


async def _raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a raw query written with ``{}`` placeholders (a fresh dict per row).

    On PostgreSQL outside a transaction the statement goes straight to the engine's asyncpg
    pool (the same pool and connections Piccolo uses): the two statements of a final submit
    then skip Piccolo's query compilation and row conversion (≈ 5–10 % of the request's CPU in
    a py-spy profile; docs/benchmarks.md, submit). Inside a Piccolo transaction, or on SQLite,
    Piccolo runs it, so it joins the transaction."""
    engine = Response._meta.db
    if (
        isinstance(engine, PostgresEngine)
        and engine.pool is not None
        and engine.current_transaction.get() is None
    ):
        async with engine.pool.acquire() as connection:
            return [dict(row) for row in await connection.fetch(_numbered(sql), *args)]
    return [dict(row) for row in await Response.raw(sql, *args)]


async def find_link(token: str) -> tuple[InvitationRecord, ResponseRecord | None] | None:
    """The invitation of a link token and its response (if started), in one query; None for a
    malformed or unknown token. Same timing-safe lookup as ``find_invitation``."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    wanted = token_hash(token)
    rows = await _raw(_LINK_SQL, wanted)
    if not rows or not hmac.compare_digest(rows[0]["token_hash"], wanted):
        return None
    row = rows[0]
    invitation = InvitationRecord(
        id=int(row["inv_id"]),
        wave_id=int(row["inv_wave"]),
        instrument_id=row["inv_instrument"],
        expires_at=_utc(_as_datetime(row["expires_at"])),
        status=row["inv_status"],
        stratum=row["inv_stratum"],
        design_weight=row["inv_weight"],
        open_link=bool(row["open_link"]),
        wave_open=row["wave_status"] == "collecting",
    )
    if row["id"] is None:
        return invitation, None
    for key in ("started_at", "completed_at"):
        row[key] = _as_datetime(row[key])
    return invitation, _record(row)


def _as_datetime(value: Any) -> Any:
    # Raw queries on SQLite may hand back ISO text for timestamp columns.
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value


def link_problem(invitation: InvitationRecord, now: datetime.datetime) -> str | None:
    """Why a link that has no completed response cannot be used: ``"revoked"``, ``"phone"``
    (the invitation became a case of the telephone campaign), ``"expired"`` (past
    ``expires_at`` or the invitation was marked expired), else None."""
    if invitation.status == "revoked":
        return "revoked"
    if invitation.status == "phone":
        return "phone"
    if invitation.status == "expired" or now >= invitation.expires_at:
        return "expired"
    return None


async def response_for_invitation(invitation_id: int) -> ResponseRecord | None:
    """The response of an invitation (there is at most one), or None."""
    row = (
        await Response.select(*_RESPONSE_COLUMNS)
        .where(Response.invitation == invitation_id)
        .first()
    )
    return _record(row) if row else None


async def get_response(response_id: int) -> ResponseRecord | None:
    """A response by id, or None."""
    row = await Response.select(*_RESPONSE_COLUMNS).where(Response.id == response_id).first()
    return _record(row) if row else None


# (wave, instrument id, version, hash) already checked in this process: a file cannot change
# under a running process (instruments are loaded once), so a passed check stays passed.
_FROZEN_OK: set[tuple[int, str, str, str]] = set()


async def ensure_instrument_frozen(wave_id: int, instrument: Instrument) -> None:
    """Raise ``InstrumentChanged`` if the wave has responses with this instrument id and version
    but another content hash (the file was edited without raising its version)."""
    key = (wave_id, instrument.id, str(instrument.version), instrument.content_hash)
    if key in _FROZEN_OK:
        return
    rows = (
        await Response.select(Response.instrument_hash)
        .where(
            (Response.wave == wave_id)
            & (Response.instrument_id == instrument.id)
            & (Response.instrument_version == str(instrument.version))
            & (Response.instrument_hash != instrument.content_hash)
        )
        .first()
    )
    if rows is not None:
        raise InstrumentChanged(
            f"问卷 {instrument.id} 第 {instrument.version} 版的内容与本测评期已收集的答卷不一致"
            f"（已用 {rows['instrument_hash'][:12]}，现为 {instrument.short_hash}）："
            "进行中的测评期不能修改问卷，请提高 version 后作为新版本使用"
        )
    _FROZEN_OK.add(key)


async def start_response(
    *,
    wave_id: int,
    instrument: Instrument,
    mode: str = "web",
    invitation_id: int | None = None,
    interviewer_id: int | None = None,
    stratum: str = "",
    design_weight: float | None = None,
    non_probability: bool = False,
    current_page: int = 0,
    now: datetime.datetime | None = None,
) -> ResponseRecord:
    """The in-progress (or finished) response of an invitation, created if there is none.

    ``current_page``: the furthest screen reached, stored with the new row (1 when the resident
    has just consented, so that no second write is needed to leave the intro).

    With an invitation, a concurrent second call returns the same row (unique constraint plus
    ``ON CONFLICT DO NOTHING``) and the invitation becomes ``started``. Without one (a phone
    interview from a case) a new row is created each call: the caller serialises its starts
    (the console locks the case). ``now``: the start time (default: the clock). Raises
    ``InstrumentChanged``.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    await ensure_instrument_frozen(wave_id, instrument)
    row = Response(
        wave=wave_id,
        instrument_id=instrument.id,
        instrument_version=str(instrument.version),
        instrument_hash=instrument.content_hash,
        mode=mode,
        invitation=invitation_id,
        status="in_progress",
        interviewer=interviewer_id,
        stratum=stratum,
        design_weight=design_weight,
        non_probability=non_probability,
        answers="{}",
        current_page=current_page,
        started_at=now,
        updated_at=now,
    )
    async with write_transaction():
        if invitation_id is None:
            inserted = await Response.insert(row).returning(Response.id)
            response_id = int(inserted[0]["id"])
        else:
            await Response.insert(row).on_conflict(target=Response.invitation, action="DO NOTHING")
            await Invitation.update({Invitation.status: "started"}).where(
                (Invitation.id == invitation_id) & (Invitation.status == "pending")
            )
            await dispositions.record_event(invitation_id, dispositions.CONSENT)
            found = (
                await Response.select(Response.id)
                .where(Response.invitation == invitation_id)
                .first()
            )
            assert found is not None  # inserted above or by the concurrent caller
            response_id = int(found["id"])
    record = await get_response(response_id)
    assert record is not None
    return record


def _answers_json(answers: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: list(v) if isinstance(v, tuple) else v for k, v in answers.items()},
        ensure_ascii=False,
        sort_keys=True,
    )


async def save_answers(
    response_id: int,
    answers: Mapping[str, Any],
    current_page: int,
    *,
    community_id: int | Unchanged | None = UNCHANGED,
    now: datetime.datetime | None = None,
) -> bool:
    """Replace the stored answers and the position of an in-progress response.

    Returns False (and writes nothing) when the response is no longer in progress."""
    values: dict[Any, Any] = {
        Response.answers: _answers_json(answers),
        Response.current_page: current_page,
        Response.updated_at: now or datetime.datetime.now(datetime.UTC),
    }
    if not isinstance(community_id, Unchanged):
        values[Response.community] = community_id
    async with write_transaction():
        updated = (
            await Response.update(values)
            .where((Response.id == response_id) & (Response.status == "in_progress"))
            .returning(Response.id)
        )
    return bool(updated)


async def community_id(code: str) -> int | None:
    """The registry id of the unit with ``code`` (the community an interview is attributed to),
    read when the answer is stored; None for an unknown code."""
    row = await Unit.select(Unit.id).where(Unit.code == code).first()
    return int(row["id"]) if row else None


async def set_response_weights(response_ids: Sequence[int], weight: float) -> None:
    """The design ``weight`` a release gave onto these responses (CATI's ``reweigh_cases``,
    inside the release's transaction)."""
    for start in range(0, len(response_ids), 500):
        await Response.update({Response.design_weight: weight}).where(
            Response.id.is_in(list(response_ids[start : start + 500]))
        )


async def end_unfinished(response_id: int, status: str, now: datetime.datetime) -> None:
    """An interview begun and then ended by another call outcome keeps its answers as a
    ``partial`` (break-off) or ``screened_out`` record, never deleted; a finished one is left."""
    if status not in ("partial", "screened_out"):
        raise ValueError(f"not an unfinished status: {status}")
    await Response.update({Response.status: status, Response.updated_at: now}).where(
        (Response.id == response_id) & (Response.status == "in_progress")
    )


async def complete_response(
    response_id: int,
    answers: Mapping[str, Any],
    instrument: Instrument,
    *,
    status: str = "completed",
    community_id: int | Unchanged | None = UNCHANGED,
    now: datetime.datetime | None = None,
) -> bool:
    """Finish an in-progress response with its final answers (``status`` ``"completed"``, or
    ``"screened_out"`` / ``"partial"`` / ``"void"``), record completion time and duration, and
    mark its invitation completed.

    Returns True for the one call that finished it and False for every other (already finished
    or unknown): the update only matches ``status = 'in_progress'`` inside a write transaction.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    if is_postgres():
        return await _complete_postgres(response_id, answers, instrument, status, community_id, now)
    current = (
        await Response.select(Response.started_at, Response.invitation)
        .where(Response.id == response_id)
        .first()
    )
    if current is None:
        return False
    duration = max(0, round((now - _utc(current["started_at"])).total_seconds()))
    sex, age_group = demographic_codes(instrument, answers)
    values: dict[Any, Any] = {
        Response.status: status,
        Response.answers: _answers_json(answers),
        Response.instrument_id: instrument.id,
        Response.instrument_version: str(instrument.version),
        Response.instrument_hash: instrument.content_hash,
        Response.sex: sex,
        Response.age_group: age_group,
        Response.completed_at: now,
        Response.duration_seconds: duration,
        Response.updated_at: now,
    }
    if not isinstance(community_id, Unchanged):
        values[Response.community] = community_id
    async with write_transaction():
        if current["invitation"] is not None and await Invitation.exists().where(
            (Invitation.id == current["invitation"]) & (Invitation.status == "phone")
        ):
            return False  # moved to the telephone campaign first: the phone case survives
        updated = (
            await Response.update(values)
            .where((Response.id == response_id) & (Response.status == "in_progress"))
            .returning(Response.id)
        )
        if updated and current["invitation"] is not None:
            await Invitation.update({Invitation.status: "completed"}).where(
                Invitation.id == current["invitation"]
            )
            kind = dispositions.RESPONSE_EVENTS.get(status)
            if kind is not None:
                await dispositions.record_event(
                    current["invitation"], kind, at=now.replace(microsecond=0)
                )
    return bool(updated)


async def _complete_postgres(
    response_id: int,
    answers: Mapping[str, Any],
    instrument: Instrument,
    status: str,
    community_id: int | Unchanged | None,
    now: datetime.datetime,
) -> bool:
    """``complete_response`` as one statement: the response update and the invitation update
    commit together, and the row lock of the first makes concurrent callers wait and then find
    the status no longer ``in_progress`` (one round trip instead of five)."""
    sex, age_group = demographic_codes(instrument, answers)
    args: list[Any] = [
        status, _answers_json(answers), instrument.id, str(instrument.version),
        instrument.content_hash, sex, age_group, now, now, now,
    ]  # fmt: skip
    community_sql = ""
    if not isinstance(community_id, Unchanged):
        community_sql = ", community = {}"
        args.append(community_id)
    kind = dispositions.RESPONSE_EVENTS.get(status)
    args = [response_id, *args, response_id, kind if kind is not None else 0]
    event_sql = ""
    if kind is not None:
        event_sql = (
            " event AS (INSERT INTO invitation_event (invitation, kind, seq, at, detail)"
            " SELECT invitation, {}::smallint, 0, {}::timestamptz, '' FROM done"
            " WHERE invitation IS NOT NULL ON CONFLICT (invitation, kind, seq) DO NOTHING"
            " RETURNING id),"
        )
        args += [kind, now]
    # ``link`` locks the invitation row first (unless it moved to the telephone campaign): a
    # concurrent web → phone switch either waits for this statement and then finds the
    # invitation completed, or commits first and this statement finds no unlocked row to use.
    sql = (
        "WITH link AS (SELECT id FROM invitation WHERE id = (SELECT invitation FROM response"
        " WHERE id = {}) AND status <> 'phone' FOR UPDATE),"
        " done AS (UPDATE response SET status = {}, answers = {}, instrument_id = {},"
        " instrument_version = {}, instrument_hash = {}, sex = {}, age_group = {},"
        " completed_at = {}, duration_seconds = GREATEST(0, ROUND(EXTRACT(EPOCH FROM"
        " ({}::timestamptz - started_at))))::integer, updated_at = {}" + community_sql +
        " WHERE id = {} AND status = 'in_progress'"
        " AND (invitation IS NULL OR invitation IN (SELECT id FROM link)) RETURNING invitation),"
        " marked AS (UPDATE invitation SET status = 'completed',"
        " disposition = GREATEST(disposition, {}::smallint)"
        " WHERE id IN (SELECT invitation FROM done) RETURNING id)," + event_sql +
        " stop AS (SELECT 1)"
        " SELECT count(*) AS n FROM done"
    )  # fmt: skip
    rows = await _raw(sql, *args)
    return bool(rows and rows[0]["n"])
