"""The telephone console in a real Chromium: a pollster takes a case, records a complete
interview with the keyboard, then a no-answer and an appointment; the supervisor view shows
them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external

DESKTOP = {**VIEWPORTS["desktop"], "locale": "zh-CN"}
PHONE = {**VIEWPORTS["phone"], "locale": "zh-CN"}


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/")


def _pollster_row(page: Any) -> tuple[int, int]:
    """(calls, completes) of 张访问员 (pollster1) in the productivity table."""
    row = page.get_by_test_id("productivity").locator("tr", has_text="张访问员")
    if row.count() == 0:
        return 0, 0
    cells = row.locator("td").all_inner_texts()
    return int(cells[1]), int(cells[4])


@pytest.mark.parametrize("engine_note", ["desktop"])
def test_pollster_keyboard_flow(
    live_server: str, demo_db: None, browser: Any, engine_note: str
) -> None:
    from playwright.sync_api import expect

    # Generous waits: the 2-core machine is often busy with other suites.
    expect.set_options(timeout=15_000)
    try:
        _flow(live_server, browser, expect)
    finally:
        expect.set_options(timeout=5_000)


def _flow(live_server: str, browser: Any, expect: Any) -> None:
    supervisor = browser.new_context(**DESKTOP).new_page()
    _login(supervisor, live_server, "supervisor")
    supervisor.goto(f"{live_server}/cati")
    supervisor.locator("main table a").first.click()
    supervisor.wait_for_url(re.compile(r"/cati/campaigns/\d+"))
    campaign_url = supervisor.url
    calls_before, completes_before = _pollster_row(supervisor)

    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    external = watch_external(page, live_server)
    _login(page, live_server, "pollster1")
    page.get_by_role("link", name="电话访问").first.click()
    expect(page.get_by_role("button", name=re.compile("取下一个号码"))).to_be_focused()
    page.screenshot(path=str(screenshot_path("cati-pollster-home")), full_page=True)
    page.keyboard.press("g")
    page.wait_for_url(re.compile(r"/cati/case/\d+"))
    expect(page.get_by_test_id("phone")).to_have_text(re.compile(r"^\d{11,12}$"))
    expect(page.get_by_role("heading", name=re.compile("甄别"))).to_be_visible()
    page.screenshot(path=str(screenshot_path("cati-console-screening")), full_page=True)

    # Screening: both questions "是" (option 1), Enter saves and continues.
    page.keyboard.press("1")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("居住地"))).to_be_visible()
    # The street and community are chosen from lists (a select, not a shortcut).
    page.locator("select[name=street]").select_option(index=1)
    street = page.locator("select[name=street] option:checked").inner_text()
    option = page.locator(f"select[name=community] optgroup[label='{street}'] option").first
    page.locator("select[name=community]").select_option(option.get_attribute("value"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("公众安全感"))).to_be_visible()
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("平安建设知晓率"))).to_be_visible()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("政法队伍满意度"))).to_be_visible()
    for _ in range(page.locator("[data-question]").count()):
        page.keyboard.press("2")
    page.screenshot(path=str(screenshot_path("cati-console-questions")), full_page=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("基本情况"))).to_be_visible()
    for key in ("2", "3", "4", "6"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/cati\?msg=complete"))
    expect(page.get_by_role("status")).to_contain_text("访问已完成")

    # Next number: no answer, with the N shortcut.
    page.keyboard.press("g")
    page.wait_for_url(re.compile(r"/cati/case/\d+"))
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/cati\?msg=recorded"))
    expect(page.get_by_role("status")).to_contain_text("已记录")

    # And an appointment: A opens the time field, Enter in it records the appointment.
    page.keyboard.press("g")
    page.wait_for_url(re.compile(r"/cati/case/\d+"))
    page.keyboard.press("a")
    expect(page.locator("#appointment_at")).to_be_focused()
    tomorrow = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=1)).date()
    page.locator("#appointment_at").fill(f"{tomorrow.isoformat()}T15:30")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/cati\?msg=recorded"))
    assert external == [], f"page loaded external resources: {external}"

    supervisor.goto(campaign_url)
    supervisor.screenshot(path=str(screenshot_path("cati-supervisor")), full_page=True)
    calls_after, completes_after = _pollster_row(supervisor)
    assert (calls_after, completes_after) == (calls_before + 3, completes_before + 1)
    context.close()

    phone = browser.new_context(**PHONE).new_page()
    _login(phone, live_server, "supervisor")
    phone.goto(campaign_url)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    phone.screenshot(path=str(screenshot_path("cati-supervisor-phone")), full_page=False)
