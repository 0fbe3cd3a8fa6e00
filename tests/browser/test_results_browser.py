"""The committee dashboard in a real Chromium on a phone (390×844) and a desktop (1280×800)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_committee_dashboard(live_server: str, demo_db: None, browser: Any, size: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    page.goto(f"{live_server}/login?next=/results")
    page.get_by_label("用户名").fill("committee")
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/results")
    page.get_by_role("link", name="查看结果").first.click()
    expect(page.get_by_role("heading", name="公众安全感 · 派出所排名")).to_be_visible()
    expect(page.locator("ul.warnings")).to_contain_text("一票否决")
    expect(page.locator("ul.warnings")).to_contain_text("解放派出所")
    # Charts are server-side SVG images (no script on the page), each a separately cached
    # resource of the page's wave; every one loads and is drawn.
    charts = page.locator("img[src*='/charts/']")
    assert charts.count() >= 6
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        expect(charts.nth(i)).to_have_js_property("complete", True)
        assert charts.nth(i).evaluate("img => img.naturalWidth") > 300
    page.evaluate("window.scrollTo(0, 0)")
    assert page.locator("script").count() == 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]
    page.screenshot(path=str(screenshot_path(f"results-dashboard-{size}")), full_page=False)
    page.screenshot(path=str(screenshot_path(f"results-dashboard-{size}-full")), full_page=True)
    assert external == [], f"page loaded external resources: {external}"
    context.close()


def test_analyst_uploads_a_delivered_file_with_errors(
    live_server: str, demo_db: None, browser: Any, tmp_path: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS["phone"])
    page = context.new_page()
    page.goto(f"{live_server}/login?next=/results")
    page.get_by_label("用户名").fill("analyst")
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/results")
    # The collecting wave (not published) takes delivered data.
    page.locator("tr", has_text="2026-11").get_by_role("link").click()
    page.get_by_role("link", name="导入第三方数据").click()
    delivered = tmp_path / "delivered.csv"
    items = "q_anquan,q_zhixiao,q_manyi_gongan,q_manyi_jianchayuan,q_manyi_fayuan,q_manyi_sifaju"
    delivered.write_text(
        f"respondent_id,community,sex,age_group,{items}\n"
        "A1,990102001001,男,30-44,2,1,1,2,3,8\n"
        "A1,123,X,30-44,7,1,1,2,3,8\n",
        encoding="utf-8",
    )
    page.get_by_label("数据文件（.csv 或 .xlsx）").set_input_files(str(delivered))
    page.get_by_role("button", name="校验并导入").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("导入被拒绝，没有写入任何数据")
    expect(alert).to_contain_text("第3行, 列 community: 未知的社区代码 123")
    expect(alert).to_contain_text("第3行, 列 respondent_id: 受访者编号 A1 重复")
    expect(alert).to_contain_text("第3行, 列 q_anquan: '7' 不是题目 q_anquan 的选项代码")
    expect(alert).not_to_contain_text("第2行, 列")  # the first row is right
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.screenshot(path=str(screenshot_path("results-import-errors-phone")), full_page=True)
    context.close()
