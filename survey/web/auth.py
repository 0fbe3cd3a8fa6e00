"""Authentication (session-based) and role guards for every route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.security.session_auth import SessionAuth

from survey.accounts import CurrentUser, load_user

PUBLIC_OPT = "exclude_from_auth"
# The page where a user sets a new password; after an administrator's reset it is the only
# page (with logout) the user can open until the new password is set.
PASSWORD_PATH = "/account/password"
_OPEN_WHILE_CHANGING = (PASSWORD_PATH, "/logout")
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


async def retrieve_user(
    session: dict[str, Any], connection: ASGIConnection[Any, Any, Any, Any]
) -> CurrentUser | None:
    user_id = session.get("user_id")
    if not isinstance(user_id, int):
        return None
    return await load_user(user_id)


def session_auth(session_config: ServerSideSessionConfig) -> SessionAuth[CurrentUser, Any]:
    """Every route needs a signed-in user unless its handler has ``opt={PUBLIC_OPT: True}``."""
    return SessionAuth[CurrentUser, Any](
        retrieve_user_handler=retrieve_user,
        session_backend_config=session_config,
        exclude=["^/static/", "^/health$", "^/schema"],
        exclude_opt_key=PUBLIC_OPT,
    )


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser:
    user = connection.scope.get("user")
    if not isinstance(user, CurrentUser):
        raise NotAuthorizedException("请先登录")
    return user


def requires(*roles: str) -> Guard:
    """A guard admitting users who hold at least one of ``roles``."""
    wanted = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not current_user(connection).has_any(wanted):
            raise PermissionDeniedException("您的角色无权访问此页面")

    guard.__name__ = f"requires_{'_'.join(sorted(wanted))}"
    return guard


class PasswordChangeRequired(PermissionDeniedException):
    """The signed-in user must set a new password first (answered with a redirect to it)."""


def password_change_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """App-wide guard: while ``must_change_password`` is set, every page but the password
    page and logout sends the user to the password page."""
    user = connection.scope.get("user")
    if (
        isinstance(user, CurrentUser)
        and user.must_change_password
        and connection.url.path not in _OPEN_WHILE_CHANGING
    ):
        raise PasswordChangeRequired("请先设置新密码")
