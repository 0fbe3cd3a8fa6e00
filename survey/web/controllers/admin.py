"""Administration: registry import and user accounts (admin role), and every user's own
password page.

An administrator limited to a district sees and manages only that district's users (the rules
are enforced by ``survey.accounts``). Forms follow Post/Redirect/Get (``survey.web.flash``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from survey import accounts
from survey.accounts import ROLE_NAMES, ROLES, AccountError, CurrentUser
from survey.registry.queries import regions_at, registry_counts
from survey.registry.service import import_registry_file
from survey.tabular import ImportRejected
from survey.web import flash
from survey.web.auth import PASSWORD_PATH, current_user, requires
from survey.web.sessions import renew_session

# Messages shown after a redirect, by code (never free text from the query string).
MESSAGES = {
    "created": "已创建用户。",
    "saved": "已保存修改。该用户如修改了角色或区县，须重新登录。",
    "disabled": "已停用该用户：不能再登录，已登录的会话已结束，历史记录保留。",
    "enabled": "已重新启用该用户。",
    "reset": "已重设密码：该用户下次登录时须设置新密码，已登录的会话已结束。",
    "changed": "密码已修改。",
}


@dataclass
class RegistryUpload:
    file: UploadFile


async def _districts(user: CurrentUser) -> list[dict[str, Any]]:
    return await regions_at(["district"], user.district_id)


def _one(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _fail(request: Request[Any, Any, Any], path: str, error: str, **form: Any) -> Redirect:
    owner = f"user:{current_user(request).id}"
    return Redirect(
        await flash.redirect_url(path, owner, {"error": error, "form": form}), status_code=303
    )


async def _flashed(request: Request[Any, Any, Any], key: str | None) -> dict[str, Any]:
    return await flash.take(key, f"user:{current_user(request).id}") or {}


class AdminController(Controller):
    path = "/admin"
    guards = [requires("admin")]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/registry", name="admin-registry")
    async def registry_page(self, request: Request[Any, Any, Any]) -> Template:
        return Template(
            "admin_registry.html",
            context={
                "user": current_user(request),
                "counts": await registry_counts(),
                "result": None,
                "problems": [],
            },
        )

    @post("/registry", status_code=200)
    async def registry_import(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[RegistryUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template:
        user = current_user(request)
        content = await data.file.read()
        problems: list[str] = []
        result = None
        status = 200
        try:
            summary = await import_registry_file(
                data.file.filename or "upload.csv", content, username=user.username
            )
            result = summary.describe()
        except ImportRejected as exc:
            problems = [str(p) for p in exc.problems]
            status = 422
        return Template(
            "admin_registry.html",
            context={
                "user": user,
                "counts": await registry_counts(),
                "result": result,
                "problems": problems,
            },
            status_code=status,
        )

    @get("/users", name="admin-users")
    async def users_page(
        self,
        request: Request[Any, Any, Any],
        msg: FromQuery[str] = "",
        f: FromQuery[str | None] = None,
    ) -> Template:
        user = current_user(request)
        flashed = await _flashed(request, f)
        return Template(
            "admin_users.html",
            context={
                "user": user,
                "users": await accounts.list_users(user.district_id),
                "districts": await _districts(user),
                "roles": [(r, ROLE_NAMES[r]) for r in ROLES],
                "error": flashed.get("error", ""),
                "form": flashed.get("form", {}),
                "message": MESSAGES.get(msg, ""),
            },
            status_code=422 if flashed.get("error") else 200,
        )

    @post("/users", status_code=303)
    async def create_user(self, request: Request[Any, Any, Any]) -> Redirect:
        user = current_user(request)
        form = await request.form()
        username = _one(form, "username").strip()
        display_name = _one(form, "display_name").strip()
        district = _one(form, "district_code")
        roles = [r for r in form.getall("roles") if isinstance(r, str)] if "roles" in form else []
        try:
            await accounts.create_user(
                username,
                _one(form, "password"),
                accounts.parse_roles(roles),
                display_name,
                district or None,
                limit_to_district=user.district_id,
                actor=user.username,
            )
        except AccountError as exc:
            return await _fail(
                request,
                "/admin/users",
                str(exc),
                username=username[:60],
                display_name=display_name[:200],
                roles=roles,
                district_code=district,
            )
        return Redirect("/admin/users?msg=created", status_code=303)

    @get("/users/{username:str}", name="admin-user")
    async def user_page(
        self,
        request: Request[Any, Any, Any],
        username: FromPath[str],
        msg: FromQuery[str] = "",
        f: FromQuery[str | None] = None,
    ) -> Template:
        user = current_user(request)
        try:
            target = await accounts.get_user(username, user.district_id)
        except AccountError as exc:
            raise NotFoundException(str(exc)) from exc
        flashed = await _flashed(request, f)
        return Template(
            "admin_user.html",
            context={
                "user": user,
                "target": target,
                "districts": await _districts(user),
                "roles": [(r, ROLE_NAMES[r]) for r in ROLES],
                "error": flashed.get("error", ""),
                "form": flashed.get("form", {}),
                "message": MESSAGES.get(msg, ""),
            },
            status_code=422 if flashed.get("error") else 200,
        )

    @post("/users/{username:str}", status_code=303)
    async def edit_user(self, request: Request[Any, Any, Any], username: FromPath[str]) -> Redirect:
        user = current_user(request)
        form = await request.form()
        roles = [r for r in form.getall("roles") if isinstance(r, str)] if "roles" in form else []
        display_name = _one(form, "display_name")
        district = _one(form, "district_code")
        page = f"/admin/users/{username}"
        try:
            await accounts.update_user(
                username,
                roles=accounts.parse_roles(roles),
                district_code=district or None,
                change_district=True,
                display_name=display_name,
                limit_to_district=user.district_id,
                actor=user.username,
            )
        except AccountError as exc:
            return await _fail(
                request,
                page,
                str(exc),
                display_name=display_name[:200],
                roles=roles,
                district_code=district,
            )
        return Redirect(f"{page}?msg=saved", status_code=303)

    @post("/users/{username:str}/{action:str}", status_code=303)
    async def user_action(
        self, request: Request[Any, Any, Any], username: FromPath[str], action: FromPath[str]
    ) -> Redirect:
        user = current_user(request)
        page = f"/admin/users/{username}"
        try:
            if action in ("disable", "enable"):
                await accounts.set_active(
                    username,
                    action == "enable",
                    limit_to_district=user.district_id,
                    actor=user.username,
                )
                code = f"{action}d"
            elif action == "password":
                form = await request.form()
                await accounts.reset_password(
                    username,
                    _one(form, "password"),
                    limit_to_district=user.district_id,
                    actor=user.username,
                )
                code = "reset"
            else:
                raise NotFoundException("没有这个操作")
        except AccountError as exc:
            return await _fail(request, page, str(exc))
        return Redirect(f"{page}?msg={code}", status_code=303)


class AccountController(Controller):
    """The signed-in user's own password (required after an administrator's reset)."""

    path = PASSWORD_PATH

    @get("", name="account-password")
    async def password_page(
        self,
        request: Request[Any, Any, Any],
        msg: FromQuery[str] = "",
        f: FromQuery[str | None] = None,
    ) -> Template:
        flashed = await _flashed(request, f)
        return Template(
            "account_password.html",
            context={
                "user": current_user(request),
                "error": flashed.get("error", ""),
                "message": MESSAGES.get(msg, ""),
            },
            status_code=422 if flashed.get("error") else 200,
        )

    @post("", status_code=303)
    async def change_password(self, request: Request[Any, Any, Any]) -> Redirect:
        user = current_user(request)
        form = await request.form()
        try:
            await accounts.change_own_password(
                user.id, _one(form, "current"), _one(form, "new"), _one(form, "repeat")
            )
        except AccountError as exc:
            return await _fail(request, PASSWORD_PATH, str(exc))
        # Every session of the user has ended; this browser continues signed in.
        request.clear_session()
        request.set_session({"user_id": user.id})
        renew_session(request)  # under a new id: the one used before the change no longer works
        return Redirect(f"{PASSWORD_PATH}?msg=changed", status_code=303)


ROUTES: list[Any] = [AdminController, AccountController]
