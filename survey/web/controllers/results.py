"""Results pages: the committee dashboard, the compute button, report downloads and exports.

Who: the dashboard and the report — committee, analyst, admin; computing and exports (results
and weighted microdata) — analyst, admin. District-limited users see only waves of programmes
covering their district, and only their district's units.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from survey.audit import record
from survey.results.compute import ComputeError, compute_wave
from survey.results.dashboard import wave_view
from survey.results.export import export_microdata, export_results
from survey.results.queries import WaveSummary, district_code_of, waves_for_user
from survey.results.report import ReportError, render_report
from survey.web.auth import current_user, requires

VIEWERS = ("committee", "analyst", "admin")
ANALYSTS = ("analyst", "admin")
STATUS_NAMES = {
    "design": "设计中",
    "collecting": "采集中",
    "closed": "已结束",
    "published": "已发布",
}


async def _visible_wave(request: Request[Any, Any, Any], wave_id: int) -> WaveSummary:
    user = current_user(request)
    for wave in await waves_for_user(user.district_id):
        if wave.id == wave_id:
            return wave
    raise NotFoundException("没有找到该测评期，或您无权查看")


def _download(content: bytes, media_type: str, name: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class ResultsController(Controller):
    path = "/results"

    @get("/", guards=[requires(*VIEWERS)], name="results")
    async def index(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        user = current_user(request)
        waves = await waves_for_user(user.district_id)
        return Template(
            "results/index.html",
            context={"user": user, "waves": waves, "status_names": STATUS_NAMES},
        )

    @get("/{wave_id:int}", guards=[requires(*VIEWERS)], name="results-wave")
    async def wave(self, request: Request[Any, Any, Any], wave_id: FromPath[int]) -> Template:
        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        waves = [w for w in await waves_for_user(user.district_id) if w.has_results]
        view = await wave_view(wave_id, await district_code_of(user.district_id))
        return Template(
            "results/dashboard.html",
            context={
                "user": user,
                "summary": summary,
                "view": view,
                "waves": waves,
                "can_compute": user.has_any(ANALYSTS),
                "message": request.query_params.get("msg", ""),
                "error": "",
                "status_names": STATUS_NAMES,
            },
        )

    @post("/{wave_id:int}/compute", guards=[requires(*ANALYSTS)], status_code=303)
    async def compute(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int]
    ) -> Redirect | Template:
        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        try:
            result = await compute_wave(wave_id, username=user.username)
        except ComputeError as exc:
            view = await wave_view(wave_id, await district_code_of(user.district_id))
            return Template(
                "results/dashboard.html",
                status_code=400,
                context={
                    "user": user,
                    "summary": summary,
                    "view": view,
                    "waves": [],
                    "can_compute": True,
                    "message": "",
                    "error": str(exc),
                    "status_names": STATUS_NAMES,
                },
            )
        return Redirect(f"/results/{wave_id}?msg=computed&n={result.n_results}", status_code=303)

    @get("/{wave_id:int}/report/{fmt:str}", guards=[requires(*VIEWERS)], name="results-report")
    async def report(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], fmt: FromPath[str]
    ) -> Response[bytes]:
        user = current_user(request)
        await _visible_wave(request, wave_id)
        if fmt not in ("pdf", "html"):
            raise NotFoundException("报告格式只有 pdf 和 html")
        try:
            content, media, name = await render_report(
                wave_id, fmt, district_code=await district_code_of(user.district_id)
            )
        except ReportError as exc:
            raise NotFoundException(str(exc)) from exc
        if fmt == "html":
            return Response(content, media_type=media)
        return _download(content, media, name)

    @get("/{wave_id:int}/export/{fmt:str}", guards=[requires(*ANALYSTS)], name="results-export")
    async def export(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], fmt: FromPath[str]
    ) -> Response[bytes]:
        await _visible_wave(request, wave_id)
        if fmt not in ("json", "csv", "xlsx"):
            raise NotFoundException("导出格式只有 json、csv 和 xlsx")
        await record(current_user(request).username, "results.export", f"wave={wave_id} fmt={fmt}")
        return _download(*await export_results(wave_id, fmt))

    @get(
        "/{wave_id:int}/microdata/{fmt:str}",
        guards=[requires(*ANALYSTS)],
        name="results-microdata",
    )
    async def microdata(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], fmt: FromPath[str]
    ) -> Response[bytes]:
        await _visible_wave(request, wave_id)
        if fmt not in ("csv", "xlsx"):
            raise NotFoundException("微观数据只能导出为 csv 或 xlsx")
        await record(current_user(request).username, "results.microdata", f"wave={wave_id}.{fmt}")
        try:
            return _download(*await export_microdata(wave_id, fmt))
        except ComputeError as exc:
            raise NotFoundException(str(exc)) from exc


ROUTES: list[Any] = [ResultsController]
