"""docs/api.md names every field of the API's schemas and every route, so it cannot rot."""

from __future__ import annotations

import msgspec
from litestar.routes import HTTPRoute

from survey.web import api_schemas
from survey.web.app import create_app
from tests.conftest import REPO

DOC = (REPO / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_result_field_is_documented() -> None:
    missing = [f for f in msgspec.structs.fields(api_schemas.ResultOut) if f"`{f.name}`" not in DOC]
    assert not missing
    for struct in (api_schemas.WaveOut, api_schemas.ProgrammeOut, api_schemas.RunOut):
        assert all(f"`{f.name}`" in DOC for f in msgspec.structs.fields(struct)), struct


def test_every_route_is_documented() -> None:
    paths = {
        route.path.replace(":int", "")
        for route in create_app().routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/v1")
    }
    assert paths and all(f"`{p}`" in DOC for p in paths), paths
