"""The signed-in pages of the foundation: home, registry view, waves."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from survey.accounts import ROLE_NAMES
from survey.registry import queries
from survey.web.auth import current_user, requires

READ_REGISTRY = ("admin", "analyst", "supervisor", "committee")


class PagesController(Controller):
    path = ""

    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        user = current_user(request)
        waves = (
            await queries.waves_for(user.district_id) if user.has_any(set(READ_REGISTRY)) else []
        )
        counts = await queries.registry_counts() if "admin" in user.roles else {}
        return Template(
            "home.html",
            context={
                "user": user,
                "role_names": [ROLE_NAMES[r] for r in sorted(user.roles)],
                "waves": waves,
                "counts": counts,
                "can_read_registry": user.has_any(set(READ_REGISTRY)),
            },
        )

    @get("/registry", guards=[requires(*READ_REGISTRY)], name="registry")
    async def registry(self, request: Request[Any, Any, Any]) -> Template:
        user = current_user(request)
        districts = [
            await queries.district_view(i) for i in await queries.district_ids(user.district_id)
        ]
        return Template(
            "registry.html", context={"user": user, "districts": [d for d in districts if d]}
        )

    @get("/registry/{code:str}", guards=[requires(*READ_REGISTRY)], name="registry-street")
    async def street(self, request: Request[Any, Any, Any], code: FromPath[str]) -> Template:
        user = current_user(request)
        for district_id in await queries.district_ids(user.district_id):
            view = await queries.district_view(district_id)
            for street in view.streets if view else ():
                if street.code == code:
                    return Template(
                        "street.html", context={"user": user, "district": view, "street": street}
                    )
        raise NotFoundException("没有找到该街道，或您无权查看")

    @get("/waves", guards=[requires(*READ_REGISTRY)], name="waves")
    async def waves(self, request: Request[Any, Any, Any]) -> Template:
        user = current_user(request)
        return Template(
            "waves.html", context={"user": user, "waves": await queries.waves_for(user.district_id)}
        )


ROUTES: list[Any] = [PagesController]
