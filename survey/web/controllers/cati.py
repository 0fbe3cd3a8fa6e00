"""Telephone campaigns: the pollster console (take a case, interview, record outcomes) and the
supervisor view (progress, productivity, response rates, reserve batches, back-checks).

Thin: parse the form, check the role and district, call a ``survey.cati`` service, render."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from survey.cati import console, interview, supervisor
from survey.cati.attempts import record_console_outcome
from survey.cati.cases import CatiError
from survey.cati.outcomes import default_outcomes
from survey.cati.queue import next_case, release_case
from survey.cati.reporting import campaign_rates
from survey.estimation.aapor import RATE_NAMES
from survey.release import release_batches
from survey.web import flash
from survey.web.auth import current_user, requires

CALLERS = ("pollster",)
VIEWERS = ("pollster", "admin", "analyst", "supervisor")
READERS = ("admin", "analyst", "supervisor")
MANAGERS = ("admin", "supervisor")
# Messages shown after a redirect, by code (never free text from the query string).
MESSAGES = {
    "recorded": "已记录本次拨打结果。",
    "duplicate": "该结果已记录过（重复提交已忽略）。",
    "complete": "访问已完成并保存。谢谢！",
    "released": "号码已放回队列。",
    "not_held": "该号码已不在您名下（可能超时已释放或已结案）。",
}


def _one(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _form(request: Request[Any, Any, Any]) -> Any:
    return await request.form()


class ConsoleController(Controller):
    path = "/cati"

    @get("", guards=[requires(*VIEWERS)], name="cati-home")
    async def home(self, request: Request[Any, Any, Any], msg: FromQuery[str] = "") -> Template:
        return await self._home(request, MESSAGES.get(msg, ""), "")

    async def _home(
        self, request: Request[Any, Any, Any], message: str, error: str, status: int = 200
    ) -> Template:
        user = current_user(request)
        campaigns = (
            await console.pollster_campaigns(user.id, user.district_id)
            if user.has_any(CALLERS)
            else []
        )
        return Template(
            "cati/home.html",
            context={
                "user": user,
                "campaigns": campaigns,
                "all_campaigns": await supervisor.list_campaigns(user.district_id),
                "can_call": user.has_any(CALLERS),
                "can_supervise": user.has_any(READERS),
                "message": message,
                "error": error,
            },
            status_code=status,
        )

    @post("/{campaign_id:int}/next", guards=[requires(*CALLERS)], status_code=200)
    async def take_next(
        self, request: Request[Any, Any, Any], campaign_id: FromPath[int]
    ) -> Template | Redirect:
        user = current_user(request)
        try:
            await supervisor.get_campaign(campaign_id, user.district_id)
        except CatiError as exc:
            raise NotFoundException(str(exc)) from exc
        assignment = await next_case(campaign_id, user.id)
        if assignment.case_id is None:
            return await self._home(request, "", assignment.reason)
        return Redirect(f"/cati/case/{assignment.case_id}", status_code=303)

    async def _console(
        self,
        request: Request[Any, Any, Any],
        case_id: int,
        page: str | None,
        errors: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
        state: interview.InterviewState | None = None,
    ) -> Template | Redirect:
        user = current_user(request)
        try:
            view = await console.case_view(case_id, user.district_id)
        except CatiError as exc:
            raise NotFoundException(str(exc)) from exc
        if view.state != "open" or view.held_by != user.id:
            return Redirect("/cati?msg=not_held", status_code=303)
        flashed = await flash.take(request.query_params.get("f"), f"user:{user.id}") or {}
        if flashed:  # the errors of a POST that redirected here (Post/Redirect/Get)
            errors = dict(flashed.get("errors") or {})
            error = str(flashed.get("error", ""))
            status = 422
        instrument = await interview.campaign_instrument(view.campaign_id, view.instrument_id)
        state = state or await interview.load_interview(case_id, page)
        screen = console.screen_view(instrument, state)
        return Template(
            "cati/console.html",
            context={
                "user": user,
                "case": view,
                "instrument": instrument,
                "state": state,
                "screen": screen,
                "units": await interview.unit_choices(view.campaign_id) if screen.is_unit else [],
                "unit_ids": [lv.id for lv in instrument.unit.levels],
                "outcomes": [o for o in default_outcomes() if o.button],
                "idempotency_key": secrets.token_hex(16),
                "errors": errors or {},
                "error": error,
                "message": MESSAGES.get(request.query_params.get("msg", ""), ""),
            },
            status_code=status,
        )

    async def _back_to_case(
        self,
        request: Request[Any, Any, Any],
        case_id: int,
        page: str | None,
        *,
        error: str = "",
        errors: dict[str, str] | None = None,
    ) -> Redirect:
        """Post/Redirect/Get: the case page shows the errors of the refused POST."""
        path = f"/cati/case/{case_id}" + (f"?{urlencode({'page': page})}" if page else "")
        payload = {"error": error, "errors": errors or {}}
        url = await flash.redirect_url(path, f"user:{current_user(request).id}", payload)
        return Redirect(url, status_code=303)

    @get("/case/{case_id:int}", guards=[requires(*CALLERS)], name="cati-console")
    async def show_case(
        self,
        request: Request[Any, Any, Any],
        case_id: FromPath[int],
        page: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        return await self._console(request, case_id, page)

    @post("/case/{case_id:int}/answers", guards=[requires(*CALLERS)], status_code=200)
    async def save_answers(
        self, request: Request[Any, Any, Any], case_id: FromPath[int]
    ) -> Template | Redirect:
        user = current_user(request)
        form = await _form(request)
        page = _one(form, "page")
        back = _one(form, "go") == "back"
        fields = {key: form.getall(key) for key in form}
        try:
            await console.case_view(case_id, user.district_id)
            result = await interview.save_screen(
                case_id,
                user.id,
                page,
                fields,
                restart_screening=_one(form, "restart") == "1",
                back=back,
            )
        except CatiError as exc:
            return await self._back_to_case(request, case_id, page, error=str(exc))
        if result.completed:
            return Redirect("/cati?msg=complete", status_code=303)
        if result.errors:
            return await self._back_to_case(request, case_id, page, errors=result.errors)
        target = result.state.page
        if back:
            pages = result.state.pages
            position = pages.index(page) if page in pages else 0
            target = pages[max(position - 1, 0)]
        return Redirect(f"/cati/case/{case_id}?page={target}", status_code=303)

    @post("/case/{case_id:int}/outcome", guards=[requires(*CALLERS)], status_code=200)
    async def outcome(
        self, request: Request[Any, Any, Any], case_id: FromPath[int]
    ) -> Template | Redirect:
        user = current_user(request)
        form = await _form(request)
        try:
            view = await console.case_view(case_id, user.district_id)
            when_text = _one(form, "appointment_at")
            when = console.parse_local_datetime(when_text, view.timezone) if when_text else None
            result = await record_console_outcome(
                case_id,
                user.id,
                _one(form, "outcome"),
                _one(form, "idempotency_key"),
                appointment_at=when,
                personal=_one(form, "personal") == "1",
                note=_one(form, "note"),
            )
        except CatiError as exc:
            return await self._back_to_case(request, case_id, None, error=str(exc))
        code = "duplicate" if result.duplicate else "recorded"
        return Redirect(f"/cati?msg={code}", status_code=303)

    @post("/case/{case_id:int}/release", guards=[requires(*CALLERS)], status_code=200)
    async def release(self, request: Request[Any, Any, Any], case_id: FromPath[int]) -> Redirect:
        user = current_user(request)
        released = await release_case(case_id, user.id)
        return Redirect(f"/cati?msg={'released' if released else 'not_held'}", status_code=303)


class SupervisorController(Controller):
    path = "/cati/campaigns"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        campaign_id: int,
        message: str = "",
        error: str = "",
        status: int = 200,
    ) -> Template:
        user = current_user(request)
        try:
            view = await supervisor.get_campaign(campaign_id, user.district_id)
        except CatiError as exc:
            raise NotFoundException(str(exc)) from exc
        settings = await supervisor.campaign_settings(campaign_id)
        return Template(
            "cati/supervisor.html",
            context={
                "user": user,
                "campaign": view,
                "settings": settings,
                "progress": await supervisor.progress_rows(campaign_id),
                "interviewers": await supervisor.productivity(campaign_id, settings["timezone"]),
                "rates": await campaign_rates(campaign_id),
                "rate_names": RATE_NAMES,
                "batches": await supervisor.batch_info(campaign_id),
                # Only those who call residents back see whole numbers.
                "back_checks": await supervisor.back_check_rows(
                    campaign_id, with_phones=user.has_any(MANAGERS)
                ),
                "back_check_names": supervisor.BACK_CHECK_NAMES,
                "status_names": supervisor.STATUS_NAMES,
                "can_manage": user.has_any(MANAGERS),
                "message": message,
                "error": error,
            },
            status_code=status,
        )

    @get("/{campaign_id:int}", guards=[requires(*READERS)], name="cati-supervisor")
    async def show(self, request: Request[Any, Any, Any], campaign_id: FromPath[int]) -> Template:
        return await self._page(request, campaign_id)

    async def _act(
        self, request: Request[Any, Any, Any], campaign_id: int, action: Any
    ) -> Template:
        user = current_user(request)
        try:
            await supervisor.get_campaign(campaign_id, user.district_id)
        except CatiError as exc:
            raise NotFoundException(str(exc)) from exc
        try:
            message = await action(user)
        except CatiError as exc:
            return await self._page(request, campaign_id, error=str(exc), status=422)
        return await self._page(request, campaign_id, message=message)

    @post("/{campaign_id:int}/rules", guards=[requires(*MANAGERS)], status_code=200)
    async def rules(self, request: Request[Any, Any, Any], campaign_id: FromPath[int]) -> Template:
        form = await _form(request)

        async def action(user: Any) -> str:
            await supervisor.update_rules(
                campaign_id,
                status=_one(form, "status"),
                windows=_one(form, "calling_windows"),
                weekdays=_one(form, "excluded_weekdays"),
                max_attempts=_one(form, "max_attempts"),
                e_override=_one(form, "e_override"),
                username=user.username,
            )
            return "呼叫规则已保存。"

        return await self._act(request, campaign_id, action)

    @post("/{campaign_id:int}/release", guards=[requires(*MANAGERS)], status_code=200)
    async def release(
        self, request: Request[Any, Any, Any], campaign_id: FromPath[int]
    ) -> Template:
        form = await _form(request)

        async def action(user: Any) -> str:
            sample_text = _one(form, "sample_id")
            if not sample_text.isdigit():
                raise CatiError("请选择要开放备用批次的样本")
            batch, created = await supervisor.release_next_batch(
                campaign_id, int(sample_text), user.username, release=release_batches
            )
            return f"已开放第 {batch} 批备用样本，新增 {created} 个号码。"

        return await self._act(request, campaign_id, action)

    @post("/{campaign_id:int}/back-checks", guards=[requires(*MANAGERS)], status_code=200)
    async def draw(self, request: Request[Any, Any, Any], campaign_id: FromPath[int]) -> Template:
        form = await _form(request)

        async def action(user: Any) -> str:
            seed_text, share_text = _one(form, "seed").strip(), _one(form, "share").strip()
            if not seed_text.isdigit():
                raise CatiError("随机种子应为非负整数")
            try:
                share = float(share_text or "0.1")
            except ValueError as exc:
                raise CatiError("抽取比例应为 0 到 1 之间的数（例如 0.1）") from exc
            count = await supervisor.draw_back_check(
                campaign_id, int(seed_text), share, user.username
            )
            return f"已抽取 {count} 份完成访问进行回访复核（种子 {seed_text}）。"

        return await self._act(request, campaign_id, action)

    @post(
        "/{campaign_id:int}/back-checks/{check_id:int}",
        guards=[requires(*MANAGERS)],
        status_code=200,
    )
    async def check(
        self, request: Request[Any, Any, Any], campaign_id: FromPath[int], check_id: FromPath[int]
    ) -> Template:
        form = await _form(request)

        async def action(user: Any) -> str:
            await supervisor.record_back_check(
                campaign_id, check_id, _one(form, "result"), _one(form, "note"), user.username
            )
            return "复核结果已记录。"

        return await self._act(request, campaign_id, action)


ROUTES: list[Any] = [ConsoleController, SupervisorController]
