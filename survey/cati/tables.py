"""Tables of the CATI app: campaigns, cases, call attempts, stratum progress, back-checks.

Composite and partial indexes (the queue's access paths, one campaign per wave and mode) are
created by a raw migration valid on SQLite and PostgreSQL. Times are stored in UTC and whole
seconds, so SQLite's text timestamps compare in time order.
"""

from __future__ import annotations

from piccolo.columns import (
    Float,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from survey.collection.tables import Invitation, Response
from survey.db.tables import AppUser, Wave
from survey.design.tables import SampledElement

CAMPAIGN_STATUSES: tuple[str, ...] = ("running", "paused", "closed")
CASE_STATES: tuple[str, ...] = ("open", "final")
BACK_CHECK_RESULTS: tuple[str, ...] = ("pending", "confirmed", "doubtful", "unreachable")


class Campaign(Table, tablename="cati_campaign"):
    """A telephone campaign: one per wave and mode, with its calling rules."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    mode = Varchar(length=10, default="phone")
    name = Varchar(length=200)
    instrument_id = Varchar(length=60, default="liangshuaiyidu")
    status = Varchar(length=12, default="running")
    timezone = Varchar(length=60, default="Asia/Shanghai")
    calling_windows = Varchar(length=200, default="09:00-12:00,14:00-21:00")
    excluded_weekdays = Varchar(length=20, default="")  # ISO weekdays, "6,7"
    excluded_dates = Text(default="")  # local dates, "2026-10-01,2026-10-02"
    max_attempts = Integer(default=5)
    hold_minutes = Integer(default=30)  # a held case returns to the queue after this
    e_override = Float(null=True, default=None)  # AAPOR e set by hand (None: estimated)
    created_at = Timestamptz(default=TimestamptzNow())


class Case(Table, tablename="cati_case"):
    """One sampled number of a campaign. ``next_call_at`` is when it may be dialled next: the
    retry time, or — while a pollster holds it — the hold's expiry (so a lost hold frees itself)."""

    id = Serial(primary_key=True)
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    phone = Varchar(length=20)
    stratum = Varchar(length=60, default="")
    design_weight = Float(default=1.0)
    batch = Integer(default=1)
    sampled_element = ForeignKey(
        SampledElement, null=True, unique=True, on_delete=OnDelete.set_null
    )
    state = Varchar(length=8, default="open")
    next_call_at = Timestamptz()
    attempts = Integer(default=0)
    appointment_at = Timestamptz(null=True, default=None)
    appointment_user = ForeignKey(AppUser, null=True, on_delete=OnDelete.set_null)
    held_by = ForeignKey(AppUser, null=True, on_delete=OnDelete.set_null)
    held_at = Timestamptz(null=True, default=None)
    disposition = Varchar(length=8, default="")  # AAPOR code once final
    last_outcome = Varchar(length=30, default="")
    response = ForeignKey(Response, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())


class CallAttempt(Table, tablename="cati_call_attempt"):
    """One dial of a case and its outcome. ``idempotency_key`` (unique) comes from the console
    form, so a double-clicked outcome button records one attempt."""

    id = Serial(primary_key=True)
    call_case = ForeignKey(Case, null=False, on_delete=OnDelete.cascade)
    interviewer = ForeignKey(AppUser, null=True, on_delete=OnDelete.set_null)
    outcome = Varchar(length=30)
    disposition = Varchar(length=8)
    started_at = Timestamptz()
    ended_at = Timestamptz()
    note = Text(default="")
    idempotency_key = Varchar(length=64, unique=True)


class StratumProgress(Table, tablename="cati_stratum"):
    """Completed interviews per stratum of a campaign (kept in the transaction that records a
    complete, so the queue reads it without counting a million cases)."""

    id = Serial(primary_key=True)
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    stratum = Varchar(length=60)
    completes = Integer(default=0)
    cases = Integer(default=0)


class BackCheck(Table, tablename="cati_back_check"):
    """A completed interview drawn for 回访复核 (re-contact to verify it happened)."""

    id = Serial(primary_key=True)
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.cascade)
    call_case = ForeignKey(Case, null=False, unique=True, on_delete=OnDelete.cascade)
    interviewer = ForeignKey(AppUser, null=True, on_delete=OnDelete.set_null)
    seed = Integer()
    drawn_at = Timestamptz(default=TimestamptzNow())
    drawn_by = Varchar(length=60, default="")
    result = Varchar(length=12, default="pending")
    note = Text(default="")
    checked_by = Varchar(length=60, default="")
    checked_at = Timestamptz(null=True, default=None)


class ModeSwitch(Table, tablename="cati_mode_switch"):
    """A web invitation moved to the telephone campaign (sequential mixed mode): the web link is
    closed (invitation status ``phone``) and ``call_case`` calls the same sampled person, with
    the same stratum and design weight. One per invitation and per case (unique)."""

    id = Serial(primary_key=True)
    invitation = ForeignKey(Invitation, null=False, unique=True, on_delete=OnDelete.cascade)
    call_case = ForeignKey(Case, null=True, unique=True, on_delete=OnDelete.set_null)
    switched_at = Timestamptz(default=TimestamptzNow())
    switched_by = Varchar(length=60, default="")
