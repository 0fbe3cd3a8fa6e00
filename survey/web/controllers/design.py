"""Sample design pages for analysts: import frames and 号段 lists, plan, draw, release, verify.

Thin: parse the form, check the user may see the wave (district limits), call
``survey.design`` services, render ``templates/design/*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from survey.accounts import CurrentUser
from survey.design import queries
from survey.design.frames import import_blocks_file, import_frame_file
from survey.design.regions import STRATIFY_BY, DesignError
from survey.design.service import (
    ALLOCATIONS,
    METHODS,
    MODES,
    DesignPlan,
    DesignRejected,
    DesignSpec,
    draw_sample,
    plan_design,
    save_targets,
    verify_sample,
)
from survey.release import release_batches
from survey.tabular import ImportRejected
from survey.web.auth import current_user, requires

DESIGNERS = ("admin", "analyst")
NOT_FOUND = "没有找到该测评期或样本，或您无权查看"


@dataclass
class FrameUpload:
    file: UploadFile
    kind: str = "phone"
    strata: str = "street"


@dataclass
class DesignForm:
    """The design form as typed by the analyst (percentages, text); parsed by ``parse_design``."""

    frame_id: str = ""
    mode: str = "phone"
    method: str = "srswor"
    allocation: str = "proportional"
    total: str = ""
    margin: str = ""
    p: str = "90"
    confidence: str = "95"
    response_rate: str = "100"
    min_per_stratum: str = ""
    max_per_stratum: str = ""
    batch_shares: str = "70,30"
    landline_share: str = "25"
    seed: str = ""
    action: str = "preview"


@dataclass
class ReleaseForm:
    batches: str = ""


def _number(text: str, label: str, errors: list[str], *, integer: bool = False) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        errors.append(f"{label}「{text}」不是{'整数' if integer else '数字'}")
        return None
    return value


def parse_design(form: DesignForm) -> tuple[DesignSpec | None, int | None, list[str]]:
    """The spec and seed from the form (percent fields divided by 100), or the errors."""
    errors: list[str] = []
    frame_id = _number(form.frame_id, "抽样框", errors, integer=True)
    total = _number(form.total, "发放总量", errors, integer=True)
    margin = _number(form.margin, "目标误差", errors)
    p = _number(form.p, "预期比例", errors)
    confidence = _number(form.confidence, "置信水平", errors)
    rate = _number(form.response_rate, "预期应答率", errors)
    low = _number(form.min_per_stratum, "每层最低", errors, integer=True)
    high = _number(form.max_per_stratum, "每层最高", errors, integer=True)
    landline = _number(form.landline_share, "固话比例", errors)
    seed = _number(form.seed, "随机种子", errors, integer=True)
    try:
        shares = tuple(
            float(x) for x in form.batch_shares.replace("，", ",").split(",") if x.strip()
        )
    except ValueError:
        errors.append(f"批次比例「{form.batch_shares}」应为逗号分隔的数，例如 70,30")
        shares = ()
    if frame_id is None and not errors:
        errors.append("请选择抽样框或号段表")
    if errors or frame_id is None:
        return None, None, errors
    spec = DesignSpec(
        frame_id=int(frame_id),
        mode=form.mode,
        method=form.method,
        allocation=form.allocation,
        total=None if total is None else int(total),
        margin=None if margin is None else margin / 100,
        p=0.9 if p is None else p / 100,
        confidence=0.95 if confidence is None else confidence / 100,
        response_rate=1.0 if rate is None else rate / 100,
        min_per_stratum=0 if low is None else int(low),
        max_per_stratum=None if high is None else int(high),
        batch_shares=shares,
        landline_share=0.25 if landline is None else landline / 100,
    )
    problems = spec.problems()
    return (None, None, problems) if problems else (spec, None if seed is None else int(seed), [])


async def _wave_or_404(user: CurrentUser, wave_id: int) -> None:
    if not await queries.may_see_wave(wave_id, user.district_id):
        raise NotFoundException(NOT_FOUND)


async def _sample_wave_or_404(user: CurrentUser, sample_id: int) -> int:
    wave_id = await queries.wave_of_sample(sample_id)
    if wave_id is None or not await queries.may_see_wave(wave_id, user.district_id):
        raise NotFoundException(NOT_FOUND)
    return wave_id


async def _wave_page(
    user: CurrentUser,
    wave_id: FromPath[int],
    *,
    form: DesignForm | None = None,
    plan: DesignPlan | None = None,
    message: str = "",
    problems: list[str] | None = None,
    status: int = 200,
) -> Template:
    view = await queries.wave_design(wave_id)
    if form is None:
        form = DesignForm(frame_id=str(view.frames[0].id) if view.frames else "")
    return Template(
        "design/wave.html",
        context={
            "user": user,
            "wave": view,
            "form": form,
            "plan": plan,
            "message": message,
            "problems": problems or [],
            "modes": MODES,
            "methods": METHODS,
            "allocations": ALLOCATIONS,
            "stratify": STRATIFY_BY,
        },
        status_code=status,
    )


async def _sample_page(
    user: CurrentUser, sample_id: int, *, message: str = "", error: str = "", status: int = 200
) -> Template:
    detail = await queries.sample_detail(sample_id)
    if detail is None:
        raise NotFoundException(NOT_FOUND)
    return Template(
        "design/sample.html",
        context={"user": user, "detail": detail, "message": message, "error": error},
        status_code=status,
    )


class DesignController(Controller):
    path = "/design"
    guards = [requires(*DESIGNERS)]  # noqa: RUF012 - Litestar reads this class attribute

    @get("", name="design")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        user = current_user(request)
        return Template(
            "design/index.html",
            context={"user": user, "waves": await queries.design_waves(user.district_id)},
        )

    @get("/waves/{wave_id:int}", name="design-wave")
    async def wave(self, request: Request[Any, Any, Any], wave_id: FromPath[int]) -> Template:
        user = current_user(request)
        await _wave_or_404(user, wave_id)
        return await _wave_page(user, wave_id)

    @post("/waves/{wave_id:int}/frames", status_code=200)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        data: Annotated[FrameUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template:
        user = current_user(request)
        await _wave_or_404(user, wave_id)
        content = await data.file.read()
        name = data.file.filename or "upload.csv"
        try:
            if data.kind == "blocks":
                summary = await import_blocks_file(wave_id, name, content, username=user.username)
            else:
                summary = await import_frame_file(
                    wave_id,
                    name,
                    content,
                    kind=data.kind,
                    stratify_by=data.strata,
                    username=user.username,
                )
        except ImportRejected as exc:
            problems = [str(p) for p in exc.problems]
            return await _wave_page(user, wave_id, problems=problems, status=422)
        except DesignError as exc:
            return await _wave_page(user, wave_id, problems=[str(exc)], status=422)
        return await _wave_page(user, wave_id, message=summary.describe())

    @post("/waves/{wave_id:int}/plan", status_code=200)
    async def plan(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        data: Annotated[DesignForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        user = current_user(request)
        await _wave_or_404(user, wave_id)
        spec, seed, errors = parse_design(data)
        if spec is None:
            return await _wave_page(user, wave_id, form=data, problems=errors, status=422)
        try:
            if data.action == "draw":
                result = await draw_sample(wave_id, spec, seed=seed, username=user.username)
                return Redirect(f"/design/samples/{result.sample_id}?drawn=1", status_code=303)
            plan = await plan_design(wave_id, spec)
            message = ""
            if data.action == "targets":
                count = await save_targets(plan, username=user.username)
                message = f"已保存 {count} 个层的目标完成量（合计 {plan.target_total}）"
        except DesignRejected as exc:
            return await _wave_page(user, wave_id, form=data, problems=exc.problems, status=422)
        except DesignError as exc:
            return await _wave_page(user, wave_id, form=data, problems=[str(exc)], status=422)
        return await _wave_page(user, wave_id, form=data, plan=plan, message=message)

    @get("/samples/{sample_id:int}", name="design-sample")
    async def sample(
        self, request: Request[Any, Any, Any], sample_id: FromPath[int], drawn: FromQuery[int] = 0
    ) -> Template:
        user = current_user(request)
        await _sample_wave_or_404(user, sample_id)
        message = "样本已抽取并保存。释放第 1 批后才会生成邀请或电话任务。" if drawn else ""
        return await _sample_page(user, sample_id, message=message)

    @get("/samples/{sample_id:int}/elements.csv", name="design-sample-elements")
    async def elements(
        self, request: Request[Any, Any, Any], sample_id: FromPath[int]
    ) -> Response[str]:
        user = current_user(request)
        await _sample_wave_or_404(user, sample_id)
        return Response(
            "\ufeff" + await queries.sample_elements_csv(sample_id),  # BOM: Excel reads UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="sample-{sample_id}.csv"'},
        )

    @post("/samples/{sample_id:int}/release", status_code=200)
    async def release(
        self,
        request: Request[Any, Any, Any],
        sample_id: FromPath[int],
        data: Annotated[ReleaseForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template:
        user = current_user(request)
        await _sample_wave_or_404(user, sample_id)
        errors: list[str] = []
        batches = _number(data.batches, "批次", errors, integer=True)
        if errors:
            return await _sample_page(user, sample_id, error=errors[0], status=422)
        try:
            result = await release_batches(
                sample_id, None if batches is None else int(batches), username=user.username
            )
        except DesignError as exc:
            return await _sample_page(user, sample_id, error=str(exc), status=422)
        return await _sample_page(user, sample_id, message=result.describe())

    @post("/samples/{sample_id:int}/verify", status_code=200)
    async def verify(self, request: Request[Any, Any, Any], sample_id: FromPath[int]) -> Template:
        user = current_user(request)
        await _sample_wave_or_404(user, sample_id)
        result = await verify_sample(sample_id)
        if result.consistent:
            return await _sample_page(user, sample_id, message=result.describe())
        return await _sample_page(user, sample_id, error=result.describe(), status=409)


ROUTES: list[Any] = [DesignController]
