"""The signed-in pages of the foundation: home, registry view, waves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from survey.accounts import ROLE_NAMES, CurrentUser
from survey.registry import queries
from survey.waves import WaveError, create_wave, set_status
from survey.web.auth import current_user, requires

READ_REGISTRY = ("admin", "analyst", "supervisor", "committee")
MANAGE_WAVES = ("admin", "analyst")


@dataclass
class NewWaveForm:
    programme: str = ""
    month: str = ""


@dataclass
class WaveStatusForm:
    status: str = ""


async def _waves_page(
    user: CurrentUser, *, error: str = "", message: str = "", status_code: int = 200
) -> Template:
    return Template(
        "waves.html",
        context={
            "user": user,
            "waves": await queries.waves_for(user.district_id),
            "can_manage": user.has_any(MANAGE_WAVES),
            "programmes": await queries.programmes_for(user.district_id),
            "error": error,
            "message": message,
        },
        status_code=status_code,
    )


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
        message = {"created": "已创建测评期。", "moved": "测评期状态已更新。"}.get(
            request.query_params.get("msg", ""), ""
        )
        return await _waves_page(current_user(request), message=message)

    @post("/waves", guards=[requires(*MANAGE_WAVES)], status_code=303)
    async def create_wave(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[NewWaveForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        user = current_user(request)
        allowed = {p["code"] for p in await queries.programmes_for(user.district_id)}
        try:
            if data.programme not in allowed:
                raise WaveError(f"没有测评方案「{data.programme}」，或您无权管理")
            await create_wave(data.programme, data.month.strip(), username=user.username)
        except WaveError as exc:
            return await _waves_page(user, error=str(exc), status_code=422)
        return Redirect("/waves?msg=created", status_code=303)

    @post("/waves/{wave_id:int}/status", guards=[requires(*MANAGE_WAVES)], status_code=303)
    async def wave_status(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        data: Annotated[WaveStatusForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        user = current_user(request)
        try:
            await set_status(
                wave_id, data.status, username=user.username, limit_to_district=user.district_id
            )
        except WaveError as exc:
            return await _waves_page(user, error=str(exc), status_code=422)
        return Redirect("/waves?msg=moved", status_code=303)


ROUTES: list[Any] = [PagesController]
