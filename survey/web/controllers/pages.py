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
from survey.results.home import home_digests
from survey.results.publishing import set_status
from survey.results.revisions import pending_revisions
from survey.waves import TRANSITIONS, WaveError, create_wave, waves_for
from survey.web import flash
from survey.web.auth import current_user, requires
from survey.web.confirm import Confirmation, confirmation_page

READ_REGISTRY = ("admin", "analyst", "supervisor", "committee")
MANAGE_WAVES = ("admin", "analyst")


@dataclass
class NewWaveForm:
    programme: str = ""
    month: str = ""


@dataclass
class WaveStatusForm:
    status: str = ""


# What each step does, said on its confirmation page: (old status, new status) → text.
STEP_TEXTS: dict[tuple[str, str], str] = {
    ("design", "collecting"): "开始采集：居民的邀请链接和电话访问开始可用。",
    ("collecting", "closed"): (
        "结束采集：居民的邀请链接不再接受作答；本期的电话访问暂停——访问员拿不到本期的号码，"
        "也不能再记录访问结果或答案。结束后仍可重新开放。"
    ),
    ("closed", "collecting"): "重新开放采集：邀请链接恢复作答，本期的电话访问恢复。",
    ("closed", "published"): (
        "发布结果：委员会成员将看到本期结果。发布是最终的——发布后不能再重新计算；"
        "如需更正，须作为新的更正版本计算并再次发布，旧版本仍可查阅。"
    ),
    ("published", "published"): (
        "发布更正版本：委员会成员将看到标注「更正」的新版本及其原因和日期，替换现行版本；"
        "原来的版本仍可查阅。"
    ),
}


async def _waves_page(
    user: CurrentUser, *, error: str = "", message: str = "", status_code: int = 200
) -> Template:
    waves = await waves_for(user.district_id)
    return Template(
        "waves.html",
        context={
            "user": user,
            "waves": waves,
            "pending": await pending_revisions([w.id for w in waves]),
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
        waves = await waves_for(user.district_id) if user.has_any(set(READ_REGISTRY)) else []
        counts = await queries.registry_counts() if "admin" in user.roles else {}
        return Template(
            "home.html",
            context={
                "user": user,
                # the latest published wave's warnings, targets and significant changes first
                "digests": await home_digests(user),
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
        message = {"created": "已创建测评期。", "moved": "测评期状态已更新。"}.get(
            request.query_params.get("msg", ""), ""
        )
        flashed = await flash.take(request.query_params.get("f"), f"user:{user.id}") or {}
        error = str(flashed.get("error", ""))
        return await _waves_page(
            user, message=message, error=error, status_code=422 if error else 200
        )

    @get(
        "/waves/{wave_id:int}/confirm/{status:str}",
        guards=[requires(*MANAGE_WAVES)],
        name="wave-confirm",
    )
    async def confirm_status(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], status: FromPath[str]
    ) -> Template:
        user = current_user(request)
        wave = next((w for w in await waves_for(user.district_id) if w.id == wave_id), None)
        if wave is None:
            raise NotFoundException("没有找到该测评期，或您无权管理")
        old = wave.status
        step = (old, status)
        if step not in TRANSITIONS and not (
            step == ("published", "published") and wave_id in await pending_revisions([wave_id])
        ):
            raise NotFoundException(f"测评期 {wave.month} 当前为「{wave.status_name}」，没有这一步")
        title = "发布更正版本" if old == status else TRANSITIONS[step][1]
        return confirmation_page(
            user,
            Confirmation(
                title=f"确认{title}？",
                subject=f"测评期 {wave.month}（{wave.programme_name}，{wave.region_name}）",
                text=STEP_TEXTS[step],
                action=f"/waves/{wave_id}/status",
                fields=(("status", status),),
                button=title,
                back="/waves",
                danger=status in ("closed", "published"),
            ),
        )

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
            url = await flash.redirect_url("/waves", f"user:{user.id}", {"error": str(exc)})
            return Redirect(url, status_code=303)
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
            url = await flash.redirect_url("/waves", f"user:{user.id}", {"error": str(exc)})
            return Redirect(url, status_code=303)
        return Redirect("/waves?msg=moved", status_code=303)


ROUTES: list[Any] = [PagesController]
