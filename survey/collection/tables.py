"""Tables of the collection app. Phone numbers live only in ``Contact`` (purged after the wave);
answers reference an invitation or a case id, never a number."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from survey.db.tables import AppUser, Unit, Wave
from survey.design.tables import SampledElement

# "open": an anonymous public link (QR code) of a wave; each visitor who consents gets a personal
# invitation of their own (open_link = True), whose response is marked non-probability.
INVITATION_STATUSES: tuple[str, ...] = (
    "pending", "started", "completed", "expired", "revoked", "open",
)  # fmt: skip
RESPONSE_STATUSES: tuple[str, ...] = ("in_progress", "completed", "partial", "screened_out", "void")
MODES: tuple[str, ...] = ("web", "phone", "import")


class Invitation(Table, tablename="invitation"):
    """A one-time link ``/s/<token>``; only the SHA-256 of the token is stored here.

    ``sampled_element``: the design's element it was made for (None for invitations created from
    a phone list or an open link); ``design_weight`` is that element's weight when it was made,
    kept in step by ``reweigh_invitations`` (see docs/architecture.md)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    token_hash = Varchar(length=64, unique=True)
    instrument_id = Varchar(length=60)
    expires_at = Timestamptz()
    status = Varchar(length=12, default="pending")
    stratum = Varchar(length=60, default="")
    design_weight = Float(null=True, default=None)
    batch = Integer(default=0)
    open_link = Boolean(default=False)  # anonymous public link: non-probability
    created_at = Timestamptz(default=TimestamptzNow())
    # The current disposition: the highest kind among its events (to-phone aside), kept by every
    # event write (survey.collection.dispositions), so counting needs no pass over the events.
    disposition = SmallInt(default=0)
    sampled_element = ForeignKey(
        SampledElement, null=True, unique=True, on_delete=OnDelete.set_null
    )


class Contact(Table, tablename="contact"):
    """A resident's phone number and the token sent to it (for the SMS export)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    phone = Varchar(length=20)
    invitation = ForeignKey(Invitation, null=True, unique=True, on_delete=OnDelete.cascade)
    token = Varchar(length=64, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Response(Table, tablename="response"):
    """One interview (web, phone or imported). At most one per invitation (unique constraint)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.restrict)
    instrument_id = Varchar(length=60)
    instrument_version = Varchar(length=20)
    instrument_hash = Varchar(length=64)
    mode = Varchar(length=10)
    invitation = ForeignKey(Invitation, null=True, unique=True, on_delete=OnDelete.restrict)
    source_respondent_id = Varchar(length=100, null=True, default=None)
    import_batch = Varchar(length=64, null=True, default=None)
    status = Varchar(length=12, default="in_progress")
    community = ForeignKey(Unit, null=True, on_delete=OnDelete.restrict)
    sex = Varchar(length=1, default="")
    age_group = Varchar(length=8, default="")
    answers = Text(default="{}")  # JSON object item id → code/value
    current_page = Integer(default=0)
    design_weight = Float(null=True, default=None)
    stratum = Varchar(length=60, default="")
    interviewer = ForeignKey(AppUser, null=True, on_delete=OnDelete.restrict)
    non_probability = Boolean(default=False)
    started_at = Timestamptz(default=TimestamptzNow())
    completed_at = Timestamptz(null=True, default=None)
    duration_seconds = Integer(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class InvitationEvent(Table, tablename="invitation_event"):
    """One step of an invitation's fieldwork (created, sent, delivered, opened, consent …,
    ``survey.collection.dispositions.KINDS``) with its time. ``kind`` is a small code that is
    also the step's precedence: the current disposition is the highest kind (SQL ``max``).
    ``seq`` numbers repeated steps (the k-th reminder); (invitation, kind, seq) is unique
    (raw migration), so a step recorded twice at once is stored once."""

    id = Serial(primary_key=True)
    invitation = ForeignKey(Invitation, null=False, on_delete=OnDelete.cascade)
    kind = SmallInt()
    seq = SmallInt(default=0)
    at = Timestamptz(default=TimestamptzNow())
    detail = Varchar(length=200, default="")
