"""The residents' survey pages ``/s/<token>``: public (the token is the credential), CSRF-checked.

Thin: parse the request, call ``survey.collection.respondent``, render or redirect.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Request, Response, get, head, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from survey.collection import respondent
from survey.collection.respondent import ItemView, OptionView, SurveyView
from survey.web import flash
from survey.web.auth import PUBLIC_OPT

# Survey pages hold a resident's answers: never cache them (shared phones, proxies).
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _no_session(request: Request[Any, Any, Any]) -> None:
    """Residents are anonymous: an empty session is dropped instead of stored (the session
    middleware would otherwise write a session row for every survey page view). A signed-in
    user's session is left alone."""
    if not request.scope.get("session"):
        request.clear_session()


def _render(result: respondent.PageResult) -> Template | Redirect:
    if result.redirect is not None:
        return Redirect(result.redirect, status_code=303, headers=NO_STORE)
    assert result.view is not None
    return Template(
        "survey/page.html",
        context={"view": result.view},
        status_code=result.view.status_code,
        headers=NO_STORE,
    )


def _view_from(data: dict[str, Any]) -> SurveyView:
    items = tuple(
        ItemView(**{**i, "options": tuple(OptionView(**o) for o in i["options"])})
        for i in data["items"]
    )
    return SurveyView(**{**data, "items": items, "errors": tuple(data["errors"])})


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
        return _render(respondent.PageResult(_view_from(stored)))
    return _render(await respondent.show(token, p))


@head("/s/{token:str}", opt={PUBLIC_OPT: True}, name="survey-head")
async def head_survey(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[None]:
    """A HEAD of a link (SMS apps and link checkers probe links before anyone taps them): the
    status and headers the GET would give, no body and no change to the invitation."""
    _no_session(request)
    result = await respondent.show(token, None)
    headers = dict(NO_STORE)
    if result.redirect is not None:
        return Response(None, status_code=303, headers={**headers, "Location": result.redirect})
    assert result.view is not None
    return Response(None, status_code=result.view.status_code, headers=headers)


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
    if result.view is not None and result.view.status_code == 422:
        return await _redirect_to_view(token, result.view)
    return _render(result)


ROUTES: list[Any] = [show_survey, head_survey, submit_survey]
