"""The residents' survey pages ``/s/<token>``: public (the token is the credential), CSRF-checked.

Thin: parse the request, call ``survey.collection.respondent``, render its screen
(``survey.web.survey_views``) or redirect.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Request, Response, get, head, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from survey.collection import dispositions, respondent
from survey.web import flash
from survey.web.auth import PUBLIC_OPT
from survey.web.survey_views import PROBLEMS, SurveyView, survey_view, view_from

# Survey pages hold a resident's answers: never cache them (shared phones, proxies).
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _no_session(request: Request[Any, Any, Any]) -> None:
    """Residents are anonymous: an empty session is dropped instead of stored (the session
    middleware would otherwise write a session row for every survey page view). A signed-in
    user's session is left alone."""
    if not request.scope.get("session"):
        request.clear_session()


def _render(view: SurveyView) -> Template:
    return Template(
        "survey/page.html", context={"view": view}, status_code=view.status_code, headers=NO_STORE
    )


def _result(result: respondent.PageResult, token: str) -> Template | Redirect:
    if result.redirect is not None:
        return Redirect(result.redirect, status_code=303, headers=NO_STORE)
    assert result.screen is not None
    return _render(survey_view(result.screen, token))


async def _redirect_to_view(token: str, view: SurveyView) -> Redirect:
    """Post/Redirect/Get: a screen re-shown with its errors is stored for this link and shown
    by the GET the browser is sent to, so Back never offers to resubmit the form."""
    path = f"/s/{token}" + (f"?p={view.screen}" if view.screen else "")
    url = await flash.redirect_url(path, f"token:{token}", asdict(view))
    return Redirect(url, status_code=303, headers=NO_STORE)


@get("/s/{token:str}", opt={PUBLIC_OPT: True}, name="survey-show")
async def show_survey(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    p: FromQuery[str | None] = None,
    f: FromQuery[str | None] = None,
) -> Template | Redirect:
    _no_session(request)
    stored = await flash.take(f, f"token:{token}") if f else None
    if stored is not None:
        return _render(view_from(stored))
    result = await respondent.show(token, p)
    if result.invitation_id is not None and dispositions.is_browser_open(
        request.method, request.headers
    ):
        await dispositions.record_event(result.invitation_id, dispositions.OPENED)
    return _result(result, token)


@head("/s/{token:str}", opt={PUBLIC_OPT: True}, name="survey-head")
async def head_survey(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[None]:
    """A HEAD of a link (SMS apps and link checkers probe links before anyone taps them): the
    status and headers the GET would give, no body and no change to the invitation."""
    _no_session(request)
    result = await respondent.show(token, None)
    headers = dict(NO_STORE)
    if result.redirect is not None:
        return Response(None, status_code=303, headers={**headers, "Location": result.redirect})
    assert result.screen is not None
    view = survey_view(result.screen, token)
    return Response(None, status_code=view.status_code, headers=headers)


@post("/s/{token:str}", opt={PUBLIC_OPT: True}, name="survey-submit")
async def submit_survey(
    request: Request[Any, Any, Any], token: FromPath[str]
) -> Template | Redirect:
    _no_session(request)
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    result = await respondent.submit(token, fields)
    if result.screen is not None:
        view = survey_view(result.screen, token)
        if view.status_code == 422:
            return await _redirect_to_view(token, view)
    return _result(result, token)


@post("/s/{token:str}/optout", opt={PUBLIC_OPT: True}, name="survey-optout")
async def opt_out_survey(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """「不再接收」 on the intro page: recorded as a refusal; no more reminders to this link."""
    _no_session(request)
    known = await dispositions.opt_out(token)
    view = SurveyView(
        "problem",  # a plain message page (not "done": the link can still be used)
        "不再接收",
        "已为您登记：不再接收本调查的短信" if known else PROBLEMS["unknown"][1],
        "感谢您的回复。本期调查不会再向您发送提醒短信。如改变主意，仍可通过原链接参加调查。"
        if known
        else PROBLEMS["unknown"][2],
        status_code=200 if known else 404,
    )
    return _render(view)


ROUTES: list[Any] = [show_survey, head_survey, submit_survey, opt_out_survey]
