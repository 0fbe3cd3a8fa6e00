"""The committee's pages in a real Chromium on a phone (390×844) and a desktop (1280×800):

* the home page leads with the latest published wave (warnings, targets, significant changes);
* the 复核与申诉 page under the review policy (``default-review.toml``, review = "hold"): the
  demo's October computed again before publication, publishing refused while a sanction is
  待复核, each held sanction confirmed or withdrawn on the page with a reason, then published;
* the 数据质量核查 page an analyst reaches from the dashboard.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests.browser.conftest import VIEWPORTS, screenshot_path, watch_external


def _login(page: Any, base: str, username: str, next_url: str = "/") -> None:
    page.goto(f"{base}/login?next={next_url}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("pingan2026")
    page.get_by_role("button", name="登录").click()


def _fits(page: Any, size: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"]  # type: ignore[index]


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_committee_home_leads_with_the_latest_wave(
    live_server: str, demo_db: None, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    _login(page, live_server, "committee")
    expect(page.get_by_role("heading", name="最新发布 · 2026-10")).to_be_visible()
    digest = page.locator("section.digest")
    expect(digest.locator("ul.warnings")).to_contain_text("解放派出所")
    expect(digest.locator("ul.warnings")).to_contain_text("一票否决")
    expect(digest.get_by_role("heading", name="显著变化（较上期，5% 水平）")).to_be_visible()
    expect(digest.locator(".stat").first).to_contain_text("目标")
    _fits(page, size)
    page.screenshot(path=str(screenshot_path(f"committee-home-{size}")), full_page=True)
    # The full results: phone ranking cards show n.
    digest.get_by_role("link", name="查看完整结果").click()
    row = page.locator("table.rank tr", has_text="解放派出所").first
    expect(row.locator("td.nn")).to_be_visible()
    expect(row.locator("td.nn")).to_contain_text(re.compile(r"^\d+"))
    if size == "phone":  # the card labels it (the table's column head is hidden there)
        label = row.locator("td.nn").evaluate("e => getComputedStyle(e, '::before').content")
        assert label == '"n "'
    _fits(page, size)
    ranking = page.locator("section.ranking").first
    ranking.screenshot(path=str(screenshot_path(f"committee-ranking-{size}")))
    assert external == [], f"page loaded external resources: {external}"
    context.close()


def _hold_october() -> int:
    """The programme on the review policy, October back before publication and computed."""
    from survey.db.tables import Wave
    from survey.programmes.service import read_policy_source, set_policy
    from survey.results.compute import compute_wave
    from tests.conftest import run_async

    async def go() -> int:
        row = await Wave.select(Wave.id).where(Wave.month == "2026-10").first()
        assert row is not None
        await Wave.update({Wave.status: "closed"}).where(Wave.id == row["id"])
        text, name = read_policy_source("default_review")
        await set_policy("nancheng-lsyd", text, name, username="admin")
        await compute_wave(int(row["id"]), username="analyst")
        return int(row["id"])

    return int(run_async(go))


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_held_sanctions_reviewed_on_the_page_then_published(
    live_server: str, demo_db: None, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    wave_id = _hold_october()
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    _login(page, live_server, "admin", f"/results/{wave_id}/review")
    expect(page.get_by_role("heading", name="复核与申诉 · 2026-10")).to_be_visible()
    held = page.locator(".review-card", has_text="待复核")
    count = held.count()
    assert count >= 2, "the demo's October has several uncertain sanctions"
    _fits(page, size)
    page.screenshot(path=str(screenshot_path(f"review-held-{size}")), full_page=True)

    # Publishing is refused while any is 待复核.
    page.goto(f"{live_server}/waves/{wave_id}/confirm/published")
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_role("alert")).to_contain_text("待复核")

    page.goto(f"{live_server}/results/{wave_id}/review")
    first = page.locator(".review-card", has_text="待复核").first
    first.get_by_label("复核理由（必填）").fill("与第三名差异不显著，证据不足")
    first.get_by_role("button", name="撤销").click()
    expect(page.get_by_role("status")).to_contain_text("撤销")
    for _ in range(count - 1):
        card = page.locator(".review-card", has_text="待复核").first
        card.get_by_label("复核理由（必填）").fill("连续多期靠后，维持")
        card.get_by_role("button", name="维持").click()
        expect(page.get_by_role("status")).to_contain_text("维持")
    expect(page.locator(".review-card", has_text="待复核")).to_have_count(0)
    expect(page.locator(".review-card", has_text="经复核撤销")).to_have_count(1)
    _fits(page, size)
    page.screenshot(path=str(screenshot_path(f"review-decided-{size}")), full_page=True)

    page.goto(f"{live_server}/waves/{wave_id}/confirm/published")
    page.locator("form button[type=submit]").last.click()
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator("tr", has_text="2026-10").first).to_contain_text("发布")
    page.goto(f"{live_server}/results/{wave_id}")
    expect(page.locator("ul.warnings")).to_contain_text("经复核撤销")
    assert external == [], f"page loaded external resources: {external}"
    context.close()


def _hasty_november() -> tuple[int, list[int]]:
    """November (collecting): six interviews by one new pollster in 15 s each, computed — a
    short-interview flag naming those six."""
    from survey.accounts import create_user
    from survey.collection.tables import Response
    from survey.db.tables import Wave
    from survey.results.compute import compute_wave
    from tests.conftest import run_async

    async def go() -> tuple[int, list[int]]:
        row = await Wave.select(Wave.id).where(Wave.month == "2026-11").first()
        assert row is not None
        wave_id = int(row["id"])
        pollster = await create_user("hasty", "pingan2026-hasty", frozenset({"pollster"}))
        rows = await Response.select(Response.id, Response.stratum).where(
            (Response.wave == wave_id) & (Response.status == "completed")
        )
        # from the largest stratum, so that the wave can still be computed without them
        sizes = Counter(r["stratum"] for r in rows)
        largest = max(sizes, key=lambda k: sizes[k])
        ids = sorted(int(r["id"]) for r in rows if r["stratum"] == largest)[:6]
        await Response.update(
            {Response.interviewer: pollster, Response.duration_seconds: 15}
        ).where(Response.id.is_in(ids))
        await compute_wave(wave_id, username="analyst")
        return wave_id, ids

    return run_async(go)  # type: ignore[no-any-return]


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_integrity_page_excludes_a_flagged_batch(
    live_server: str, demo_db: None, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    wave_id, _ids = _hasty_november()
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    external = watch_external(page, live_server)
    _login(page, live_server, "analyst", f"/results/{wave_id}")
    page.get_by_role("link", name="核查并排除问卷").click()
    expect(page.get_by_role("heading", name="数据质量核查 · 2026-11")).to_be_visible()
    card = page.locator(".flag-card", has_text="访问过短")
    card.get_by_label("排除这条提示涉及的全部 6 份问卷").check()
    _fits(page, size)
    page.screenshot(path=str(screenshot_path(f"integrity-flags-{size}")), full_page=True)
    page.get_by_label("排除理由（必填：核实了什么、发现了什么）").fill(
        "回访核实：该访员 6 次访问均不足 20 秒，受访者称未完整作答"
    )
    page.get_by_role("button", name="排除所选问卷并重新计算").click()
    expect(page.get_by_role("status")).to_contain_text("已排除 6 份问卷，并重新计算本期结果")
    batch = page.locator(".excluded-card")
    expect(batch).to_have_count(1)
    expect(batch).to_contain_text("6 份问卷")
    expect(batch).to_contain_text("不足 20 秒")
    _fits(page, size)
    page.screenshot(path=str(screenshot_path(f"integrity-excluded-{size}")), full_page=True)
    page.get_by_role("link", name="← 2026-11 测评结果").click()
    expect(page.locator("dl.method")).to_contain_text("排除的问卷")
    assert external == [], f"page loaded external resources: {external}"
    context.close()
