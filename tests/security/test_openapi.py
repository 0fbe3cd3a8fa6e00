"""Finding 9: the OpenAPI schema (the whole route map) is served to signed-in staff only, and no
documentation page loading scripts from another site is served at all."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import login

pytestmark = pytest.mark.anyio
UI_PATHS = (
    "/schema/swagger",
    "/schema/redoc",
    "/schema/elements",
    "/schema/rapidoc",
    "/schema/scalar",
    "/schema/stoplight",
    "/schema/openapi.yaml",
    "/schema/openapi.yml",
)


async def test_the_schema_is_for_signed_in_staff_only(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    anonymous = await client.get("/schema/openapi.json")
    assert anonymous.status_code in (303, 401), anonymous.status_code
    assert '"paths"' not in anonymous.text and "/admin/users" not in anonymous.text
    assert (await login(client, "committee")).status_code == 303
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert "/admin/users" in schema.json()["paths"]
    assert schema.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", UI_PATHS)
async def test_no_documentation_page_with_external_scripts(
    demo_city: None, client: httpx.AsyncClient, path: str
) -> None:
    assert (await login(client, "admin")).status_code == 303
    response = await client.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert "cdn" not in response.text.lower() and "<script" not in response.text


async def test_the_schema_root_is_the_json_itself(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "admin")).status_code == 303
    root = await client.get("/schema")
    assert root.status_code == 200 and "json" in root.headers["content-type"]
    assert "<script" not in root.text and "/admin/users" in root.json()["paths"]
