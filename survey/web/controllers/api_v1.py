"""The read-only results API ``/api/v1`` (JSON): programmes, waves and results.

Who reads what is exactly as on the results pages (``survey.results.reading``): committee members,
analysts and admins; committee members only published waves; district-limited users only their
district's units. A request is authenticated by the session cookie or by a personal API token
(``Authorization: Bearer …``, ``survey.web.token_auth``). Lists are paginated (``limit``,
``offset``, ``next``); every answer carries an ``ETag`` and a matching ``If-None-Match`` gets
``304 Not Modified`` without a body.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter, PathParameter

from survey.audit import record
from survey.programmes.service import ProgrammeInfo
from survey.results.queries import ResultRow, WaveSummary, run_for_wave
from survey.results.reading import (
    readable_programmes,
    readable_results,
    readable_wave,
    readable_waves,
)
from survey.tokens.service import API_ROLES, TokenUse
from survey.waves import STATUS_NAMES
from survey.web.api_schemas import (
    IndexOut,
    MeasureOut,
    ProgrammeOut,
    ProgrammePage,
    ResultOut,
    ResultPage,
    RunOut,
    WaveDetailOut,
    WaveOut,
    WavePage,
)
from survey.web.auth import current_user, requires
from survey.web.caching import etag_of, matches

T = TypeVar("T")
MAX_LIMIT = 1000
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="每页条数（1–1000）")]
Offset = Annotated[int, Parameter(ge=0, description="从第几条开始（从 0 起）")]
WaveId = Annotated[int, PathParameter(description="测评期 id（见 /api/v1/waves）")]


def _answer(request: Request[Any, Any, Any], payload: T) -> Response[T]:
    """``payload`` as JSON with its ETag, or 304 when the client already holds it. The ETag is a
    hash of the body, so it changes exactly when what this user may read changes."""
    body = msgspec.json.encode(payload)
    etag = etag_of(body)
    # Cache-Control: no-store, as on every authenticated answer (survey.web.security); the ETag
    # still spares the body of a conditional request.
    headers = {"ETag": etag, "Vary": "Authorization, Cookie"}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=304, headers=headers)  # type: ignore[arg-type]
    return Response(body, media_type="application/json", headers=headers)  # type: ignore[arg-type]


def _next(request: Request[Any, Any, Any], offset: int, limit: int, total: int) -> str | None:
    if offset + limit >= total:
        return None
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    query["offset"] = str(offset + limit)
    return f"{request.url.path}?{urlencode(query)}"


def _programme(p: ProgrammeInfo) -> ProgrammeOut:
    return ProgrammeOut(
        code=p.code,
        name=p.name,
        region_code=p.region_code,
        region_name=p.region_name,
        instruments=[p.web_instrument, p.phone_instrument],
        policy=p.policy_id,
    )


def _wave(w: WaveSummary) -> WaveOut:
    return WaveOut(
        id=w.id,
        programme=w.programme_code,
        month=w.month,
        status=w.status,
        status_name=STATUS_NAMES.get(w.status, w.status),
        has_results=w.has_results,
    )


def _measures(entries: list[dict[str, Any]]) -> list[MeasureOut]:
    return [
        MeasureOut(
            level=str(e.get("level", "")),
            name=str(e.get("name", "")),
            reason=str(e.get("reason", "")),
            measure=str(e.get("measure", "")),
        )
        for e in entries
    ]


def _result(r: ResultRow) -> ResultOut:
    return ResultOut(
        index=r.index_id,
        index_name=r.index_name,
        level=r.level,
        unit_code=r.unit_code,
        unit_name=r.unit_name,
        district_code=r.district_code,
        scale=r.scale,
        estimate=r.estimate,
        estimate_published=None if r.estimate is None else round(r.estimate, 1),
        se=r.se,
        ci_lower=r.ci_lower,
        ci_upper=r.ci_upper,
        ci_method=r.ci_method,
        n=r.n,
        n_eff=r.n_eff,
        deff=r.deff,
        dk_rate=r.dk_rate,
        status=r.status,
        rank=r.rank,
        n_ranked=r.n_ranked,
        rank_lower=r.rank_lower,
        rank_upper=r.rank_upper,
        p_bottom_k=r.p_bottom_k,
        distinguishable=r.distinguishable,
        target=r.target,
        fh_estimate=r.fh_estimate,
        fh_se=r.fh_se,
        sanctions=_measures(r.sanctions),
        praise=_measures(r.praises),
        instrument=r.instrument_id,
        instrument_version=r.instrument_version,
    )


async def _readable_wave(request: Request[Any, Any, Any], wave_id: int) -> WaveSummary:
    wave = await readable_wave(current_user(request), wave_id)
    if wave is None:
        raise NotFoundException("没有找到该测评期，或您无权查看")
    return wave


class ApiV1Controller(Controller):
    path = "/api/v1"
    guards = [requires(*API_ROLES)]  # noqa: RUF012 - Litestar reads this class attribute
    tags = ["结果接口 v1"]  # noqa: RUF012

    @get("/programmes", summary="测评方案列表")
    async def programmes(
        self, request: Request[Any, Any, Any], limit: Limit = 100, offset: Offset = 0
    ) -> Response[ProgrammePage]:
        """The programmes whose waves the caller may read, by code."""
        items = await readable_programmes(current_user(request))
        return _answer(
            request,
            ProgrammePage(
                items=[_programme(p) for p in items[offset : offset + limit]],
                total=len(items),
                limit=limit,
                offset=offset,
                next=_next(request, offset, limit, len(items)),
            ),
        )

    @get("/waves", summary="测评期列表")
    async def waves(
        self,
        request: Request[Any, Any, Any],
        programme: Annotated[
            str | None, Parameter(description="只列出该测评方案代码的测评期")
        ] = None,
        status: Annotated[
            str | None, Parameter(description="只列出该状态的测评期（如 published）")
        ] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[WavePage]:
        """The waves the caller may read, newest first (committee members: published only)."""
        items = [
            w
            for w in await readable_waves(current_user(request))
            if (programme is None or w.programme_code == programme)
            and (status is None or w.status == status)
        ]
        return _answer(
            request,
            WavePage(
                items=[_wave(w) for w in items[offset : offset + limit]],
                total=len(items),
                limit=limit,
                offset=offset,
                next=_next(request, offset, limit, len(items)),
            ),
        )

    @get("/waves/{wave_id:int}", summary="一个测评期")
    async def wave(
        self, request: Request[Any, Any, Any], wave_id: WaveId
    ) -> Response[WaveDetailOut]:
        """One wave: status, its latest computation and the indices it has results for."""
        wave = await _readable_wave(request, wave_id)
        run = await run_for_wave(wave_id)
        rows = await readable_results(current_user(request), wave_id) or []
        indices: dict[str, IndexOut] = {}
        for r in rows:
            entry = indices.setdefault(
                r.index_id, IndexOut(id=r.index_id, name=r.index_name, levels=[])
            )
            if r.level not in entry.levels:
                entry.levels.append(r.level)
        return _answer(
            request,
            WaveDetailOut(
                wave=_wave(wave),
                run=None
                if run is None
                else RunOut(
                    computed_at=run.computed_at,
                    method_version=run.method_version,
                    policy_id=run.policy_id,
                    policy_version=run.policy_version,
                    n_responses=run.n_responses,
                    n_excluded=run.n_excluded,
                ),
                indices=list(indices.values()),
                results_url=f"/api/v1/waves/{wave_id}/results",
            ),
        )

    @get("/waves/{wave_id:int}/results", summary="一个测评期的结果")
    async def results(
        self,
        request: Request[Any, Any, Any],
        wave_id: WaveId,
        index: Annotated[str | None, Parameter(description="只列出该指标 id 的结果")] = None,
        level: Annotated[
            str | None,
            Parameter(description="只列出该层级的结果：station、street、district、department"),
        ] = None,
        unit: Annotated[str | None, Parameter(description="只列出该单位代码的结果")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Response[ResultPage]:
        """Estimate, SE, CI, n, n_eff, rank interval, P(bottom-k), status, sanctions and praise
        per index and unit, by index, level, then rank."""
        user = current_user(request)
        wave = await _readable_wave(request, wave_id)
        rows = [
            r
            for r in await readable_results(user, wave_id) or []
            if (index is None or r.index_id == index)
            and (level is None or r.level == level)
            and (unit is None or r.unit_code == unit)
        ]
        answer = _answer(
            request,
            ResultPage(
                wave=_wave(wave),
                items=[_result(r) for r in rows[offset : offset + limit]],
                total=len(rows),
                limit=limit,
                offset=offset,
                next=_next(request, offset, limit, len(rows)),
            ),
        )
        if answer.status_code != 304:
            how = (
                f"token={request.auth.token_id}"
                if isinstance(request.auth, TokenUse)
                else "session"
            )
            await record(user.username, "api.results", f"wave={wave_id} offset={offset} {how}")
        return answer
