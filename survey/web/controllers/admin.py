"""Administration: registry import and user accounts (admin role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from survey.accounts import ROLE_NAMES, AccountError, create_user, parse_roles
from survey.db.tables import ROLES, AppUser, Unit
from survey.registry.queries import registry_counts
from survey.registry.service import import_registry_file
from survey.tabular import ImportRejected
from survey.web.auth import current_user, requires


@dataclass
class RegistryUpload:
    file: UploadFile


@dataclass
class NewUserForm:
    username: str = ""
    display_name: str = ""
    password: str = ""
    roles: str = ""
    district_code: str = ""


async def _users() -> list[dict[str, Any]]:
    rows = await AppUser.select(
        AppUser.username,
        AppUser.display_name,
        AppUser.roles,
        AppUser.district.name,
        AppUser.is_active,
    ).order_by(AppUser.username)
    return [
        {**r, "role_names": "、".join(ROLE_NAMES.get(x, x) for x in r["roles"].split(",") if x)}
        for r in rows
    ]


async def _districts() -> list[dict[str, Any]]:
    return list(
        await Unit.select(Unit.code, Unit.name).where(Unit.level == "district").order_by(Unit.code)
    )


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
    async def users_page(self, request: Request[Any, Any, Any]) -> Template:
        return Template(
            "admin_users.html",
            context={
                "user": current_user(request),
                "users": await _users(),
                "districts": await _districts(),
                "roles": [(r, ROLE_NAMES[r]) for r in ROLES],
                "error": None,
                "created": None,
            },
        )

    @post("/users", status_code=200)
    async def create_user(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[NewUserForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        error = None
        created = None
        try:
            roles = parse_roles(data.roles)
            await create_user(
                data.username.strip(),
                data.password,
                roles,
                data.display_name.strip(),
                data.district_code or None,
            )
            created = data.username.strip()
        except AccountError as exc:
            error = str(exc)
        return Template(
            "admin_users.html",
            context={
                "user": current_user(request),
                "users": await _users(),
                "districts": await _districts(),
                "roles": [(r, ROLE_NAMES[r]) for r in ROLES],
                "error": error,
                "created": created,
            },
            status_code=422 if error else 200,
        )


ROUTES: list[Any] = [AdminController]
