"""Table of the tokens app.

A token's secret is shown once, at creation; only its SHA-256 is stored (``token_hash``, unique):
the secret is 256 random bits, so a fast hash is as safe as a slow one and lets the lookup use the
index. ``roles`` and ``district`` are the user's at creation: a token never reads more than its
user could then, nor more than the user can now (see ``survey.tokens.service``).
"""

from __future__ import annotations

from piccolo.columns import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from survey.db.tables import AppUser, Unit


class ApiToken(Table, tablename="api_token"):
    """A personal API token of a user (``Authorization: Bearer <secret>`` on ``/api/v1``)."""

    id = Serial(primary_key=True)

    user = ForeignKey(AppUser, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=60)
    token_hash = Varchar(length=64, unique=True, index=True)
    prefix = Varchar(length=16)
    roles = Varchar(length=100)
    district = ForeignKey(Unit, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
