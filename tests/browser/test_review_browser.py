"""The 复核与申诉 page in a real Chromium on a phone (390×844) and a desktop (1280×800): an
analyst enters an appeal against the demo's October 一票否决, a committee member decides it
(变更为黄牌警告), and the dashboard shows the correction."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login?next=/results")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_appeal_entered_and_decided(
    live_server: str, demo_db: None, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    _login(page, live_server, "analyst")
    page.locator("tr", has_text="2026-10").get_by_role("link").first.click()
    page.get_by_role("link", name="复核与申诉").click()
    expect(page.get_by_role("heading", name="复核与申诉 · 2026-10")).to_be_visible()
    expect(page.get_by_text("本期没有申诉。")).to_be_visible()
    page.get_by_role("button", name="登记申诉").click()  # empty grounds: the browser refuses
    expect(page.get_by_text("本期没有申诉。")).to_be_visible()
    page.get_by_label("被处理的单位").select_option(label="解放派出所 · 公众安全感一票否决")
    page.get_by_label("申诉理由（必填）").fill("十月样本中夜间访问偏多")
    page.get_by_role("button", name="登记申诉").click()
    expect(page.get_by_role("status")).to_contain_text("已登记申诉")
    expect(page.locator(".appeal-card")).to_contain_text("待决定")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.screenshot(path=str(screenshot_path(f"review-appeal-entered-{size}")), full_page=True)
    context.close()

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    _login(page, live_server, "committee")
    page.locator("tr", has_text="2026-10").get_by_role("link").first.click()
    page.get_by_role("link", name="复核与申诉").click()
    card = page.locator(".appeal-card").first
    card.get_by_label("决定", exact=True).select_option("变更")
    card.get_by_label("变更为（仅“变更”）").select_option(label="黄牌警告")
    card.get_by_label("决定理由（必填）").fill("酌情减轻为黄牌警告")
    card.get_by_role("button", name="提交决定").click()
    expect(page.get_by_role("status")).to_contain_text("已决定：变更")
    expect(page.locator(".appeal-card").first).to_contain_text("变更为黄牌警告")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.screenshot(path=str(screenshot_path(f"review-appeal-decided-{size}")), full_page=True)
    page.get_by_role("link", name="← 2026-10 测评结果").click()
    expect(page.locator(".alert.correction")).to_contain_text("申诉")
    expect(page.locator("ul.warnings")).to_contain_text("经申诉变更")
    assert external == [], f"page loaded external resources: {external}"
    context.close()
