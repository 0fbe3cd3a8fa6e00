"""A closed wave stops telephone interviewing: no case is handed out, and outcomes and answers
posted for it are refused with a clear message; reopening resumes the campaign."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from survey.accounts import create_user
from survey.cati.attempts import record_outcome
from survey.cati.cases import CatiError, add_cases
from survey.cati.interview import save_screen
from survey.cati.queue import next_case
from survey.cati.supervisor import list_campaigns
from survey.cati.tables import CallAttempt, Case
from survey.collection.tables import Response
from survey.results.publishing import set_status
from tests.cati._setup import make_world
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
CLOSED = "已结束采集，电话访问已暂停"


async def test_closing_pauses_calls_and_refuses_outcomes_and_answers(db: None) -> None:
    world = await make_world()
    await add_cases(world.campaign_id, ["13800138000", "13900139000"], now=NOW)
    p1, p2 = world.users["p1"], world.users["p2"]
    held = await next_case(world.campaign_id, p1, NOW)
    assert held.case_id is not None
    await set_status(world.wave_id, "closed", username="analyst")

    # No case for anyone, with the reason.
    nothing = await next_case(world.campaign_id, p2, NOW)
    assert nothing.case_id is None and CLOSED in nothing.reason
    # The case p1 held before the close takes neither an outcome nor an answer.
    with pytest.raises(CatiError, match=CLOSED):
        await record_outcome(held.case_id, p1, "no_answer", "key-closed-0001", now=NOW)
    with pytest.raises(CatiError, match=CLOSED):
        await save_screen(held.case_id, p1, "screening", {"s_age": ["1"]}, now=NOW)
    assert await CallAttempt.count() == 0 and await Response.count() == 0
    [view] = await list_campaigns(None)
    assert view.status_name == "已暂停（测评期已结束采集）"

    # Reopening resumes: the held case records, the other pollster gets the other number.
    await set_status(world.wave_id, "collecting", username="analyst")
    done = await record_outcome(held.case_id, p1, "no_answer", "key-closed-0001", now=NOW)
    assert not done.duplicate
    again = await next_case(world.campaign_id, p2, NOW)
    assert again.case_id is not None and again.case_id != held.case_id
    [view] = await list_campaigns(None)
    assert view.status_name == "进行中"

    # Published: interviewing never resumes.
    await set_status(world.wave_id, "closed", username="analyst")
    from survey.results.tables import ResultRun

    await ResultRun.insert(ResultRun(wave=world.wave_id, method_version="test"))
    await set_status(world.wave_id, "published", username="analyst")
    refused = await next_case(world.campaign_id, p1, NOW)
    assert refused.case_id is None and "已发布，不能再访问" in refused.reason


async def test_console_after_close(db: None, client: httpx.AsyncClient) -> None:
    """Through the pages: the outcome form posted after the close is refused and the case page
    (reached by a redirect) says why; 下一个号码 offers nothing."""
    world = await make_world(windows="00:00-23:59")
    await create_user("caller", "caller-pass-1", frozenset({"pollster"}), "访问员")
    await add_cases(world.campaign_id, ["13800138000"], now=NOW)
    assert (await login(client, "caller", "caller-pass-1")).status_code == 303
    token = await csrf_token(client)
    taken = await client.post(f"/cati/{world.campaign_id}/next", data={"_csrf_token": token})
    case_url = taken.headers["location"]
    console = await client.get(case_url)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', console.text)
    assert key is not None
    await set_status(world.wave_id, "closed", username="analyst")
    posted = await client.post(
        f"{case_url}/outcome",
        data={"_csrf_token": token, "idempotency_key": key.group(1), "outcome": "no_answer"},
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith(case_url)
    shown = await client.get(posted.headers["location"])
    assert shown.status_code == 422 and CLOSED in shown.text
    answers = await client.post(
        f"{case_url}/answers", data={"_csrf_token": token, "page": "screening", "s_age": "1"}
    )
    assert CLOSED in (await client.get(answers.headers["location"])).text
    next_page = await client.post(f"/cati/{world.campaign_id}/next", data={"_csrf_token": token})
    assert CLOSED in next_page.text
    assert await CallAttempt.count() == 0
    case = await Case.select(Case.attempts).first()
    assert case == {"attempts": 0}
