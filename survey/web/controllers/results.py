"""Results pages: the committee dashboard, the compute button, report downloads and exports.

Who: the dashboard and the report — committee, analyst, admin; computing and exports (results
and weighted microdata) — analyst, admin. District-limited users see only waves of programmes
covering their district, and only their district's units.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from questionnaires import default_instruments
from survey.accounts import CurrentUser
from survey.audit import record
from survey.results.compute import ComputeError, compute_wave
from survey.results.dashboard import wave_view
from survey.results.export import export_microdata, export_results
from survey.results.formats import FormatError, microdata_format, report_format, results_export
from survey.results.importing import import_responses
from survey.results.queries import WaveSummary, district_code_of
from survey.results.reading import readable_waves, reviewable_waves
from survey.results.report import ReportError, render_report
from survey.results.revisions import (
    current_correction,
    revise_wave,
    revision_view,
    revisions_for_wave,
)
from survey.tabular import ImportRejected
from survey.web import flash
from survey.web.auth import current_user, requires
from survey.web.caching import revalidated
from survey.web.confirm import Confirmation, confirmation_page

VIEWERS = ("committee", "analyst", "admin")
ANALYSTS = ("analyst", "admin")


async def _waves(user: CurrentUser) -> list[WaveSummary]:
    """The waves ``user`` may read (``survey.results.reading``: committee members published
    ones only)."""
    return await readable_waves(user)


async def _visible_wave(request: Request[Any, Any, Any], wave_id: int) -> WaveSummary:
    user = current_user(request)
    for wave in await _waves(user):
        if wave.id == wave_id:
            return wave
    raise NotFoundException("没有找到该测评期，或您无权查看")


async def _review_wave(request: Request[Any, Any, Any], wave_id: int) -> WaveSummary:
    """The wave of the 复核与申诉 page: readable, or waiting for this reviewer's decisions."""
    try:
        return await _visible_wave(request, wave_id)
    except NotFoundException:
        for wave in await reviewable_waves(current_user(request)):
            if wave.id == wave_id:
                return wave
        raise


@dataclass
class DeliveredUpload:
    """The delivered-data form: the data file, the instrument id and an optional mapping."""

    file: UploadFile
    instrument: str = ""
    mapping: UploadFile | None = None


def _instrument_choices() -> list[tuple[str, str]]:
    return [(i.id, i.title) for i in default_instruments().values()]


def _checked(check: Callable[..., object], *args: str) -> None:
    """A download's format (and table) checked by ``survey.results.formats``: none such is
    404 with its message."""
    try:
        check(*args)
    except FormatError as exc:
        raise NotFoundException(str(exc)) from exc


def _text(form: Any, name: str) -> str:
    """One field of a submitted form as text (absent or a file: empty)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _flashed(user: CurrentUser, key: str | None) -> dict[str, Any]:
    """What the POST before this GET left for ``user`` (``survey.web.flash``), or nothing."""
    return await flash.take(key, f"user:{user.id}") or {}


async def _back(user: CurrentUser, path: str, payload: dict[str, Any]) -> Redirect:
    """Post/Redirect/Get: to ``path``, which shows ``payload`` (an error, a message, the
    values typed) once."""
    return Redirect(await flash.redirect_url(path, f"user:{user.id}", payload), status_code=303)


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
        waves = await _waves(user)
        readable = {w.id for w in waves}
        to_review = [w for w in await reviewable_waves(user) if w.id not in readable]
        return Template(
            "results/index.html",
            context={"user": user, "waves": waves, "to_review": to_review},
        )

    @get("/{wave_id:int}", guards=[requires(*VIEWERS)], name="results-wave")
    async def wave(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        f: FromQuery[str | None] = None,
    ) -> Template:
        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        waves = [w for w in await _waves(user) if w.has_results]
        view = await wave_view(wave_id, await district_code_of(user.district_id))
        revisions = await revisions_for_wave(wave_id)
        analyst = user.has_any(ANALYSTS)
        flashed = await _flashed(user, f)
        error = str(flashed.get("error", ""))
        return Template(
            "results/dashboard.html",
            context={
                "user": user,
                "summary": summary,
                "view": view,
                "waves": waves,
                "can_compute": analyst,
                "message": request.query_params.get("msg", ""),
                "error": error,
                "correction": current_correction(revisions),
                # Drafts (corrections awaiting publication) only for analysts.
                "revisions": [r for r in revisions if analyst or not r.is_draft],
            },
            status_code=422 if error else 200,
        )

    @get("/{wave_id:int}/compute/confirm", guards=[requires(*ANALYSTS)], name="results-compute-ok")
    async def confirm_compute(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int]
    ) -> Template:
        summary = await _visible_wave(request, wave_id)
        return confirmation_page(
            current_user(request),
            Confirmation(
                title="确认计算本期结果？",
                subject=f"测评期 {summary.month}（{summary.programme_name}）",
                text=(
                    "用本期已完成的问卷计算各项指标、排名与预警，替换本期尚未发布的结果"
                    "（约需数秒）。已发布的测评期不能重新计算，只能更正。"
                ),
                action=f"/results/{wave_id}/compute",
                fields=(),
                button="计算",
                back=f"/results/{wave_id}",
            ),
        )

    @post("/{wave_id:int}/compute", guards=[requires(*ANALYSTS)], status_code=303)
    async def compute(self, request: Request[Any, Any, Any], wave_id: FromPath[int]) -> Redirect:
        user = current_user(request)
        await _visible_wave(request, wave_id)
        try:
            result = await compute_wave(wave_id, username=user.username)
        except ComputeError as exc:
            return await _back(user, f"/results/{wave_id}", {"error": f"计算失败：{exc}"})
        return Redirect(f"/results/{wave_id}?msg=computed&n={result.n_results}", status_code=303)

    @get("/{wave_id:int}/revise", guards=[requires(*ANALYSTS)], name="results-revise")
    async def revise_page(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        f: FromQuery[str | None] = None,
    ) -> Template:
        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        flashed = await _flashed(user, f)
        error = str(flashed.get("error", ""))
        return Template(
            "results/revise.html",
            context={
                "user": user,
                "summary": summary,
                "error": error,
                "reason": str(flashed.get("reason", "")),
                "revisions": await revisions_for_wave(wave_id),
            },
            status_code=422 if error else 200,
            headers={"Cache-Control": "no-store"},
        )

    @post("/{wave_id:int}/revise", guards=[requires(*ANALYSTS)], status_code=303)
    async def revise(self, request: Request[Any, Any, Any], wave_id: FromPath[int]) -> Redirect:
        user = current_user(request)
        await _visible_wave(request, wave_id)
        reason = _text(await request.form(), "reason")
        try:
            done = await revise_wave(wave_id, reason=reason, username=user.username)
        except ComputeError as exc:
            return await _back(
                user, f"/results/{wave_id}/revise", {"error": str(exc), "reason": reason[:1000]}
            )
        return Redirect(f"/results/{wave_id}/revisions/{done.number}", status_code=303)

    @get(
        "/{wave_id:int}/revisions/{number:int}",
        guards=[requires(*VIEWERS)],
        name="results-revision",
    )
    async def revision(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], number: FromPath[int]
    ) -> Template:
        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        found = await revision_view(wave_id, number)
        if found is None or (found[0].is_draft and not user.has_any(ANALYSTS)):
            raise NotFoundException("没有这个版本，或您无权查看")
        info, run, rows = found
        district = await district_code_of(user.district_id)
        if district is not None:
            rows = [r for r in rows if r.district_code == district]
        return Template(
            "results/revision.html",
            context={
                "user": user,
                "summary": summary,
                "info": info,
                "run": run,
                "rows": rows,
                "revisions": [
                    r
                    for r in await revisions_for_wave(wave_id)
                    if user.has_any(ANALYSTS) or not r.is_draft
                ],
                "can_publish": user.has_any(ANALYSTS),
            },
        )

    @get("/{wave_id:int}/review", guards=[requires(*VIEWERS)], name="results-review")
    async def review_page(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        f: FromQuery[str | None] = None,
    ) -> Template:
        """复核与申诉: the wave's flagged/held/decided sanctions and its appeals, with the forms
        the user's roles allow (reviewers per the policy; appeals entered by analysts and
        admins, decided by the committee and admins)."""
        from survey.results.appeals import list_appeals
        from survey.results.compute import wave_by_id, wave_policy
        from survey.results.review import reviews_for_wave

        user = current_user(request)
        summary = await _review_wave(request, wave_id)
        flashed = await _flashed(user, f)
        error = str(flashed.get("error", ""))
        reviewers: tuple[str, ...] = ()
        with contextlib.suppress(ComputeError):  # no computation yet: nobody reviews
            reviewers = (await wave_policy(await wave_by_id(wave_id), recorded=True)).reviewers
        reviews = await reviews_for_wave(wave_id)
        view = await wave_view(wave_id, await district_code_of(user.district_id))
        sanctioned = [(r, s) for r, s in view.sanctions if s.get("review") != "withdrawn"]
        return Template(
            "results/review.html",
            context={
                "user": user,
                "summary": summary,
                "error": error,
                "message": str(flashed.get("message", "")),
                "reviews": reviews,
                "appeals": await list_appeals(wave_id),
                "sanctioned": sanctioned,
                "can_review": user.has_any(reviewers) and summary.status != "published",
                "can_read": any(w.id == wave_id for w in await _waves(user)),
                "reviewers": reviewers,
                "can_enter_appeal": user.has_any(ANALYSTS) and summary.status == "published",
                "can_decide_appeal": user.has_any(("committee", "admin")),
            },
            status_code=422 if error else 200,
            headers={"Cache-Control": "no-store"},
        )

    @post("/{wave_id:int}/review", guards=[requires(*VIEWERS)], status_code=303)
    async def review_decide(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int]
    ) -> Redirect:
        from survey.results.appeals import add_appeal, decide_appeal
        from survey.results.review import decide

        user = current_user(request)
        summary = await _review_wave(request, wave_id)
        form = await request.form()

        def field(name: str) -> str:
            return _text(form, name)

        action = field("action")
        try:
            if action == "review":
                done = await decide(
                    wave_id, field("unit_code"), index_id=field("index_id"),
                    outcome=field("outcome"), reason=field("reason"),
                    username=user.username, roles=tuple(user.roles),
                )  # fmt: skip
                message = f"已记录：{done.unit_name}{done.name}（{field('outcome')}）"
            elif action == "appeal" and user.has_any(ANALYSTS):
                added = await add_appeal(
                    wave_id, field("unit_code"), grounds=field("grounds"),
                    username=user.username, index_id=field("index_id") or None,
                )  # fmt: skip
                message = f"已登记申诉 {added.id}（{added.unit_name}）"
            elif action == "decide" and user.has_any(("committee", "admin")):
                appeal_id = int(field("appeal_id") or 0)
                decided = await decide_appeal(
                    appeal_id, outcome=field("outcome"), reason=field("reason"),
                    username=user.username, to_level=field("to_level") or None,
                )  # fmt: skip
                message = f"申诉 {decided.id} 已决定：{decided.outcome}" + (
                    f"（作为第 {decided.revision} 版发布）" if decided.revision else ""
                )
            else:
                raise ComputeError("您的角色不能进行这项操作")
        except (ComputeError, ValueError) as exc:
            return await _back(user, f"/results/{summary.id}/review", {"error": str(exc)})
        return await _back(user, f"/results/{summary.id}/review", {"message": message})

    @get("/{wave_id:int}/integrity", guards=[requires(*ANALYSTS)], name="results-integrity")
    async def integrity_page(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        f: FromQuery[str | None] = None,
    ) -> Template:
        """数据质量核查: the wave's integrity flags with the interviews each names, the
        exclusion form (a written reason is required) and the interviews excluded so far."""
        from survey.results.exclusions import batches, exclusions_for_wave, flags_for_wave

        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        flashed = await _flashed(user, f)
        error = str(flashed.get("error", ""))
        return Template(
            "results/integrity.html",
            context={
                "user": user,
                "summary": summary,
                "error": error,
                "message": str(flashed.get("message", "")),
                "reason": str(flashed.get("reason", "")),
                # flags naming interviews still counted first: those are the ones to act on
                "flags": sorted(await flags_for_wave(wave_id), key=lambda fl: not fl.open_ids),
                "batches": batches(await exclusions_for_wave(wave_id)),
            },
            status_code=422 if error else 200,
            headers={"Cache-Control": "no-store"},
        )

    @post("/{wave_id:int}/integrity", guards=[requires(*ANALYSTS)], status_code=303)
    async def integrity_act(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int]
    ) -> Redirect:
        from survey.results.exclusions import exclude_responses, lift_exclusion, parse_ids

        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        form = await request.form()
        reason = _text(form, "reason")
        restore = form.get("action") == "restore"
        back = f"/results/{summary.id}/integrity"
        try:
            ids = parse_ids(_text(form, "ids"))
            for value in [*form.getall("id", []), *form.getall("batch", [])]:
                ids += parse_ids(value if isinstance(value, str) else "")
            act = lift_exclusion if restore else exclude_responses
            done = await act(wave_id, ids, reason=reason, username=user.username)
        except ComputeError as exc:
            return await _back(user, back, {"error": str(exc), "reason": reason[:500]})
        return await _back(
            user, back, {"message": done.describe("恢复计入" if restore else "排除")}
        )

    @get("/{wave_id:int}/import", guards=[requires(*ANALYSTS)], name="results-import")
    async def import_page(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int]
    ) -> Template:
        summary = await _visible_wave(request, wave_id)
        return Template(
            "results/import.html",
            context={
                "user": current_user(request),
                "summary": summary,
                "instruments": _instrument_choices(),
                "result": None,
                "problems": [],
            },
        )

    @post("/{wave_id:int}/import", guards=[requires(*ANALYSTS)], status_code=200)
    async def import_file(
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        data: Annotated[DeliveredUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template:
        user = current_user(request)
        summary = await _visible_wave(request, wave_id)
        result = None
        problems: list[str] = []
        status = 200
        mapping = data.mapping if data.mapping is not None and data.mapping.filename else None
        try:
            done = await import_responses(
                wave_id,
                data.file.filename or "upload.csv",
                data.instrument,
                mapping.filename if mapping is not None else None,
                username=user.username,
                data=await data.file.read(),
                mapping_data=await mapping.read() if mapping is not None else None,
            )
            result = done.describe()
        except ImportRejected as exc:
            problems = [str(p) for p in exc.problems] or [str(exc)]
            status = 422
        except ComputeError as exc:
            problems = [str(exc)]
            status = 422
        return Template(
            "results/import.html",
            status_code=status,
            context={
                "user": user,
                "summary": summary,
                "instruments": _instrument_choices(),
                "result": result,
                "problems": problems,
            },
        )

    @get("/{wave_id:int}/charts/{name:str}", guards=[requires(*VIEWERS)], name="results-chart")
    async def chart(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], name: FromPath[str]
    ) -> Response[bytes]:
        """One chart of the dashboard as SVG (``<index id>-forest.svg`` …), a separately cached
        resource: built once per revision of the stored results, revalidated by ETag."""
        user = current_user(request)
        await _visible_wave(request, wave_id)
        view = await wave_view(wave_id, await district_code_of(user.district_id))
        svg = view.chart(name.removesuffix(".svg")) if name.endswith(".svg") else None
        if svg is None:
            raise NotFoundException("没有这张图")
        return revalidated(request, svg.encode("utf-8"), "image/svg+xml")

    @get(
        "/{wave_id:int}/report/{fmt:str}",
        guards=[requires(*VIEWERS)],
        name="results-report",
        opt={"skip_compression": True},
    )
    async def report(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], fmt: FromPath[str]
    ) -> Response[bytes]:
        user = current_user(request)
        await _visible_wave(request, wave_id)
        _checked(report_format, fmt)
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
        self,
        request: Request[Any, Any, Any],
        wave_id: FromPath[int],
        fmt: FromPath[str],
        table: FromQuery[str] = "results",
    ) -> Response[bytes]:
        await _visible_wave(request, wave_id)
        _checked(results_export, fmt, table)
        await record(current_user(request).username, "results.export", f"wave={wave_id} fmt={fmt}")
        district = await district_code_of(current_user(request).district_id)
        return _download(*await export_results(wave_id, fmt, table=table, district_code=district))

    @get(
        "/{wave_id:int}/microdata/{fmt:str}",
        guards=[requires(*ANALYSTS)],
        name="results-microdata",
    )
    async def microdata(
        self, request: Request[Any, Any, Any], wave_id: FromPath[int], fmt: FromPath[str]
    ) -> Response[bytes]:
        await _visible_wave(request, wave_id)
        _checked(microdata_format, fmt)
        await record(current_user(request).username, "results.microdata", f"wave={wave_id}.{fmt}")
        try:
            district = await district_code_of(current_user(request).district_id)
            return _download(*await export_microdata(wave_id, fmt, district_code=district))
        except ComputeError as exc:
            # e.g. a weighting cell without respondents: the analyst's data, not a server fault
            raise HTTPException(status_code=409, detail=str(exc)) from exc


ROUTES: list[Any] = [ResultsController]
