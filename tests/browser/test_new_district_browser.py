"""A new district sets itself up through the admin pages in a real Chromium, from an EMPTY
database (only the first admin account comes from ``survey create-user``), on a phone
(390×844) and a desktop (1280×800): registry and population, a programme with its own policy
(a bad file first: every problem is shown, nothing stored), users, the first wave, delivered
interviews, closing, computing, publishing — then what the committee member sees."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import pytest

from survey.cli import main
from tests.browser.conftest import VIEWPORTS, screenshot_path
from tests.foundation import _new_district as nd

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _shot(page: Any, name: str, size: str, *, docs: Any = None) -> None:
    """The whole page into test-artifacts; with ``docs`` (a locator), the screen showing it
    into docs/screenshots (one screen keeps the files small)."""
    page.screenshot(path=str(screenshot_path(f"{name}-{size}")), full_page=True)
    if docs is not None:
        docs.first.scroll_into_view_if_needed()
        page.screenshot(path=str(DOCS / f"{name}-{size}.png"), full_page=False)


def _fits(page: Any, size: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["viewport"]["width"], page.url


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(nd.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/")


def _step(page: Any, month: str, step: str) -> None:
    """Click a wave's status step on 测评期, then confirm it on its confirmation page (whose
    button repeats the step's name)."""
    from playwright.sync_api import expect

    page.locator("tr", has_text=month).get_by_role("link", name=step).click()
    expect(page.get_by_role("heading", name=f"确认{step}？")).to_be_visible()
    page.get_by_role("button", name=step).click()
    page.wait_for_load_state()


def _new_user(page: Any, base: str, username: str, role: str, role_name: str) -> None:
    page.goto(f"{base}/admin/users")
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("初始密码（至少 8 位）").fill(nd.PASSWORD)
    boxes = page.get_by_role("checkbox", name=role_name)
    if boxes.count():  # roles as checkboxes with their Chinese names
        boxes.first.check()
    else:
        page.get_by_label("角色（逗号分隔）").fill(role)
    page.get_by_label("限定区县").select_option(nd.DISTRICT[0])
    page.get_by_role("button", name="创建").click()
    page.wait_for_load_state()
    assert username in page.content()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_a_new_district_sets_itself_up_on_the_pages(
    live_server: str,
    db: None,
    browser: Any,
    size: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    monkeypatch.setenv("PINGAN_NEW_PASSWORD", nd.PASSWORD)
    # the first admin account comes from the command line (in a thread: Playwright's loop runs here)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        args = ["create-user", "chief", "--roles", "admin", "--name", "系统管理员"]
        assert pool.submit(main, args).result() == 0
    units, population = nd.write_registry(tmp_path)
    base = live_server
    context = browser.new_context(locale="zh-CN", **VIEWPORTS[size])
    page = context.new_page()
    _log_in(page, base, "chief")

    # 1. registry, then the population in long format
    for path in (units, population):
        page.goto(f"{base}/admin/registry")
        page.get_by_label("区划文件（CSV 或 XLSX）").set_input_files(str(path))
        page.get_by_role("button", name="上传并导入").click()
        expect(page.get_by_role("status")).to_contain_text("导入成功")

    # 2. the programme: a policy with mistakes is refused with every problem listed
    page.get_by_role("navigation").get_by_role("link", name="测评方案").click()
    bad = tmp_path / "beicheng-draft.toml"
    bad.write_text(
        nd.POLICY.replace("version = 1", "version = 0").replace("jianchayuan = 95", "jiancha = 95"),
        encoding="utf-8",
    )
    page.get_by_label("方案代码").fill(nd.PROGRAMME)
    page.get_by_label("方案名称").fill("北城区两率一度月度测评")
    page.get_by_label("网页自填问卷（短信链接）").select_option("liangshuaiyidu_web")
    page.get_by_label("电话访问问卷").select_option("liangshuaiyidu")
    page.get_by_label("或上传本区的办法文件（.toml，优先于上面的选择）").set_input_files(str(bad))
    page.get_by_role("button", name="创建方案").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("办法文件有 2 个问题，未保存")
    expect(alert).to_contain_text("beicheng-draft.toml:2: version = 0 无效")
    expect(alert).to_contain_text("'jiancha' 不是已知的单位代码")
    _fits(page, size)
    _shot(
        page,
        "programme-policy-problems",
        size,
        docs=page.get_by_role("heading", name="新建测评方案"),
    )
    good = tmp_path / "beicheng.toml"
    good.write_text(nd.POLICY, encoding="utf-8")
    page.get_by_label("或上传本区的办法文件（.toml，优先于上面的选择）").set_input_files(str(good))
    page.get_by_role("button", name="创建方案").click()
    expect(page.get_by_role("status")).to_contain_text("已创建测评方案")
    expect(page.get_by_role("main")).to_contain_text("北城区两率一度测评结果运用办法")
    _fits(page, size)
    _shot(page, "programme-detail", size, docs=page.get_by_role("status"))

    # 3. users of the district
    _new_user(page, base, "bc-analyst", "analyst", "分析员")
    _new_user(page, base, "bc-weiyuan", "committee", "委员")

    # 4. the first wave, opened; delivered interviews (telephone and web wordings); closed
    page.goto(f"{base}/waves")
    page.get_by_label("月份（YYYY-MM）").fill(nd.MONTH)
    page.get_by_role("button", name="创建").click()
    expect(page.get_by_role("status")).to_contain_text("已创建测评期")
    _step(page, nd.MONTH, "开始采集")
    phone = nd.write_delivered(tmp_path, "phone.csv", 0)
    web = nd.write_delivered(tmp_path, "web.csv", 1000)
    page.goto(f"{base}/results")
    page.locator("tr", has_text=nd.MONTH).get_by_role("link").click()
    results_url = page.url
    for path, instrument in ((phone, "liangshuaiyidu"), (web, "liangshuaiyidu_web")):
        page.goto(results_url)
        page.get_by_role("link", name="导入第三方数据").click()
        page.get_by_label("数据文件（.csv 或 .xlsx）").set_input_files(str(path))
        page.get_by_label("问卷", exact=True).select_option(instrument)
        page.get_by_role("button", name="校验并导入").click()
        expect(page.locator(".alert.ok")).to_be_visible()
    page.goto(f"{base}/waves")
    _step(page, nd.MONTH, "结束采集")

    # 5. compute, publish
    page.goto(results_url)
    page.get_by_role("link", name="计算本期结果").click()
    expect(page.get_by_role("heading", name="确认计算本期结果？")).to_be_visible()
    page.get_by_role("button", name="计算").click()
    expect(page.get_by_role("main")).to_contain_text("有效问卷 128 份")
    page.goto(f"{base}/waves")
    _step(page, nd.MONTH, "发布结果")
    _fits(page, size)
    _shot(page, "new-district-waves", size)

    # 6. what the committee member of the district sees
    context.clear_cookies()
    _log_in(page, base, "bc-weiyuan")
    page.goto(f"{base}/results")
    page.locator("tr", has_text=nd.MONTH).get_by_role("link", name="查看结果").click()
    main_text = page.get_by_role("main")
    expect(main_text).to_contain_text("南关派出所")
    expect(page.locator("ul.warnings")).to_contain_text("通报批评")
    expect(page.locator("ul.warnings")).to_contain_text("北城区人民检察院")
    _fits(page, size)
    _shot(
        page,
        "new-district-committee",
        size,
        docs=page.get_by_role("heading", name="本期通报与预警"),
    )
    context.close()
