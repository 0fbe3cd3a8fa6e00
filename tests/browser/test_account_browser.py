"""我的账号 in a real Chromium: create an API token (shown once), read the API with it, revoke it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external


@pytest.fixture()
def users_db(db: None) -> None:
    """The demo registry, users, programme and open wave (no areas' demo data)."""
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo(()))


def _api(base: str, secret: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}/api/v1/waves", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_token_on_the_account_page(
    live_server: str, users_db: None, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    page.goto(f"{live_server}/login")
    page.get_by_label("用户名").fill("analyst")
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="王分析").click()
    expect(page.get_by_role("heading", name="我的账号")).to_be_visible()
    expect(page.get_by_text("您还没有接口令牌。")).to_be_visible()

    page.get_by_label("名称（用途，如「统计所 R 脚本」）").fill("统计所 R 脚本")
    page.get_by_label("有效期").select_option(label="30 天")
    page.get_by_role("button", name="创建令牌").click()
    expect(page.get_by_role("status")).to_contain_text("已创建令牌「统计所 R 脚本」")
    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("pat_") and len(secret) > 40
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.screenshot(path=str(screenshot_path(f"account-token-{size}")), full_page=True)

    status, body = _api(live_server, secret)
    assert status == 200 and body["items"][0]["month"] == "2026-11"

    page.goto(f"{live_server}/account")
    assert secret not in page.content()  # shown once
    row = page.get_by_role("listitem", name="令牌 统计所 R 脚本")
    expect(row).to_contain_text("有效")
    expect(row).not_to_contain_text("从未使用")
    row.get_by_role("button", name="撤销").click()
    expect(page.get_by_role("status")).to_contain_text("令牌已撤销")
    expect(page.get_by_role("listitem", name="令牌 统计所 R 脚本")).to_contain_text("已撤销")
    page.screenshot(path=str(screenshot_path(f"account-revoked-{size}")), full_page=True)
    status, body = _api(live_server, secret)
    assert status == 401 and body["detail"] == "令牌无效、已撤销或已过期"
    assert external == [], f"page loaded external resources: {external}"
    context.close()
