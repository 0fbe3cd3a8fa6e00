"""Web fieldwork in a real Chromium at phone size (390×844): the supervisor's fieldwork page of
the demo's open wave, the switch of one street's non-responders to the phone, and a resident
opting out (「不再接收」) on the intro page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external
from tests.conftest import run_async

PHONE = {**VIEWPORTS["phone"], "locale": "zh-CN"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/")


def _fits(page: Any) -> bool:
    """No sideways scrolling of the page itself (wide tables scroll inside their frame)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_fieldwork_page_at_phone_size(live_server: str, demo_db: None, browser: Any) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    try:
        page = browser.new_context(**PHONE).new_page()
        external = watch_external(page, live_server)
        _login(page, live_server, "supervisor")
        page.get_by_role("link", name="网络调查").click()
        page.get_by_test_id("waves").get_by_role("link", name="2026-11").click()
        table = page.get_by_test_id("fieldwork")
        expect(table).to_be_visible()
        total = table.locator("tr.total td").all_inner_texts()
        assert total[0] == "合计"
        # Released (发放) is the 304 probability invitations of the demo wave (294 sampled + 10
        # demo links); every disposition appears in the disposition table.
        assert int(total[5]) == 304
        labels = page.get_by_test_id("dispositions").locator("tbody td:first-child")
        shown = set(labels.all_inner_texts())
        for label in ("已完成", "不符合条件", "部分完成", "拒绝（不再接收）", "已开始未完成",
                      "已打开", "已过期", "已送达", "发送失败", "已发送"):  # fmt: skip
            assert label in shown, (label, shown)
        assert "RR1" in page.get_by_test_id("rates").inner_text()
        assert _fits(page)
        page.screenshot(path=screenshot_path("fieldwork-phone"), full_page=False)
        page.screenshot(path=DOCS / "fieldwork-phone.png", full_page=False)
        # Switch one street's non-responders (sent at least 0 days ago) to the phone.
        page.get_by_label("首次发送后仍未完成（天）").fill("0")
        page.locator("input[name=strata]").first.check()
        page.get_by_role("button", name="转为电话访问").click()
        expect(page.get_by_role("status")).to_contain_text("已转为电话访问")
        assert external == []
    finally:
        expect.set_options(timeout=5_000)


def test_resident_opts_out_at_phone_size(live_server: str, demo_db: None, browser: Any) -> None:
    from playwright.sync_api import expect

    async def invite() -> tuple[str, int]:
        from survey.collection.invitations import create_invitations
        from tests.collection._support import demo_wave_id

        summary = await create_invitations(
            await demo_wave_id(), ["13912345678"], "zhixiaolv", None, stratum="optout"
        )
        return summary.created[0].token, summary.created[0].invitation_id

    token, invitation_id = run_async(invite)
    page = browser.new_context(**PHONE).new_page()
    page.goto(f"{live_server}/s/{token}")
    expect(page.get_by_role("button", name="同意并开始")).to_be_visible()
    button = page.get_by_test_id("optout")
    expect(button).to_be_visible()
    assert _fits(page)
    page.screenshot(path=screenshot_path("survey-optout-intro-phone"), full_page=True)
    page.screenshot(path=DOCS / "survey-optout-intro-phone.png", full_page=True)
    button.click()
    expect(page.get_by_role("heading")).to_contain_text("不再接收")
    page.screenshot(path=screenshot_path("survey-optout-done-phone"), full_page=True)
    page.screenshot(path=DOCS / "survey-optout-done-phone.png", full_page=True)

    async def history() -> list[str]:
        from survey.collection.dispositions import invitation_history

        return [kind for kind, _at, _d in await invitation_history(invitation_id)]

    # The real browser's GET of the intro counted as opened; the opt-out is a refusal.
    assert run_async(history) == ["created", "opened", "refused"]
