"""测评方案 pages (admin role): list and create programmes, edit name and instruments per mode,
upload a new policy (every problem ``survey policy check`` reports is shown; nothing is stored
then), read each stored policy version. A district-limited admin sees and manages only the
programmes of that district. The page only parses, calls ``survey.programmes.service`` and
renders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from survey.programmes import service
from survey.ranking.policy import PolicyError, installation_policies
from survey.registry.queries import regions_at
from survey.results.policies import with_computed_policies
from survey.waves import STATUS_NAMES
from survey.web.auth import current_user, requires


@dataclass
class ProgrammeForm:
    code: str = ""
    name: str = ""
    region: str = ""
    web_instrument: str = ""
    phone_instrument: str = ""
    policy: str = "default"  # an installation policy id, unless a file is uploaded
    policy_file: UploadFile | None = None


@dataclass
class EditForm:
    name: str = ""
    web_instrument: str = ""
    phone_instrument: str = ""


@dataclass
class PolicyUpload:
    policy_file: UploadFile | None = None


MAX_UPLOAD = service.MAX_POLICY_BYTES


async def _policy_from_upload(upload: UploadFile | None) -> tuple[str, str] | None:
    """(text, file name) of an uploaded policy, None when no file was chosen."""
    if upload is None or not upload.filename:
        return None
    raw = await upload.read()
    if len(raw) > MAX_UPLOAD:
        raise service.ProgrammeError(f"办法文件过大（超过 {MAX_UPLOAD // 1000} KB）")
    try:
        return raw.decode("utf-8-sig"), upload.filename
    except UnicodeDecodeError as exc:
        raise service.ProgrammeError(f"{upload.filename}: 不是 UTF-8 编码的文本文件") from exc


def _offered_policies() -> tuple[list[tuple[str, str]], list[str]]:
    """The installation's policies (id, title) and the problems of its policy files."""
    try:
        return [(p.id, p.title) for p, _path in installation_policies().values()], []
    except PolicyError as exc:
        return [], [str(p) for p in exc.problems]


async def _regions(limit_to: int | None) -> list[dict[str, Any]]:
    return await regions_at(["district", "city"], limit_to)


def _instrument_options() -> dict[str, list[tuple[str, str]]]:
    return {
        mode: [(i.id, i.title) for i in service.instrument_choices(mode)]
        for mode in ("web", "phone")
    }


class ProgrammesController(Controller):
    path = "/admin/programmes"
    guards = [requires("admin")]  # noqa: RUF012 - Litestar reads this class attribute

    async def _list_page(
        self,
        request: Request[Any, Any, Any],
        *,
        form: ProgrammeForm | None = None,
        error: str | None = None,
        problems: list[str] | None = None,
        status: int = 200,
    ) -> Template:
        user = current_user(request)
        offered, offered_problems = _offered_policies()
        return Template(
            "admin_programmes.html",
            context={
                "user": user,
                "programmes": await service.list_programmes(user.district_id),
                "regions": await _regions(user.district_id),
                "instruments": _instrument_options(),
                "defaults": service.DEFAULT_INSTRUMENTS,
                "policies": offered,
                "policy_problems": offered_problems,
                "form": form or ProgrammeForm(),
                "error": error,
                "problems": problems or [],
            },
            status_code=status,
        )

    @get("/", name="admin-programmes")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        return await self._list_page(request)

    @post("/", status_code=303)
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[ProgrammeForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template | Redirect:
        user = current_user(request)
        try:
            source = await _policy_from_upload(data.policy_file)
            if source is None:
                source = service.read_policy_source(data.policy or None)
            await service.create_programme(
                data.code,
                data.name,
                data.region,
                policy_text=source[0],
                policy_name=source[1],
                web_instrument=data.web_instrument or None,
                phone_instrument=data.phone_instrument or None,
                username=user.username,
                limit_to_district=user.district_id,
            )
        except service.ProgrammeError as exc:
            data.policy_file = None
            return await self._list_page(
                request, form=data, error=str(exc), problems=exc.problems, status=422
            )
        return Redirect(f"/admin/programmes/{data.code.strip()}?created=1", status_code=303)

    async def _detail_page(
        self,
        request: Request[Any, Any, Any],
        code: str,
        *,
        notice: str | None = None,
        error: str | None = None,
        problems: list[str] | None = None,
        status: int = 200,
    ) -> Template:
        user = current_user(request)
        try:
            detail = await with_computed_policies(
                await service.programme_detail(code, user.district_id)
            )
        except service.ProgrammeError as exc:
            raise NotFoundException(str(exc)) from exc
        return Template(
            "admin_programme.html",
            context={
                "user": user,
                "detail": detail,
                "instruments": _instrument_options(),
                "status_names": STATUS_NAMES,
                "notice": notice,
                "error": error,
                "problems": problems or [],
            },
            status_code=status,
        )

    @get("/{code:str}", name="admin-programme")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        created: FromQuery[str] = "",
        saved: FromQuery[str] = "",
    ) -> Template:
        notice = None
        if created:
            notice = "已创建测评方案。下一步：在「测评期」页面创建第一个测评期。"
        elif saved == "policy":
            notice = "新的办法已保存为当前版本；已计算的测评期保留计算时使用的办法。"
        elif saved == "same":
            notice = "上传的办法与当前版本相同，未改变。"
        elif saved:
            notice = "已保存。"
        return await self._detail_page(request, code, notice=notice)

    @post("/{code:str}", status_code=303)
    async def edit(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        data: Annotated[EditForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = current_user(request)
        try:
            await service.update_programme(
                code,
                name=data.name,
                web_instrument=data.web_instrument or None,
                phone_instrument=data.phone_instrument or None,
                username=user.username,
                limit_to_district=user.district_id,
            )
        except service.ProgrammeError as exc:
            return await self._detail_page(request, code, error=str(exc), status=422)
        return Redirect(f"/admin/programmes/{code}?saved=1", status_code=303)

    @post("/{code:str}/policy", status_code=303)
    async def upload_policy(
        self,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        data: Annotated[PolicyUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template | Redirect:
        user = current_user(request)
        try:
            source = await _policy_from_upload(data.policy_file)
            if source is None:
                raise service.ProgrammeError("请选择办法文件（.toml）")
            _info, changed = await service.set_policy(
                code,
                source[0],
                source[1],
                username=user.username,
                limit_to_district=user.district_id,
            )
        except service.ProgrammeError as exc:
            return await self._detail_page(
                request, code, error=str(exc), problems=exc.problems, status=422
            )
        return Redirect(
            f"/admin/programmes/{code}?saved={'policy' if changed else 'same'}", status_code=303
        )

    @get("/{code:str}/policy/{number:int}", name="admin-programme-policy")
    async def policy_file(
        self, request: Request[Any, Any, Any], code: FromPath[str], number: FromPath[int]
    ) -> Response[str]:
        try:
            text = await service.policy_text(code, number, current_user(request).district_id)
        except service.ProgrammeError as exc:
            raise NotFoundException(str(exc)) from exc
        return Response(text, media_type="text/plain; charset=utf-8")


ROUTES: list[Any] = [ProgrammesController]
