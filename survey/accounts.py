"""User accounts: argon2 password hashes, roles, district limits, login lockout (policy in
``survey.limits``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from survey.db import write_transaction
from survey.db.tables import ROLES, AppUser, AuditLog, Unit, WebSession
from survey.limits import (
    LOGIN_WINDOW_S,
    MAX_FAILED_LOGINS,
    SLOW_AFTER_FAILURES,
    SLOW_DOWN_S,
    counter_store,
)

_HASHER = PasswordHasher()
# A hash of a random password: verifying against it when the user is unknown keeps the timing equal.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-pingan")
DISPLAY_NAME_MAX = 100  # characters (the column's length)
ROLE_NAMES: dict[str, str] = {
    "admin": "系统管理员",
    "analyst": "数据分析员",
    "supervisor": "督导",
    "pollster": "访问员",
    "committee": "委员会成员",
}


class AccountError(Exception):
    """An account could not be created or changed; the message says why (Chinese)."""


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user as the web layer sees it."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    district_id: int | None
    district_name: str | None

    def has_any(self, roles: Iterable[str]) -> bool:
        """True when the user holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def parse_roles(text: str) -> frozenset[str]:
    """Parse ``"analyst,committee"``; raises ``AccountError`` naming an unknown role."""
    roles = frozenset(r.strip() for r in text.split(",") if r.strip())
    unknown = sorted(roles - set(ROLES))
    if unknown:
        raise AccountError(f"未知角色 {', '.join(unknown)}（可选: {', '.join(ROLES)}）")
    if not roles:
        raise AccountError("至少需要一个角色")
    return roles


async def create_user(
    username: str,
    password: str,
    roles: frozenset[str],
    display_name: str = "",
    district_code: str | None = None,
) -> int:
    """Create a user; returns its id. Raises ``AccountError`` for a taken name or unknown district."""
    if not username or len(username) > 60:
        raise AccountError("用户名须为 1–60 个字符")
    if len(password) < 8:
        raise AccountError("密码至少 8 位")
    if len(display_name) > DISPLAY_NAME_MAX:
        raise AccountError(f"显示名称最长 {DISPLAY_NAME_MAX} 个字符（现为 {len(display_name)} 个）")
    async with write_transaction():
        if await AppUser.exists().where(AppUser.username == username):
            raise AccountError(f"用户名 {username} 已存在")
        district_id = None
        if district_code:
            unit = await Unit.select(Unit.id, Unit.level).where(Unit.code == district_code).first()
            if unit is None or unit["level"] != "district":
                raise AccountError(f"区/县编码 {district_code} 不存在")
            district_id = unit["id"]
        result = await AppUser.insert(
            AppUser(
                username=username,
                display_name=display_name or username,
                password_hash=hash_password(password),
                roles=",".join(sorted(roles)),
                district=district_id,
            )
        ).returning(AppUser.id)
    return int(result[0]["id"])


async def load_user(user_id: int) -> CurrentUser | None:
    row = (
        await AppUser.select(
            AppUser.id,
            AppUser.username,
            AppUser.display_name,
            AppUser.roles,
            AppUser.district,
            AppUser.district.name,
            AppUser.is_active,
        )
        .where(AppUser.id == user_id)
        .first()
    )
    if row is None or not row["is_active"]:
        return None
    return CurrentUser(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        roles=frozenset(r for r in row["roles"].split(",") if r),
        district_id=row["district"],
        district_name=row["district.name"],
    )


async def authenticate(username: str, password: str, address: str = "") -> CurrentUser | None:
    """Check a password from client ``address``, under the login policy of ``survey.limits``:
    ``MAX_FAILED_LOGINS`` failures for this account from this address lock the pair for the
    rest of the 15-minute slot; past ``SLOW_AFTER_FAILURES`` failures for the account from all
    addresses every attempt on it waits ``SLOW_DOWN_S`` first. Counters are shared by every
    worker (the ``rate_counter`` table).

    Returns None for a wrong password, an unknown user or a locked pair (same answer for all
    three, so the login page tells an attacker nothing).
    """
    counters = counter_store()
    pair_key, account_key = f"fail:{username}:{address}", f"fail:{username}"
    if await counters.get(account_key, LOGIN_WINDOW_S) >= SLOW_AFTER_FAILURES:
        await _pause(SLOW_DOWN_S)
    row = (
        await AppUser.select(AppUser.id, AppUser.password_hash, AppUser.is_active)
        .where(AppUser.username == username)
        .first()
    )
    if await counters.get(pair_key, LOGIN_WINDOW_S) >= MAX_FAILED_LOGINS:
        _verify(_DUMMY_HASH, password)
        await _audit(username, "login-locked", address)
        return None
    if row is None or not row["is_active"] or not _verify(row["password_hash"], password):
        if row is None:
            _verify(_DUMMY_HASH, password)
        await counters.add(pair_key, LOGIN_WINDOW_S)
        await counters.add(account_key, LOGIN_WINDOW_S)
        if row is not None:
            await _audit(username, "login-failed", address)
        return None
    await _audit(username, "login", address)
    return await load_user(row["id"])


_pause = asyncio.sleep  # the slow-down's wait (a test records it instead of timing it)


async def end_user_sessions(user_id: int) -> None:
    """Delete every web session of ``user_id`` (after a change of roles or password, or when the
    account is disabled): each browser signed in as that user must sign in again.

    Sessions are few (staff only; residents have none) and keep the user id inside their JSON,
    so the rows that may hold it are read and matched exactly."""
    rows = await WebSession.select(WebSession.id, WebSession.data).where(
        WebSession.data.like("%user_id%")
    )
    ids = []
    for row in rows:
        try:
            data = json.loads(row["data"])
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("user_id") == user_id:
            ids.append(row["id"])
    if ids:
        await WebSession.delete().where(WebSession.id.is_in(ids))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _audit(username: str, action: str, detail: str = "") -> None:
    await AuditLog.insert(AuditLog(username=username, action=action, detail=detail))
