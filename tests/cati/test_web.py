"""The console and supervisor pages over HTTP, without JavaScript: take a case, record an
outcome (a double-click records one attempt), errors in Chinese, district limits."""

from __future__ import annotations

import re

import httpx
import pytest

from survey.accounts import create_user
from survey.cati.cases import add_cases
from survey.cati.tables import CallAttempt
from survey.db import write_transaction
from survey.db.tables import Unit
from tests.cati._setup import make_world
from tests.helpers import CSRF_INPUT, login

pytestmark = pytest.mark.anyio
PASSWORD = "secret-pass-2026"
KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]+)"')


async def _shown(client: httpx.AsyncClient, posted: httpx.Response) -> httpx.Response:
    """A refused console POST answers 303 to the case page (``?f=…``), which shows the error."""
    assert posted.status_code == 303, posted.status_code
    assert "f=flash-" in posted.headers["location"]
    return await client.get(posted.headers["location"])


async def _setup() -> int:
    world = await make_world(windows="00:00-24:00")
    await add_cases(world.campaign_id, ["13800138000", "13900139000"])
    async with write_transaction():
        await Unit.insert(Unit(code="T02", name="别的区", level="district"))
    await create_user("caller", PASSWORD, frozenset({"pollster"}), "测试访问员", "T01")
    await create_user("stranger", PASSWORD, frozenset({"pollster"}), "外区访问员", "T02")
    await create_user("boss", PASSWORD, frozenset({"supervisor"}), "测试督导", "T01")
    return world.campaign_id


def _csrf(page: httpx.Response) -> str:
    match = CSRF_INPUT.search(page.text)
    assert match, "page has no CSRF field"
    return match.group(1)


async def test_take_case_and_double_clicked_outcome(db: None, client: httpx.AsyncClient) -> None:
    campaign_id = await _setup()
    assert (await login(client, "caller", PASSWORD)).status_code == 303
    home = await client.get("/cati")
    assert "取下一个号码" in home.text
    taken = await client.post(f"/cati/{campaign_id}/next", data={"_csrf_token": _csrf(home)})
    assert taken.status_code == 303
    console = await client.get(taken.headers["location"])
    assert console.status_code == 200 and "13800138000" in console.text
    assert "请问您是否已年满18周岁" in console.text  # the instrument's screening question
    case_url = taken.headers["location"]
    form = {
        "_csrf_token": _csrf(console),
        "idempotency_key": KEY.search(console.text).group(1),  # type: ignore[union-attr]
        "outcome": "no_answer",
    }
    first = await client.post(f"{case_url}/outcome", data=form)
    second = await client.post(f"{case_url}/outcome", data=form)
    assert first.headers["location"] == "/cati?msg=recorded"
    assert second.headers["location"] == "/cati?msg=duplicate"
    assert await CallAttempt.count() == 1
    # Taking the next number gives the other case; the first waits for its retry time.
    home = await client.get("/cati?msg=recorded")
    assert "已记录本次拨打结果" in home.text
    taken = await client.post(f"/cati/{campaign_id}/next", data={"_csrf_token": _csrf(home)})
    console = await client.get(taken.headers["location"])
    assert "13900139000" in console.text
    # A missing outcome (Enter in the note field) records nothing and says why.
    bad = await client.post(
        f"{taken.headers['location']}/outcome",
        data={"_csrf_token": _csrf(console), "idempotency_key": "k" * 32, "outcome": ""},
    )
    bad = await _shown(client, bad)  # Post/Redirect/Get: the case page shows the error
    assert bad.status_code == 422 and "请选择本次拨打结果" in bad.text
    forged = await client.post(
        f"{taken.headers['location']}/outcome",
        data={"_csrf_token": _csrf(console), "idempotency_key": "k" * 32, "outcome": "complete"},
    )
    forged = await _shown(client, forged)
    assert forged.status_code == 422 and "由访问流程自动记录" in forged.text
    bad = await client.post(
        f"{taken.headers['location']}/outcome",
        data={
            "_csrf_token": _csrf(console),
            "idempotency_key": "k" * 32,
            "outcome": "appointment",
            "appointment_at": "明天下午",
        },
    )
    bad = await _shown(client, bad)
    assert bad.status_code == 422 and "预约时间格式" in bad.text
    assert await CallAttempt.count() == 1
    # Answers posted without JavaScript: an incomplete screen names the missing question.
    page = await client.post(
        f"{taken.headers['location']}/answers",
        data={"_csrf_token": _csrf(console), "page": "screening", "s_age": "1"},
    )
    page = await _shown(client, page)
    assert page.status_code == 422 and "此题为必答题" in page.text
    saved = await client.post(
        f"{taken.headers['location']}/answers",
        data={"_csrf_token": _csrf(console), "page": "screening", "s_age": "1", "s_resident": "1"},
    )
    assert saved.headers["location"].endswith("?page=unit")
    # The connection drops; the pollster opens the number again: the answers are there.
    reopened = await client.get(taken.headers["location"])
    assert "居住地" in reopened.text  # resumes at the first unfinished screen
    back = await client.get(f"{taken.headers['location']}?page=screening")
    assert back.text.count('value="1" checked') == 2


async def test_district_limit_and_supervisor_view(db: None, client: httpx.AsyncClient) -> None:
    campaign_id = await _setup()
    assert (await login(client, "stranger", PASSWORD)).status_code == 303
    home = await client.get("/cati")
    assert "当前没有进行中的电话访问任务" in home.text
    other = await client.post(f"/cati/{campaign_id}/next", data={"_csrf_token": _csrf(home)})
    assert other.status_code == 404
    await client.post("/logout", data={"_csrf_token": _csrf(home)})
    assert (await login(client, "boss", PASSWORD)).status_code == 303
    view = await client.get(f"/cati/campaigns/{campaign_id}")
    assert view.status_code == 200
    for text in ("各层进度", "访问员工作量", "应答率（AAPOR）", "回访复核", "RR3"):
        assert text in view.text
    bad = await client.post(
        f"/cati/campaigns/{campaign_id}/rules",
        data={
            "_csrf_token": _csrf(view),
            "status": "running",
            "calling_windows": "9点到12点",
            "excluded_weekdays": "",
            "max_attempts": "5",
            "e_override": "",
        },
    )
    assert bad.status_code == 422 and "呼叫时段「9点到12点」格式应为 09:00-12:00" in bad.text
    ok = await client.post(
        f"/cati/campaigns/{campaign_id}/rules",
        data={
            "_csrf_token": _csrf(view),
            "status": "paused",
            "calling_windows": "09:00-12:00,14:00-21:00",
            "excluded_weekdays": "7",
            "max_attempts": "6",
            "e_override": "0.4",
        },
    )
    assert ok.status_code == 200 and "呼叫规则已保存" in ok.text
    assert "= 0.400（人工设定）" in ok.text
