"""Login and logout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from survey.accounts import LoginLocked, authenticate
from survey.web.auth import PUBLIC_OPT
from survey.web.sessions import renew_session


@dataclass
class LoginForm:
    username: str = ""
    password: str = ""
    next: str = "/"


def _safe_next(target: str) -> str:
    # Only same-site relative paths: never redirect to another host after login.
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class AuthController(Controller):
    path = ""

    @get("/login", opt={PUBLIC_OPT: True}, name="login")
    async def login_page(self, next: FromQuery[str] = "/") -> Template:
        return Template(
            "login.html", context={"next": _safe_next(next), "error": None, "username": ""}
        )

    @post("/login", opt={PUBLIC_OPT: True}, status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        address = request.client.host if request.client else ""
        try:
            user = await authenticate(data.username.strip(), data.password, address)
            error = "用户名或密码错误。"
        except LoginLocked as locked:
            user, error = None, str(locked)
        if user is None:
            return Template(
                "login.html",
                context={"next": _safe_next(data.next), "error": error, "username": data.username},
                status_code=401,
            )
        request.clear_session()
        request.set_session({"user_id": user.id})
        renew_session(request)  # a new id: the one sent before sign-in no longer works
        return Redirect(_safe_next(data.next), status_code=303)

    @post("/logout", status_code=303, opt={PUBLIC_OPT: True})
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login", status_code=303)


ROUTES: list[Any] = [AuthController]
