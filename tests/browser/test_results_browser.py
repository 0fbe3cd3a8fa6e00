"""The committee dashboard in a real Chromium on a phone (390×844) and a desktop (1280×800)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot_path

VIEWPORTS = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_committee_dashboard(live_server: str, demo_db: None, browser: Any, size: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external: list[str] = []
    page.on(
        "request",
        lambda r: external.append(r.url) if not r.url.startswith((live_server, "data:")) else None,
    )
    page.goto(f"{live_server}/login?next=/results")
    page.get_by_label("用户名").fill("committee")
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/results")
    page.get_by_role("link", name="查看结果").first.click()
    expect(page.get_by_role("heading", name="公众安全感 · 派出所排名")).to_be_visible()
    expect(page.locator("ul.warnings")).to_contain_text("一票否决")
    expect(page.locator("ul.warnings")).to_contain_text("解放派出所")
    # Charts are server-side SVG images (no script on the page).
    assert page.locator("img[src^='data:image/svg+xml']").count() >= 6
    assert page.locator("script").count() == 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.screenshot(path=str(screenshot_path(f"results-dashboard-{size}")), full_page=False)
    page.screenshot(path=str(screenshot_path(f"results-dashboard-{size}-full")), full_page=True)
    assert external == [], f"page loaded external resources: {external}"
    context.close()
