"""In Chromium at phone size: the admin's users page (roles as checkboxes) and the confirmation
page before 结束采集, which works without JavaScript."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import PHONE, screenshot_path, watch_external


def test_users_page_and_close_confirmation(live_server: str, demo_db: None, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", java_script_enabled=False, **PHONE)
    page = context.new_page()
    external = watch_external(page, live_server)
    page.goto(f"{live_server}/login?next=/admin/users")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="用户管理")).to_be_visible()
    expect(page.get_by_role("link", name="analyst")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]
    page.screenshot(path=str(screenshot_path("admin-users-phone")), full_page=True)

    page.get_by_role("link", name="analyst").click()
    expect(page.get_by_role("heading", name="用户 analyst")).to_be_visible()
    expect(page.get_by_label("数据分析员")).to_be_checked()
    page.get_by_label("委员会成员").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("已保存修改")
    expect(page.get_by_label("委员会成员")).to_be_checked()
    page.screenshot(path=str(screenshot_path("admin-user-edit-phone")), full_page=True)

    page.goto(f"{live_server}/waves")
    page.get_by_role("link", name="结束采集").first.click()
    expect(page.get_by_role("heading", name="确认结束采集？")).to_be_visible()
    expect(page.get_by_text("本期的电话访问暂停")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]
    page.screenshot(path=str(screenshot_path("confirm-close-phone")), full_page=True)
    page.get_by_role("button", name="结束采集").click()
    expect(page.get_by_role("status")).to_contain_text("测评期状态已更新")
    expect(page.get_by_role("link", name="重新开放采集").first).to_be_visible()
    assert external == [], f"page loaded external resources: {external}"
    context.close()
