"""Finding 6: inputs that gave a server error (500) get a 4xx with a Chinese message naming the
field, and nothing is stored."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from survey.db.tables import AppUser, Unit
from survey.demo import registry_csv
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio


async def test_a_display_name_longer_than_its_column_is_refused_by_name(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "admin")).status_code == 303
    token = await csrf_token(client)
    response = await client.post(
        "/admin/users",
        data={
            "username": "longname",
            "password": "long-enough-1",
            "roles": "analyst",
            "display_name": "长" * 150,
            "district_code": "",
            "_csrf_token": token,
        },
    )
    # Post/Redirect/Get: the form is shown again by a GET, with the message naming the field.
    assert response.status_code == 303, response.text[:300]
    shown = await client.get(response.headers["location"])
    assert shown.status_code == 422 and "姓名不能超过 100 个字" in shown.text
    assert not await AppUser.exists().where(AppUser.username == "longname")


async def test_a_unit_name_longer_than_its_column_is_refused_with_its_row(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    rows = list(csv.DictReader(io.StringIO(registry_csv().decode("utf-8"))))
    target = next(i for i, r in enumerate(rows) if r["kind"] in ("community", "社区"))
    rows[target]["name"] = "长" * 101
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    before = await Unit.count()
    assert (await login(client, "admin")).status_code == 303
    token = await csrf_token(client)
    response = await client.post(
        "/admin/registry",
        data={"_csrf_token": token},
        files={"file": ("registry.csv", out.getvalue().encode("utf-8"), "text/csv")},
    )
    assert response.status_code == 422, response.text[:300]
    assert "名称最长 100 个字符" in response.text
    assert f"第{target + 2}行" in response.text  # header is line 1
    assert await Unit.count() == before
    assert not await Unit.exists().where(Unit.name == "长" * 101)


@pytest.mark.parametrize("path", ["/static/app.css%00.txt", "/static/%00", "/static/a%00/b.css"])
async def test_a_nul_byte_in_a_static_path_is_not_found(
    db: None, client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "页面不存在" in response.text
