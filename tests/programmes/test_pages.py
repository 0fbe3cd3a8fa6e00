"""The 测评方案 admin pages over HTTP: create (with every policy problem shown, nothing stored),
edit, upload a new policy version, read a stored version; a district-limited admin sees only
its district."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from survey.accounts import create_user
from survey.db.tables import PolicyVersion, Programme
from survey.ranking import default_policy_path
from tests.helpers import login

pytestmark = pytest.mark.anyio
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
POLICY = default_policy_path().read_text(encoding="utf-8")


async def _token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text[:300]
    match = CSRF.search(page.text)
    assert match
    return match.group(1)


async def _create(client: httpx.AsyncClient, policy: str | None, **fields: str) -> httpx.Response:
    data = {
        "_csrf_token": await _token(client, "/admin/programmes/"),
        "code": "beicheng-lsyd",
        "name": "北城两率一度",
        "region": "990102",
        "web_instrument": "liangshuaiyidu_web",
        "phone_instrument": "liangshuaiyidu",
        "policy": "default",
        **fields,
    }
    files = {"policy_file": ("mine.toml", policy.encode(), "text/plain")} if policy else None
    return await client.post("/admin/programmes/", data=data, files=files)


async def test_create_edit_and_version_a_programme_on_the_pages(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "admin")).status_code == 303
    bad = POLICY.replace("version = 1", "version = 0").replace(
        "threshold = 85\nladder", "threshold = 85\nthresholds = { jiaojing = 90 }\nladder", 1
    )
    response = await _create(client, bad)
    assert response.status_code == 422
    assert "办法文件有 2 个问题，未保存" in response.text
    assert "mine.toml:5: version = 0 无效" in response.text
    assert "&#39;jiaojing&#39; 不是已知的单位代码" in response.text
    assert 'value="北城两率一度"' in response.text  # the form keeps what was typed
    assert not await Programme.exists().where(Programme.code == "beicheng-lsyd")

    response = await _create(client, None, web_instrument="liangshuaiyidu")
    assert response.status_code == 422 and "不能用于网页自填" in response.text

    response = await _create(client, POLICY)
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "已创建测评方案" in page.text and "第 1 版" in page.text

    token = await _token(client, "/admin/programmes/beicheng-lsyd")
    edited = await client.post(
        "/admin/programmes/beicheng-lsyd",
        data={"_csrf_token": token, "name": "北城区两率一度月度测评",
              "web_instrument": "anquangan", "phone_instrument": "liangshuaiyidu"},
    )  # fmt: skip
    assert edited.status_code == 303
    row = await Programme.select(Programme.name, Programme.web_instrument).where(
        Programme.code == "beicheng-lsyd"
    )
    assert row == [{"name": "北城区两率一度月度测评", "web_instrument": "anquangan"}]

    v2 = POLICY.replace("version = 1", "version = 2").replace("threshold = 85", "threshold = 80")
    token = await _token(client, "/admin/programmes/beicheng-lsyd")
    uploaded = await client.post(
        "/admin/programmes/beicheng-lsyd/policy",
        data={"_csrf_token": token},
        files={"policy_file": ("v2.toml", v2.encode(), "text/plain")},
    )
    assert uploaded.status_code == 303
    page = await client.get(uploaded.headers["location"])
    assert "新的办法已保存为当前版本" in page.text and "第 2 版" in page.text
    assert await PolicyVersion.count() == 3  # the demo programme's and this one's two
    stored = await client.get("/admin/programmes/beicheng-lsyd/policy/2")
    assert stored.status_code == 200 and stored.text == v2
    # A version's time is shown in the installation's zone (Asia/Shanghai, UTC+8), not in UTC.
    await PolicyVersion.update(
        {PolicyVersion.created_at: dt.datetime(2026, 12, 4, 20, 30, tzinfo=dt.UTC)}
    ).where(PolicyVersion.number == 2)
    page = await client.get("/admin/programmes/beicheng-lsyd")
    assert "2026-12-05 04:30" in page.text and "2026-12-04 20:30" not in page.text


async def test_a_district_admin_sees_and_manages_only_its_district(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    await create_user("qu-admin", "pingan2026", frozenset({"admin"}), "区管理员", "990102")
    assert (await login(client, "qu-admin")).status_code == 303
    page = await client.get("/admin/programmes/")
    assert "nancheng-lsyd" in page.text
    assert '<option value="990102"' in page.text and '<option value="990100"' not in page.text
    response = await _create(client, None, region="990100")
    assert response.status_code == 422 and "只能为本人所在的区/县创建" in response.text
