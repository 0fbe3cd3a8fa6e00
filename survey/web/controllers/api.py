"""JSON API routes (session-authenticated, CSRF-protected like forms), the read-only results API
``/api/v1`` (``api_v1``: session or personal API token) and the health check."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get

from survey.db import ping
from survey.registry import queries
from survey.web.auth import PUBLIC_OPT, current_user, requires
from survey.web.controllers.api_v1 import ApiV1Controller


class UnitOut(msgspec.Struct):
    code: str
    name: str
    level: str
    parent_code: str | None


class HealthOut(msgspec.Struct):
    status: str
    database: str


class ApiController(Controller):
    path = "/api"

    @get("/units", guards=[requires("admin", "analyst", "supervisor", "committee")])
    async def units(self, request: Request[Any, Any, Any]) -> list[UnitOut]:
        user = current_user(request)
        out: list[UnitOut] = []
        for district_id in await queries.district_ids(user.district_id):
            view = await queries.district_view(district_id)
            if view is None:
                continue
            out.append(UnitOut(view.code, view.name, "district", None))
            for street in view.streets:
                out.append(UnitOut(street.code, street.name, "street", view.code))
                out.extend(
                    UnitOut(c.code, c.name, "community", street.code) for c in street.communities
                )
        return out


@get("/health", opt={PUBLIC_OPT: True})
async def health() -> Response[HealthOut]:
    """200 when the database answers, 503 otherwise."""
    name, answers = await ping()
    if not answers:
        return Response(HealthOut("unavailable", name), status_code=503)
    return Response(HealthOut("ok", name))


ROUTES: list[Any] = [ApiController, ApiV1Controller, health]
