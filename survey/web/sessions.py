"""Server-side sessions kept in the database, so every web worker sees the same sessions."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

from survey import accounts
from survey.db import DATABASE_UNAVAILABLE

log = logging.getLogger("survey.web")
# Scope key set by :func:`renew_session`: the session is saved under a fresh id this response.
RENEW_SCOPE_KEY = "pingan.renew_session"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _seconds(value: int | dt.timedelta | None, default: int) -> int:
    if value is None:
        return default
    return int(value.total_seconds()) if isinstance(value, dt.timedelta) else int(value)


class DatabaseSessionStore(Store):
    """A Litestar ``Store`` over the ``web_session`` table (values are the session's JSON)."""

    def __init__(self, default_max_age: int = 8 * 3600) -> None:
        self.default_max_age = default_max_age

    async def set(
        self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None
    ) -> None:
        data = value.decode("utf-8") if isinstance(value, bytes) else value
        expires = _now() + dt.timedelta(seconds=_seconds(expires_in, self.default_max_age))
        await accounts.save_session(key, data, expires)

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        stored = await accounts.read_session(key)
        if stored is None:
            return None
        data, expires_at = stored
        if expires_at <= _now():
            await self.delete(key)
            return None
        if renew_for:
            expires = _now() + dt.timedelta(seconds=_seconds(renew_for, self.default_max_age))
            await accounts.extend_session(key, expires)
        return data.encode("utf-8")

    async def delete(self, key: str) -> None:
        await accounts.delete_session(key)

    async def delete_all(self) -> None:
        await accounts.delete_sessions()

    async def delete_expired(self) -> None:
        await accounts.delete_sessions(expired_before=_now())

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        stored = await accounts.read_session(key)
        if stored is None:
            return None
        return max(0, int((stored[1] - _now()).total_seconds()))


def renew_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Save this request's session under a new random id and delete the one the browser sent
    (login: an id planted before sign-in must not gain the user's rights — session fixation)."""
    connection.scope[RENEW_SCOPE_KEY] = True  # type: ignore[literal-required]


class LeanSessionBackend(ServerSideSessionBackend):
    """Stores a session only when it holds something: anonymous page views (residents, the
    login page) write no ``web_session`` row and set no cookie; a session that became empty
    (logout) is deleted and its cookie expired. After :func:`renew_session` the session gets a
    new id and the old id's row is deleted."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        scope: Any = connection.scope
        if scope.get(RENEW_SCOPE_KEY):
            fresh = scope.get("pingan.fresh_session_id")
            if not fresh:
                fresh = scope["pingan.fresh_session_id"] = self.generate_session_id()
            return str(fresh)
        return super().get_session_id(connection)

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        if (scope_session is Empty or not scope_session) and (
            self.config.key not in connection.cookies
        ):
            return
        try:
            old_id = connection.cookies.get(self.config.key)
            if connection.scope.get(RENEW_SCOPE_KEY) and old_id:
                await self.delete(old_id, store=self.config.get_store_from_app(connection.app))
            await super().store_in_message(scope_session or Empty, message, connection)
        except DATABASE_UNAVAILABLE as exc:
            # The response (often the 503 retry page itself) is already on its way: the session
            # keeps its previous state rather than turning the answer into a 500.
            log.warning("session not saved, database unavailable: %r", exc)


@dataclass
class LeanSessionConfig(ServerSideSessionConfig):
    """``ServerSideSessionConfig`` whose backend is :class:`LeanSessionBackend`."""

    _backend_class = LeanSessionBackend
