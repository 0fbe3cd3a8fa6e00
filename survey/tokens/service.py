"""Personal API tokens: create (the secret shown once), list, revoke, and authenticate a request.

A token acts for its user with the roles and district the user had when creating it, and never
with more than the user has now: at each use the roles are the intersection of both, and a token
whose user was disabled, or whose user's district changed, no longer works. Creating and revoking
are written to the audit log in the same transaction. ``last_used_at`` is refreshed at most once a
minute per token (a client polling every second must not turn every read into a write).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, replace

from survey.accounts import CurrentUser, load_user
from survey.audit import record
from survey.db import write_transaction
from survey.tokens.tables import ApiToken

#: Roles that may read the results API (as on the results pages).
API_ROLES: frozenset[str] = frozenset({"committee", "analyst", "admin"})
TOKEN_PREFIX = "pat_"
#: Length of the shown, non-secret start of a token (``pat_`` + 8 characters).
SHOWN_PREFIX_LEN = 12
MAX_ACTIVE_TOKENS = 20
#: Validity choices offered on the account page (days; ``None`` = no expiry).
VALID_DAYS: tuple[int | None, ...] = (30, 90, 180, 365, None)
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenError(Exception):
    """A token could not be created or revoked; the message says why (Chinese)."""


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is shown to the user once and stored nowhere."""

    id: int
    name: str
    secret: str
    expires_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed on the account page (never its secret)."""

    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    status: str  # active / expired / revoked


@dataclass(frozen=True, slots=True)
class TokenUse:
    """The authentication record of a request made with a token."""

    token_id: int


def hash_secret(secret: str) -> str:
    """The stored form of a token secret (SHA-256, hex)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _status(
    revoked_at: dt.datetime | None, expires_at: dt.datetime | None, now: dt.datetime
) -> str:
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


async def create_token(
    user: CurrentUser,
    name: str,
    valid_days: int | None,
    *,
    now: dt.datetime | None = None,
) -> NewToken:
    """Create a token for ``user`` valid ``valid_days`` days from ``now`` (``None``: until
    revoked). Raises ``TokenError`` for a role that cannot read the API, a bad name or too many
    active tokens."""
    now = now or dt.datetime.now(dt.UTC)
    name = name.strip()
    if not user.has_any(API_ROLES):
        raise TokenError("您的角色不能使用结果接口，无需令牌")
    if not name or len(name) > 60:
        raise TokenError("令牌名称须为 1–60 个字符（例如「统计所 R 脚本」）")
    if valid_days is not None and valid_days not in VALID_DAYS:
        raise TokenError(f"有效期只能是 {', '.join(str(d) for d in VALID_DAYS if d)} 天或不过期")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = None if valid_days is None else now + dt.timedelta(days=valid_days)
    async with write_transaction():
        rows = await ApiToken.select(ApiToken.expires_at).where(
            (ApiToken.user == user.id) & ApiToken.revoked_at.is_null()
        )
        active = [r for r in rows if _status(None, _utc(r["expires_at"]), now) == "active"]
        if len(active) >= MAX_ACTIVE_TOKENS:
            raise TokenError(f"有效令牌最多 {MAX_ACTIVE_TOKENS} 个，请先撤销不用的令牌")
        inserted = await ApiToken.insert(
            ApiToken(
                user=user.id,
                name=name,
                token_hash=hash_secret(secret),
                prefix=secret[:SHOWN_PREFIX_LEN],
                roles=",".join(sorted(user.roles & API_ROLES)),
                district=user.district_id,
                created_at=now,
                expires_at=expires_at,
            )
        ).returning(ApiToken.id)
        token_id = int(inserted[0]["id"])
        expiry = "不过期" if expires_at is None else expires_at.isoformat(timespec="seconds")
        await record(
            user.username, "token.create", f"token={token_id} name={name} expires={expiry}"
        )
    return NewToken(id=token_id, name=name, secret=secret, expires_at=expires_at)


async def list_tokens(user_id: int, *, now: dt.datetime | None = None) -> list[TokenInfo]:
    """The user's tokens, newest first, revoked and expired ones included."""
    now = now or dt.datetime.now(dt.UTC)
    rows = (
        await ApiToken.select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.prefix,
            ApiToken.created_at,
            ApiToken.expires_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        )
        .where(ApiToken.user == user_id)
        .order_by(ApiToken.id, ascending=False)
    )
    out = []
    for r in rows:
        created = _utc(r["created_at"])
        assert created is not None
        expires, revoked = _utc(r["expires_at"]), _utc(r["revoked_at"])
        out.append(
            TokenInfo(
                id=r["id"],
                name=r["name"],
                prefix=r["prefix"],
                created_at=created,
                expires_at=expires,
                last_used_at=_utc(r["last_used_at"]),
                revoked_at=revoked,
                status=_status(revoked, expires, now),
            )
        )
    return out


async def revoke_token(user: CurrentUser, token_id: int, *, now: dt.datetime | None = None) -> None:
    """Revoke one of ``user``'s tokens (at once: the next request with it gets 401). Raises
    ``TokenError`` when the user has no such token or it is already revoked."""
    now = now or dt.datetime.now(dt.UTC)
    async with write_transaction():
        row = (
            await ApiToken.select(ApiToken.name, ApiToken.revoked_at)
            .where((ApiToken.id == token_id) & (ApiToken.user == user.id))
            .first()
        )
        if row is None:
            raise TokenError("没有找到该令牌")
        if row["revoked_at"] is not None:
            raise TokenError(f"令牌「{row['name']}」已撤销")
        await ApiToken.update({ApiToken.revoked_at: now}).where(ApiToken.id == token_id)
        await record(user.username, "token.revoke", f"token={token_id} name={row['name']}")


async def authenticate_token(
    secret: str, *, now: dt.datetime | None = None
) -> tuple[CurrentUser, TokenUse] | None:
    """The user a request with ``secret`` acts as (roles narrowed to the token's), or None for an
    unknown, revoked or expired token, a disabled user or one whose district changed."""
    now = now or dt.datetime.now(dt.UTC)
    row = (
        await ApiToken.select(
            ApiToken.id,
            ApiToken.user,
            ApiToken.roles,
            ApiToken.district,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
        )
        .where(ApiToken.token_hash == hash_secret(secret))
        .first()
    )
    if row is None or _status(row["revoked_at"], _utc(row["expires_at"]), now) != "active":
        return None
    user = await load_user(int(row["user"]))
    if user is None or user.district_id != row["district"]:
        return None
    roles = user.roles & frozenset(r for r in row["roles"].split(",") if r) & API_ROLES
    if not roles:
        return None
    last_used = _utc(row["last_used_at"])
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["id"])
    return replace(user, roles=roles), TokenUse(token_id=int(row["id"]))
