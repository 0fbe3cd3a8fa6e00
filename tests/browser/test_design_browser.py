"""The sample design page in a real Chromium, at 390×844 (phone) and 1280×800 (desktop)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_design_page_preview_and_sample(
    live_server: str, demo_db: None, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    width = VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.goto(f"{live_server}/login?next=/design")
    page.get_by_label("用户名").fill("analyst")
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/design")
    page.get_by_role("link", name="2026-11").first.click()
    expect(page.get_by_role("heading", name="2026-11 抽样设计")).to_be_visible()

    page.get_by_label("抽样框或号段表").select_option(value="1")  # the demo's phone list
    page.get_by_label("发放总量").fill("400")
    page.get_by_label("目标误差 ±百分点").fill("15")
    page.get_by_label("预期应答率（%）").fill("50")
    page.get_by_role("button", name="预览设计").click()
    expect(page.get_by_role("heading", name="设计预览：发放 400")).to_be_visible()
    table = page.get_by_role("table", name="设计预览")
    expect(table.get_by_text("城关街道")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(screenshot_path(f"design-wave-{size}")), full_page=True)

    page.get_by_role("link", name="#1", exact=True).click()
    expect(page.get_by_role("heading", name="样本 #1 · 手机网页（短信邀请）")).to_be_visible()
    expect(page.get_by_role("button", name="释放第 2 批")).to_be_visible()
    page.get_by_role("button", name="复现检查").click()
    expect(page.get_by_role("status")).to_contain_text("复现一致")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(screenshot_path(f"design-sample-{size}")), full_page=True)
    assert external == [], f"page loaded external resources: {external}"
    context.close()
