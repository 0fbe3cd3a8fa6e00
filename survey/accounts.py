"""User accounts: argon2 password hashes, roles, district limits, login lockout (policy in
``survey.limits``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from survey.audit import record
from survey.db import is_postgres, write_transaction
from survey.db.tables import ROLES, AppUser, Unit, WebSession
from survey.limits import (
    LOGIN_WINDOW_S,
    MAX_FAILED_LOGINS,
    SLOW_AFTER_FAILURES,
    SLOW_DOWN_S,
    counter_store,
    retry_after,
)

_HASHER = PasswordHasher()
# A hash of a random password: verifying against it when the user is unknown keeps the timing equal.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-pingan")
ROLE_NAMES: dict[str, str] = {
    "admin": "系统管理员",
    "analyst": "数据分析员",
    "supervisor": "督导",
    "pollster": "访问员",
    "committee": "委员会成员",
}


class AccountError(Exception):
    """An account could not be created or changed; the message says why (Chinese)."""


class LoginLocked(Exception):
    """Sign-in refused before the password is looked at: this account has had
    ``MAX_FAILED_LOGINS`` failures from this address in the current slot. The message (Chinese)
    says for how long and how to get in sooner; it tells nothing the guesser did not know (the
    same lock follows five failures for an unknown user name)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        minutes = max(1, -(-seconds // 60))
        super().__init__(
            f"登录失败次数过多，该账号在本机已暂时锁定，请约 {minutes} 分钟后再试；"
            "需要立即登录时，请系统管理员解锁（启用账号或重置密码）。"
        )


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user as the web layer sees it."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    district_id: int | None
    district_name: str | None
    must_change_password: bool = False

    def has_any(self, roles: Iterable[str]) -> bool:
        """True when the user holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def parse_roles(text: str | Iterable[str]) -> frozenset[str]:
    """Parse roles given as codes or Chinese names: ``"analyst,委员会成员"`` (separated by
    ``,``, ``，`` or ``、``) or a list of them (the page's checkboxes). Raises ``AccountError``
    naming an unknown role or an empty set."""
    if isinstance(text, str):
        text = text.replace("，", ",").replace("、", ",").split(",")
    by_name = {name: code for code, name in ROLE_NAMES.items()}
    words = [w.strip() for w in text if w.strip()]
    unknown = sorted(w for w in words if w not in ROLES and w not in by_name)
    if unknown:
        choices = "、".join(f"{code}（{name}）" for code, name in ROLE_NAMES.items())
        raise AccountError(f"未知角色 {', '.join(unknown)}（可选: {choices}）")
    roles = frozenset(by_name.get(w, w) for w in words)
    if not roles:
        raise AccountError("至少需要一个角色")
    return roles


def role_names(roles: Iterable[str]) -> str:
    """The Chinese names of ``roles`` in the order of ``ROLES``, joined with 、."""
    wanted = set(roles)
    return "、".join(ROLE_NAMES[r] for r in ROLES if r in wanted)


async def create_user(
    username: str,
    password: str,
    roles: frozenset[str],
    display_name: str = "",
    district_code: str | None = None,
    *,
    limit_to_district: int | None = None,
    actor: str = "",
) -> int:
    """Create a user; returns its id. Raises ``AccountError`` for a taken name, an unknown
    district or a field that is too long.

    ``limit_to_district``: the creating administrator's own district limit. Such an
    administrator can only create users of that district (never an unrestricted one)."""
    if not username or len(username) > USERNAME_MAX:
        raise AccountError(f"用户名须为 1–{USERNAME_MAX} 个字符")
    _check_password(password)
    display_name = _check_display_name(display_name)
    async with write_transaction():
        if await AppUser.exists().where(AppUser.username == username):
            raise AccountError(f"用户名 {username} 已存在")
        district_id = await _district_id(district_code, limit_to_district)
        result = await AppUser.insert(
            AppUser(
                username=username,
                display_name=display_name or username,
                password_hash=hash_password(password),
                roles=",".join(sorted(roles)),
                district=district_id,
            )
        ).returning(AppUser.id)
        await record(
            actor,
            "user.create",
            f"user={username} roles={','.join(sorted(roles))} district={district_code or '全部'}",
        )
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
            AppUser.must_change_password,
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
        must_change_password=bool(row["must_change_password"]),
    )


async def authenticate(username: str, password: str, address: str = "") -> CurrentUser | None:
    """Check a password from client ``address``, under the login policy of ``survey.limits``:
    ``MAX_FAILED_LOGINS`` failures for this account from this address lock the pair for the
    rest of the 15-minute slot; past ``SLOW_AFTER_FAILURES`` failures for the account from all
    addresses every attempt on it waits ``SLOW_DOWN_S`` first. Counters are shared by every
    worker (the ``rate_counter`` table).

    Returns None for a wrong password or an unknown user (same answer for both, so the login
    page does not tell which user names exist); raises ``LoginLocked`` for a locked pair. An
    administrator lifts the lock (``unlock``: ``survey user enable``, reset password).
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
        await record(username, "login-locked", address)
        raise LoginLocked(retry_after(LOGIN_WINDOW_S))
    if row is None or not row["is_active"] or not _verify(row["password_hash"], password):
        if row is None:
            _verify(_DUMMY_HASH, password)
        await counters.add(pair_key, LOGIN_WINDOW_S)
        await counters.add(account_key, LOGIN_WINDOW_S)
        if row is not None:
            await record(username, "login-failed", address)
        return None
    await record(username, "login", address)
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


# --- session rows (the web layer's session store, survey.web.sessions, keeps its data here) ---


async def save_session(key: str, data: str, expires_at: dt.datetime) -> None:
    """Store session ``key`` with its JSON ``data`` until ``expires_at`` (insert or replace)."""
    updated = (
        await WebSession.update({WebSession.data: data, WebSession.expires_at: expires_at})
        .where(WebSession.key == key)
        .returning(WebSession.id)
    )
    if not updated:
        await WebSession.insert(WebSession(key=key, data=data, expires_at=expires_at))


async def read_session(key: str) -> tuple[str, dt.datetime] | None:
    """Session ``key``'s JSON data and expiry (aware UTC), or None when there is none."""
    row = (
        await WebSession.select(WebSession.data, WebSession.expires_at)
        .where(WebSession.key == key)
        .first()
    )
    if row is None:
        return None
    return str(row["data"]), _aware(row["expires_at"])


async def extend_session(key: str, expires_at: dt.datetime) -> None:
    """Move session ``key``'s expiry to ``expires_at``."""
    await WebSession.update({WebSession.expires_at: expires_at}).where(WebSession.key == key)


async def delete_session(key: str) -> None:
    """Delete session ``key`` (sign-out, expiry, a renewed session's old id)."""
    await WebSession.delete().where(WebSession.key == key)


async def delete_sessions(*, expired_before: dt.datetime | None = None) -> None:
    """Delete every session, or those expired by ``expired_before``."""
    if expired_before is None:
        await WebSession.delete(force=True)
    else:
        await WebSession.delete().where(WebSession.expires_at <= expired_before)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- Managing users (admin page and ``survey user …``) -------------------------------------
#
# Rules, checked in the write transaction of each change:
# * an administrator limited to a district (``limit_to_district``) sees and manages only users
#   of that district, and can neither create nor make a user unrestricted or of another district;
# * at least one enabled, unrestricted administrator always remains (a change that would remove
#   the last one is refused), so the platform can always be managed;
# * a change of roles, district or password and a disabled account end the user's sessions.

USERNAME_MAX = 60
DISPLAY_NAME_MAX = 100  # AppUser.display_name is Varchar(100)
PASSWORD_MIN = 8
PASSWORD_MAX = 200


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the administration pages and ``survey user list`` show it."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    district_code: str | None
    district_name: str | None
    is_active: bool
    must_change_password: bool

    @property
    def role_names(self) -> str:
        return role_names(self.roles)


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"密码至少 {PASSWORD_MIN} 位")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"密码不能超过 {PASSWORD_MAX} 个字符")


def _check_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if len(display_name) > DISPLAY_NAME_MAX:
        raise AccountError(f"姓名不能超过 {DISPLAY_NAME_MAX} 个字（现为 {len(display_name)} 个字）")
    return display_name


async def _district_id(district_code: str | None, limit_to_district: int | None) -> int | None:
    """The id of district ``district_code`` (None: unrestricted), refused when a district-limited
    administrator asks for no district or for another one."""
    if not district_code:
        if limit_to_district is not None:
            raise AccountError("您只能管理本区县的用户，不能设置不限区县的用户")
        return None
    unit = await Unit.select(Unit.id, Unit.level).where(Unit.code == district_code).first()
    if unit is None or unit["level"] != "district":
        raise AccountError(f"区/县编码 {district_code} 不存在")
    if limit_to_district is not None and unit["id"] != limit_to_district:
        raise AccountError(f"您只能管理本区县的用户，不能授予区县 {district_code}")
    return int(unit["id"])


async def list_users(limit_to_district: int | None = None) -> list[UserRecord]:
    """Every user (or only those of district ``limit_to_district``), by username."""
    query = AppUser.select(
        AppUser.id,
        AppUser.username,
        AppUser.display_name,
        AppUser.roles,
        AppUser.district.code,
        AppUser.district.name,
        AppUser.is_active,
        AppUser.must_change_password,
    ).order_by(AppUser.username)
    if limit_to_district is not None:
        query = query.where(AppUser.district == limit_to_district)
    return [
        UserRecord(
            id=r["id"],
            username=r["username"],
            display_name=r["display_name"],
            roles=frozenset(x for x in r["roles"].split(",") if x),
            district_code=r["district.code"],
            district_name=r["district.name"],
            is_active=bool(r["is_active"]),
            must_change_password=bool(r["must_change_password"]),
        )
        for r in await query
    ]


async def get_user(username: str, limit_to_district: int | None = None) -> UserRecord:
    """One user; ``AccountError`` when unknown or outside ``limit_to_district`` (same message)."""
    for user in await list_users(limit_to_district):
        if user.username == username:
            return user
    raise AccountError(f"没有用户 {username}，或您无权管理")


async def _lock_managed_users(username: str, limit_to_district: int | None) -> dict[str, Any]:
    """Inside a write transaction: the target row, with every enabled unrestricted admin row
    locked (PostgreSQL ``FOR UPDATE``; SQLite's immediate transaction holds the write lock), so
    two concurrent changes cannot together remove the last unrestricted administrator."""
    if is_postgres():
        await AppUser.raw(
            "SELECT id FROM app_user WHERE (is_active AND district IS NULL) OR username = {} "
            "ORDER BY id FOR UPDATE",
            username,
        )
    row = (
        await AppUser.select(
            AppUser.id, AppUser.roles, AppUser.district, AppUser.is_active, AppUser.display_name
        )
        .where(AppUser.username == username)
        .first()
    )
    if row is None or (limit_to_district is not None and row["district"] != limit_to_district):
        raise AccountError(f"没有用户 {username}，或您无权管理")
    return dict(row)


async def _keep_one_admin() -> None:
    """Refuse (by raising, so the transaction rolls back) a state without an enabled,
    unrestricted administrator."""
    rows = await AppUser.select(AppUser.roles).where(
        (AppUser.is_active == True) & AppUser.district.is_null()  # noqa: E712
    )
    if not any("admin" in r["roles"].split(",") for r in rows):
        raise AccountError(
            "至少要保留一个启用的、不限区县的系统管理员：此修改会移除最后一个，已拒绝"
        )


async def update_user(
    username: str,
    *,
    roles: frozenset[str] | None = None,
    district_code: str | None = None,
    change_district: bool = False,
    display_name: str | None = None,
    limit_to_district: int | None = None,
    actor: str = "",
) -> UserRecord:
    """Change a user's roles, district (only when ``change_district``; ``""``/None =
    unrestricted) and display name. Ends the user's sessions when roles or district change."""
    if display_name is not None:
        display_name = _check_display_name(display_name)
    if roles is not None and not roles:
        raise AccountError("至少需要一个角色")
    async with write_transaction():
        row = await _lock_managed_users(username, limit_to_district)
        values: dict[Any, Any] = {}
        changes: list[str] = []
        old_roles = frozenset(x for x in row["roles"].split(",") if x)
        if roles is not None and roles != old_roles:
            values[AppUser.roles] = ",".join(sorted(roles))
            changes.append(f"roles={','.join(sorted(roles))}")
        if change_district:
            district_id = await _district_id(district_code, limit_to_district)
            if district_id != row["district"]:
                values[AppUser.district] = district_id
                changes.append(f"district={district_code or '全部'}")
        if display_name is not None and display_name != row["display_name"]:
            values[AppUser.display_name] = display_name or username
            changes.append("display_name")
        if values:
            await AppUser.update(values).where(AppUser.id == row["id"])
            await _keep_one_admin()
            if AppUser.roles in values or AppUser.district in values:
                await end_user_sessions(int(row["id"]))
            await record(actor, "user.edit", f"user={username} {' '.join(changes)}")
    return await get_user(username)


async def set_active(
    username: str, active: bool, *, limit_to_district: int | None = None, actor: str = ""
) -> None:
    """Disable (cannot sign in, sessions ended; the account and its history stay) or enable a
    user. Enabling, also of an enabled account, lifts a login lock (``unlock``). An
    administrator cannot disable their own account."""
    if not active and username == actor:
        raise AccountError("不能停用自己的账号")
    async with write_transaction():
        row = await _lock_managed_users(username, limit_to_district)
        if bool(row["is_active"]) != active:
            await AppUser.update({AppUser.is_active: active}).where(AppUser.id == row["id"])
            if not active:
                await _keep_one_admin()
                await end_user_sessions(int(row["id"]))
            await record(actor, "user.enable" if active else "user.disable", f"user={username}")
    if active:  # enabling (also an enabled account) lifts a login lock
        await unlock(username, actor=actor)


async def unlock(username: str, *, actor: str = "") -> None:
    """Forget the account's failed sign-ins from every address (the lock and the slow-down of
    ``authenticate``), audited as ``user.unlock`` when they had locked or slowed it (a single
    mistyped password is forgotten silently). Enabling an account and resetting its password do
    it; the caller has checked that ``actor`` manages the user."""
    if await counter_store().forget(f"fail:{username}") >= MAX_FAILED_LOGINS:
        await record(actor, "user.unlock", f"user={username}")


def temporary_password() -> str:
    """A random temporary password (12 characters, no look-alike letters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


async def reset_password(
    username: str, password: str, *, limit_to_district: int | None = None, actor: str = ""
) -> None:
    """Set a temporary password that the user must change at the next sign-in; ends the
    user's sessions and lifts a login lockout."""
    _check_password(password)
    async with write_transaction():
        row = await _lock_managed_users(username, limit_to_district)
        await AppUser.update(
            {
                AppUser.password_hash: hash_password(password),
                AppUser.must_change_password: True,
            }
        ).where(AppUser.id == row["id"])
        await end_user_sessions(int(row["id"]))
        await record(actor, "user.reset-password", f"user={username}")
    await unlock(username, actor=actor)


async def change_own_password(user_id: int, current: str, new: str, repeat: str) -> None:
    """A user sets a new password (required after a reset): checks the current one, refuses a
    reuse of it, clears the forced change and ends every session of the user."""
    if new != repeat:
        raise AccountError("两次输入的新密码不一致")
    _check_password(new)
    row = (
        await AppUser.select(AppUser.username, AppUser.password_hash)
        .where(AppUser.id == user_id)
        .first()
    )
    if row is None or not _verify(row["password_hash"], current):
        raise AccountError("当前密码不正确")
    if current == new:
        raise AccountError("新密码不能与当前密码相同")
    async with write_transaction():
        await AppUser.update(
            {AppUser.password_hash: hash_password(new), AppUser.must_change_password: False}
        ).where(AppUser.id == user_id)
        await end_user_sessions(user_id)
        await record(row["username"], "user.change-password", f"user={row['username']}")
