"""我的账号: the signed-in user's own account — who they are, and their personal API tokens.

Every signed-in user sees the page; creating and revoking tokens is for the roles that may read
the results API (committee, analyst, admin). A new token's secret is shown once, in the answer
to the POST that created it (never in a URL, never stored in clear).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from survey.accounts import ROLE_NAMES, CurrentUser
from survey.tokens.service import (
    API_ROLES,
    VALID_DAYS,
    NewToken,
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
)
from survey.web.auth import current_user, requires

#: Times on the page are Beijing time (the districts' clock); stored times are UTC.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
TOKEN_STATUS_NAMES = {"active": "有效", "expired": "已过期", "revoked": "已撤销"}


@dataclass
class NewTokenForm:
    """The create-token form: a name and the validity in days (empty = no expiry)."""

    name: str = ""
    valid_days: str = "90"


@dataclass(frozen=True)
class TokenRow:
    """A token as the page shows it (times already formatted)."""

    id: int
    name: str
    prefix: str
    created: str
    expires: str
    last_used: str
    status: str
    status_name: str


def _local(value: dt.datetime | None, empty: str) -> str:
    if value is None:
        return empty
    return value.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")


async def _page(
    user: CurrentUser,
    *,
    new_token: NewToken | None = None,
    error: str = "",
    message: str = "",
    status_code: int = 200,
) -> Template:
    can_use_api = user.has_any(API_ROLES)
    tokens = [
        TokenRow(
            id=t.id,
            name=t.name,
            prefix=t.prefix,
            created=_local(t.created_at, ""),
            expires=_local(t.expires_at, "不过期"),
            last_used=_local(t.last_used_at, "从未使用"),
            status=t.status,
            status_name=TOKEN_STATUS_NAMES[t.status],
        )
        for t in (await list_tokens(user.id) if can_use_api else [])
    ]
    return Template(
        "account.html",
        context={
            "user": user,
            "role_names": "、".join(ROLE_NAMES.get(r, r) for r in sorted(user.roles)),
            "can_use_api": can_use_api,
            "tokens": tokens,
            "valid_days": [(str(d) if d else "", f"{d} 天" if d else "不过期") for d in VALID_DAYS],
            "new_token": new_token,
            "new_token_expires": _local(new_token.expires_at, "不过期") if new_token else "",
            "error": error,
            "message": message,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


class AccountController(Controller):
    path = "/account"

    @get("/", name="account")
    async def account(self, request: Request[Any, Any, Any]) -> Template:
        message = {"revoked": "令牌已撤销，使用它的程序将无法再读取数据。"}.get(
            request.query_params.get("msg", ""), ""
        )
        return await _page(current_user(request), message=message)

    @post("/tokens", guards=[requires(*API_ROLES)], status_code=200)
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[NewTokenForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        user = current_user(request)
        try:
            days = data.valid_days.strip()
            if days and not days.isdigit():
                raise TokenError("有效期须为天数或「不过期」")
            new_token = await create_token(user, data.name, int(days) if days else None)
        except TokenError as exc:
            return await _page(user, error=str(exc), status_code=422)
        return await _page(user, new_token=new_token, status_code=201)

    @post("/tokens/{token_id:int}/revoke", guards=[requires(*API_ROLES)], status_code=303)
    async def revoke(
        self, request: Request[Any, Any, Any], token_id: FromPath[int]
    ) -> Redirect | Template:
        user = current_user(request)
        try:
            await revoke_token(user, token_id)
        except TokenError as exc:
            return await _page(user, error=str(exc), status_code=404)
        return Redirect("/account?msg=revoked", status_code=303)


ROUTES: list[Any] = [AccountController]
