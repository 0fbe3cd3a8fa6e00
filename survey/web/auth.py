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
        # The OpenAPI schema (the whole route map) is for signed-in staff only.
        exclude=["^/static/", "^/health$"],
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
