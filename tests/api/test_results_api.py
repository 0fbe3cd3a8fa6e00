"""The read-only results API: access by role and district (committee: published waves only),
the figures as stored, pagination, ETag / If-None-Match, and a documented OpenAPI schema."""

from __future__ import annotations

import httpx
import pytest

from survey.audit import entries
from survey.results.tables import IndexResult
from survey.web.app import create_app
from tests.api.conftest import PASSWORD, PRAISE, SANCTION, Scenario
from tests.helpers import login

pytestmark = pytest.mark.anyio


async def _as(client: httpx.AsyncClient, username: str) -> None:
    client.cookies.clear()
    assert (await login(client, username, PASSWORD)).status_code == 303


async def _waves(client: httpx.AsyncClient) -> set[tuple[str, str]]:
    answer = await client.get("/api/v1/waves")
    assert answer.status_code == 200, answer.text
    return {(w["programme"], w["month"] + ":" + w["status"]) for w in answer.json()["items"]}


NANCHENG_PUBLISHED = ("nancheng-lsyd", "2026-09:published")
NANCHENG_DRAFT = ("nancheng-lsyd", "2026-10:closed")
CITY_PUBLISHED = ("shifan-city", "2026-09:published")


@pytest.mark.parametrize(
    ("username", "waves", "programmes"),
    [
        # Unlimited analyst: everything, drafts included.
        ("analyst", {NANCHENG_PUBLISHED, NANCHENG_DRAFT, CITY_PUBLISHED}, 2),
        # Committee: published waves only.
        ("committee", {NANCHENG_PUBLISHED, CITY_PUBLISHED}, 2),
        ("nc_committee", {NANCHENG_PUBLISHED, CITY_PUBLISHED}, 2),
        # 北岭区's analyst: the city programme only (南城区's programme is not theirs).
        ("bl_analyst", {CITY_PUBLISHED}, 1),
    ],
)
async def test_waves_by_role_and_district(
    scenario: Scenario,
    client: httpx.AsyncClient,
    username: str,
    waves: set[tuple[str, str]],
    programmes: int,
) -> None:
    await _as(client, username)
    assert await _waves(client) == waves
    answer = (await client.get("/api/v1/programmes")).json()
    assert answer["total"] == programmes
    published_only = await client.get("/api/v1/waves", params={"status": "published"})
    assert {w["month"] for w in published_only.json()["items"]} == {"2026-09"}


async def test_committee_cannot_read_a_draft(scenario: Scenario, client: httpx.AsyncClient) -> None:
    await _as(client, "committee")
    for path in (f"/api/v1/waves/{scenario.draft}", f"/api/v1/waves/{scenario.draft}/results"):
        answer = await client.get(path)
        assert answer.status_code == 404
        assert answer.json()["detail"] == "没有找到该测评期，或您无权查看"
    await _as(client, "analyst")
    draft = await client.get(f"/api/v1/waves/{scenario.draft}/results")
    assert [r["estimate"] for r in draft.json()["items"]] == [95.0, 90.0]


async def test_district_limited_users_read_their_district_only(
    scenario: Scenario, client: httpx.AsyncClient
) -> None:
    expected = {
        "analyst": {"990102", "990103"},
        "nc_committee": {"990102"},
        "nc_analyst": {"990102"},
        "bl_analyst": {"990103"},
    }
    for username, units in expected.items():
        await _as(client, username)
        answer = await client.get(f"/api/v1/waves/{scenario.city}/results")
        assert {r["unit_code"] for r in answer.json()["items"]} == units, username
    await _as(client, "bl_analyst")
    assert (await client.get(f"/api/v1/waves/{scenario.published}/results")).status_code == 404


async def test_pollster_is_refused(scenario: Scenario, client: httpx.AsyncClient) -> None:
    await _as(client, "pollster")
    answer = await client.get("/api/v1/waves")
    assert answer.status_code == 403 and answer.json()["error"] == "无权访问"


async def test_results_carry_the_stored_figures(
    scenario: Scenario, client: httpx.AsyncClient
) -> None:
    await _as(client, "committee")
    detail = (await client.get(f"/api/v1/waves/{scenario.published}")).json()
    assert detail["wave"]["status"] == "published" and detail["wave"]["status_name"] == "发布"
    assert detail["run"]["n_responses"] == 300
    assert detail["indices"] == [{"id": "anquangan", "name": "公众安全感", "levels": ["station"]}]
    page = (await client.get(detail["results_url"])).json()
    assert page["total"] == 3 and page["next"] is None
    by_unit = {r["unit_code"]: r for r in page["items"]}
    # The values written by the scenario (tests/api/conftest.py), in rank order.
    assert [r["unit_code"] for r in page["items"]] == ["990102P01", "990102P02", "990102P03"]
    beishan = by_unit["990102P03"]
    assert beishan == {
        **beishan,
        "estimate": 88.96,
        "estimate_published": 89.0,
        "se": 2.0,
        "ci_lower": 84.0,
        "ci_upper": 92.6,
        "n": 100,
        "n_eff": 80.0,
        "rank": 3,
        "n_ranked": 3,
        "rank_lower": 2,
        "rank_upper": 3,
        "p_bottom_k": 0.9,
        "distinguishable": False,
        "status": "ranked",
        "sanctions": [SANCTION],
        "praise": [],
    }
    assert by_unit["990102P01"]["praise"] == [PRAISE]
    assert by_unit["990102P01"]["estimate_published"] == 96.2  # round-half-even of 96.25
    filtered = await client.get(
        detail["results_url"], params={"unit": "990102P02", "level": "station"}
    )
    assert [r["unit_name"] for r in filtered.json()["items"]] == ["西城派出所"]
    assert ("committee", "api.results") in [(e.username, e.action) for e in await entries()]


async def test_pagination(scenario: Scenario, client: httpx.AsyncClient) -> None:
    await _as(client, "analyst")
    first = (await client.get(f"/api/v1/waves/{scenario.published}/results?limit=2")).json()
    assert first["total"] == 3 and first["limit"] == 2 and first["offset"] == 0
    assert len(first["items"]) == 2
    assert first["next"] == f"/api/v1/waves/{scenario.published}/results?limit=2&offset=2"
    second = (await client.get(first["next"])).json()
    assert second["next"] is None and second["offset"] == 2
    units = [r["unit_code"] for r in first["items"] + second["items"]]
    assert units == ["990102P01", "990102P02", "990102P03"]
    waves = (await client.get("/api/v1/waves", params={"limit": 1, "offset": 1})).json()
    assert waves["total"] == 3 and len(waves["items"]) == 1
    assert waves["next"] == "/api/v1/waves?limit=1&offset=2"
    beyond = (await client.get("/api/v1/waves", params={"offset": 10})).json()
    assert beyond["items"] == [] and beyond["next"] is None
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        assert (await client.get("/api/v1/waves", params=bad)).status_code == 400, bad


async def test_etag_and_not_modified(scenario: Scenario, client: httpx.AsyncClient) -> None:
    await _as(client, "analyst")
    path = f"/api/v1/waves/{scenario.published}/results"
    first = await client.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "no-store"
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    weak = await client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200
    # A recomputation changes a figure: the same tag no longer matches.
    await IndexResult.update({IndexResult.estimate: 89.5}).where(
        IndexResult.unit_code == "990102P03"
    )
    changed = await client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # What a user may read is part of the answer: the committee's list differs from the analyst's.
    analyst_tag = (await client.get("/api/v1/waves")).headers["etag"]
    await _as(client, "committee")
    committee = await client.get("/api/v1/waves", headers={"If-None-Match": analyst_tag})
    assert committee.status_code == 200 and committee.headers["etag"] != analyst_tag


def test_openapi_documents_every_field() -> None:
    schema = create_app().openapi_schema.to_schema()
    components = schema["components"]["schemas"]
    names = (
        "ProgrammeOut",
        "WaveOut",
        "IndexOut",
        "RunOut",
        "WaveDetailOut",
        "MeasureOut",
        "ResultOut",
        "ProgrammePage",
        "WavePage",
        "ResultPage",
    )
    undocumented = []
    for name in names:
        component = next(v for k, v in components.items() if k.endswith(name))
        for field, spec in component["properties"].items():
            if not spec.get("description"):
                undocumented.append(f"{name}.{field}")
    assert not undocumented
    paths = schema["paths"]
    for path in ("/api/v1/programmes", "/api/v1/waves", "/api/v1/waves/{wave_id}/results"):
        for parameter in paths[path]["get"].get("parameters", []):
            assert parameter.get("description"), (path, parameter["name"])


async def test_programmes_show_the_rules_and_instruments_in_force(
    scenario: Scenario, client: httpx.AsyncClient
) -> None:
    """A programme's rules and instruments in the API are those the programmes service shows:
    a new policy version and a new web instrument show at once."""
    from survey.programmes.service import read_policy_source, set_policy, update_programme

    text, name = read_policy_source("default_review")
    await set_policy("nancheng-lsyd", text, name)
    await update_programme("nancheng-lsyd", web_instrument="anquangan")
    await _as(client, "analyst")
    items = (await client.get("/api/v1/programmes")).json()["items"]
    nancheng = next(p for p in items if p["code"] == "nancheng-lsyd")
    assert nancheng["policy"] == "default_review"
    assert nancheng["instruments"] == ["anquangan", "liangshuaiyidu"]
