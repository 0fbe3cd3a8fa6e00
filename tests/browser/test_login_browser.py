"""A resident-facing-quality check of the login and home pages in a real Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_login_and_home(live_server: str, demo_db: None, browser: Any, size: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    page.goto(f"{live_server}/registry")
    expect(page).to_have_url(f"{live_server}/login?next=/registry")
    expect(page.get_by_role("heading", name="登录平安测评")).to_be_visible()
    page.screenshot(path=str(screenshot_path(f"login-{size}")), full_page=True)

    page.get_by_label("用户名").fill("analyst")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")

    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/registry")
    expect(page.get_by_role("heading", name="南城区")).to_be_visible()
    expect(page.get_by_role("link", name="城关街道")).to_be_visible()
    # Phone layout: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.screenshot(path=str(screenshot_path(f"registry-{size}")), full_page=True)

    page.get_by_role("link", name="首页").click()
    expect(page.get_by_role("heading", name="您好，王分析")).to_be_visible()
    page.screenshot(path=str(screenshot_path(f"home-{size}")), full_page=True)
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(f"{live_server}/login")
    assert external == [], f"page loaded external resources: {external}"
    context.close()
