"""Bearer tokens on the results API: ``Authorization: Bearer <token>`` on ``/api/v1/…``.

The session middleware authenticates every other request (and ``/api/v1`` requests without an
``Authorization`` header, so a signed-in user can read the API in the browser). A request that
sends the header is judged by its token alone: a bad, revoked or expired token is refused (401)
even when a session cookie comes along.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.session_auth import SessionAuthMiddleware

from survey.tokens.service import authenticate_token

API_V1_PREFIX = "/api/v1/"


class SessionOrTokenAuthMiddleware(SessionAuthMiddleware):
    """Session authentication, or a personal API token on ``/api/v1``."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if header is None or not connection.scope["path"].startswith(API_V1_PREFIX):
            return await super().authenticate_request(connection)
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthorizedException("Authorization 头须为「Bearer 令牌」")
        found = await authenticate_token(secret.strip())
        if found is None:
            raise NotAuthorizedException("令牌无效、已撤销或已过期")
        user, use = found
        return AuthenticationResult(user=user, auth=use)
