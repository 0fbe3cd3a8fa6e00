"""A resident on a phone (390×844, real Chromium): completes each questionnaire, stops halfway
and resumes from the same link, finds the used link closed, and sees an invalid answer
re-shown with its error. Screenshots land in test-artifacts/screenshots/."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import PHONE, screenshot_path
from tests.collection.conftest import COLLECTION_ONLY
from tests.conftest import run_async

_numbers = itertools.count(1)


@pytest.fixture()
def new_link(db: None, live_server: str) -> Callable[[str], str]:
    """The demo city with the collection step only; returns a maker of fresh survey links."""
    from tests.collection._support import invite
    from tests.conftest import build_test_demo

    run_async(lambda: build_test_demo(COLLECTION_ONLY))

    def make(instrument_id: str) -> str:
        start = next(_numbers)
        [token] = run_async(lambda: invite(instrument_id, 1, start))
        return f"{live_server}/s/{token}"

    return make


@pytest.fixture()
def phone(browser: Any, live_server: str) -> Iterator[Callable[..., Any]]:
    """Opens pages in fresh phone-sized contexts; fails the test on any external request."""
    contexts: list[Any] = []
    external: list[str] = []

    def open_page(javascript: bool = True) -> Any:
        context = browser.new_context(locale="zh-CN", java_script_enabled=javascript, **PHONE)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "request",
            lambda r: None if r.url.startswith((live_server, "data:")) else external.append(r.url),
        )
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert external == [], f"external resources: {external}"


def answer_screen(page: Any) -> str:
    """Pick the first option of every question on the screen (text: "无"); returns the screen."""
    screen = str(page.locator('input[name="_screen"]').get_attribute("value"))
    for fieldset in page.locator("fieldset.q").all():
        choice = fieldset.locator("label.opt, label.cell").first
        if choice.count():
            choice.click()
        else:
            fieldset.locator("textarea").fill("无")
    return screen


def next_button(page: Any) -> Any:
    return page.get_by_role("button", name="下一页").or_(page.get_by_role("button", name="提交"))


@pytest.mark.parametrize(
    "instrument_id", ["anquangan", "zhixiaolv", "manyidu", "liangshuaiyidu_web"]
)
def test_resident_completes_each_instrument(
    new_link: Callable[[str], str], phone: Callable[..., Any], instrument_id: str
) -> None:
    from playwright.sync_api import expect

    link = new_link(instrument_id)
    page = phone()
    page.goto(link)
    shots = instrument_id == "manyidu"
    if shots:
        page.screenshot(path=str(screenshot_path("survey-intro")), full_page=True)
    page.get_by_role("button", name="同意并开始").click()
    screens = []
    for _ in range(12):
        if page.get_by_role("heading", name="您已完成本次调查").count():
            break
        expect(page.locator("progress")).to_be_visible()
        if page.locator('input[name="_screen"][value="unit:street"]').count():
            # Searchable when JS is on: typing narrows the list to the matching street.
            page.get_by_placeholder("输入名称查找").fill("西湖")
            expect(page.locator("label.opt:visible")).to_have_count(1)
            if shots:
                page.screenshot(path=str(screenshot_path("survey-street-search")))
            page.get_by_label("西湖街道").check()
            screens.append("unit:street")
        else:
            screens.append(answer_screen(page))
        if shots and screens[-1] == "satisfaction":
            page.screenshot(path=str(screenshot_path("survey-satisfaction")), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        next_button(page).click()
    expect(page.get_by_role("heading", name="您已完成本次调查")).to_be_visible()
    assert screens[:3] == ["screening", "unit:street", "unit:community"]
    assert screens[-1] == "about_you"
    if shots:
        page.screenshot(path=str(screenshot_path("survey-thanks")), full_page=True)


def test_resident_stops_halfway_resumes_and_the_used_link_is_closed(
    new_link: Callable[[str], str], phone: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    link = new_link("anquangan")
    first = phone()
    first.goto(link)
    first.get_by_role("button", name="同意并开始").click()
    for _ in range(3):  # screening, street, community
        answer_screen(first)
        next_button(first).click()
    expect(first.get_by_role("heading", name="社会治安")).to_be_visible()
    first.context.close()  # the resident closes the browser

    later = phone()  # another day, a fresh browser, the same SMS link
    later.goto(link)
    expect(later.get_by_role("heading", name="社会治安")).to_be_visible()
    expect(later.get_by_text("第 4 / 5 步")).to_be_visible()
    later.get_by_role("button", name="上一页").click()  # back: the saved community is ticked
    expect(later.locator('input[name="community"]:checked')).to_have_count(1)
    next_button(later).click()
    later.get_by_label("基本安全").check()
    next_button(later).click()
    answer_screen(later)
    later.get_by_role("button", name="提交").click()
    expect(later.get_by_role("heading", name="您已完成本次调查")).to_be_visible()

    used = phone()
    used.goto(link)
    expect(used.get_by_role("heading", name="您已完成本次调查")).to_be_visible()
    expect(used.get_by_text("本链接只能提交一次")).to_be_visible()
    assert used.get_by_role("button").count() == 0
    used.screenshot(path=str(screenshot_path("survey-used-link")), full_page=True)

    unknown = phone()
    response = unknown.goto(link[:-4] + "AAAA")
    assert response is not None and response.status == 404
    expect(unknown.get_by_role("heading", name="链接无效")).to_be_visible()


def test_invalid_answer_is_reshown_with_its_error(
    new_link: Callable[[str], str], phone: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    link = new_link("zhixiaolv")
    page = phone()
    page.goto(link)
    page.get_by_role("button", name="同意并开始").click()
    while not page.get_by_role("heading", name="基本情况").count():
        answer_screen(page)
        next_button(page).click()
    page.get_by_label("大专").check()
    # A tampered form: the age option's value changed to a code the item does not have.
    page.locator('input[name="d_age_group"]').first.evaluate("e => { e.value = '7'; }")
    page.get_by_label("18～29岁").check()
    page.get_by_role("button", name="提交").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("此题为必答题，请作答")  # sex left blank
    expect(alert).to_contain_text("请从列出的选项中选择一项")  # the tampered code
    expect(page.get_by_label("大专")).to_be_checked()  # what was answered is kept
    page.screenshot(path=str(screenshot_path("survey-error")), full_page=True)
    page.get_by_label("女").check()
    page.get_by_label("30～44岁").check()
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", name="您已完成本次调查")).to_be_visible()


def test_works_without_javascript(
    new_link: Callable[[str], str], phone: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    page = phone(javascript=False)
    page.goto(new_link("anquangan"))
    page.get_by_role("button", name="同意并开始").click()
    answer_screen(page)
    next_button(page).click()
    expect(page.get_by_placeholder("输入名称查找")).to_be_hidden()  # no search box without JS
    page.get_by_label("北山街道").check()
    next_button(page).click()
    expect(page.locator('input[name="community"]')).not_to_have_count(0)
    while not page.get_by_role("heading", name="您已完成本次调查").count():
        answer_screen(page)
        next_button(page).click()
    expect(page.get_by_text("您的回答已经提交")).to_be_visible()


def test_rating_scale_multiple_choice_and_text_on_a_phone(
    new_link: Callable[[str], str], phone: Callable[..., Any]
) -> None:
    """The installation's own 0–10 instrument (PINGAN_QUESTIONNAIRES): the eleven score cells fit
    the phone's width with thumb-sized targets, a third choice over the limit of two is refused
    with its message, and the chosen score is kept when the page comes back with an error."""
    from playwright.sync_api import expect

    page = phone()
    page.goto(new_link("anquan10"))
    page.get_by_role("button", name="同意并开始").click()
    for _ in range(3):  # screening, street, community: the first option each
        answer_screen(page)
        next_button(page).click()
    expect(page.locator('input[name="_screen"][value="security"]')).to_have_count(1)
    cells = page.locator("fieldset.q label.cell")
    expect(cells).to_have_count(11)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for i in range(11):
        box = cells.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (i, box)
        assert box["width"] >= 28 and box["height"] >= 36, (i, box)
    cells.nth(7).click()
    for label in ("盗窃", "电信网络诈骗", "交通秩序"):
        page.get_by_label(label).check()
    page.screenshot(path=str(screenshot_path("survey-rating")), full_page=True)
    next_button(page).click()
    expect(page.locator("#err-q_worries")).to_have_text("最多只能选择 2 项")
    expect(page.locator('input[name="q_anquan10"][value="7"]')).to_be_checked()
    page.screenshot(path=str(screenshot_path("survey-rating-error")), full_page=True)
    page.get_by_label("交通秩序").uncheck()
    page.locator('textarea[name="q_advice"]').fill("夜间多巡逻")
    next_button(page).click()
    answer_screen(page)  # about you
    next_button(page).click()
    expect(page.get_by_role("heading", name="您已完成本次调查")).to_be_visible()
