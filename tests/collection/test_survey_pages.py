"""The residents' pages over HTTP: each instrument end to end, resume, used/expired/unknown
links, invalid and tampered answers, double submit, the screening's on_fail behaviour."""

from __future__ import annotations

import datetime
import json

import httpx
import pytest

from questionnaires import default_instruments
from survey.collection.invitations import token_hash
from survey.collection.tables import Invitation, Response
from survey.db.tables import Unit
from tests.collection._support import INPUT, csrf, invite, post, reshown, walk

pytestmark = pytest.mark.anyio

# The demo registry's 政法 departments of 南城区, in file order (survey/demo.py DEPARTMENTS).
DEMO_DEPARTMENTS = [
    ("gongan", "南城区公安分局"),
    ("jianchayuan", "南城区检察院"),
    ("fayuan", "南城区法院"),
    ("sifaju", "南城区司法局"),
]


async def _response(token: str) -> dict:
    invitation = (
        await Invitation.select(Invitation.id)
        .where(Invitation.token_hash == token_hash(token))
        .first()
    )
    assert invitation is not None
    rows = await Response.select().where(Response.invitation == invitation["id"])
    assert len(rows) == 1
    return rows[0]


# anquan10: the installation's own instrument (PINGAN_QUESTIONNAIRES, tests/conftest.py)
@pytest.mark.parametrize(
    "instrument_id", ["anquangan", "zhixiaolv", "manyidu", "liangshuaiyidu_web", "anquan10"]
)
async def test_resident_completes_each_instrument(
    demo_city: None, client: httpx.AsyncClient, instrument_id: str
) -> None:
    [token] = await invite(instrument_id)
    intro = await client.get(f"/s/{token}")
    assert intro.status_code == 200
    assert "同意并开始" in intro.text
    assert intro.headers["cache-control"] == "no-store"
    screens = await walk(client, token, {"street": "990102003"})
    assert screens[:4] == ["intro", "screening", "unit:street", "unit:community"]
    done = await client.get(f"/s/{token}")
    assert "您已完成本次调查" in done.text

    row = await _response(token)
    # The file's identity is stored (department names come from the registry at wave time).
    instrument = default_instruments()[instrument_id]
    answers = json.loads(row["answers"])
    assert row["status"] == "completed"
    assert row["mode"] == "web"
    assert (row["instrument_id"], row["instrument_version"]) == (instrument.id, "1")
    assert row["instrument_hash"] == instrument.content_hash
    # First option everywhere: 男, 18–29, and the first community of 西湖街道 (990102003).
    assert (row["sex"], row["age_group"]) == ("M", "18-29")
    community = await Unit.select(Unit.code).where(Unit.id == row["community"]).first()
    assert community == {"code": "990102003001"}
    assert answers["street"] == "990102003" and answers["community"] == "990102003001"
    assert answers["s_age"] == 1 and answers["s_resident"] == 1
    if instrument_id in ("manyidu", "liangshuaiyidu_web"):
        # One satisfaction item per registry department of 南城区.
        assert {k for k in answers if k.startswith("q_manyi_")} == {
            f"q_manyi_{code}" for code, _ in DEMO_DEPARTMENTS
        }
    assert row["completed_at"] is not None and row["duration_seconds"] is not None
    assert 0 <= row["duration_seconds"] < 60
    invitation = (
        await Invitation.select(Invitation.status).where(Invitation.id == row["invitation"]).first()
    )
    assert invitation == {"status": "completed"}


async def test_department_wording_comes_from_the_registry(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("manyidu")
    await walk(client, token, stop_after=4)
    page = await client.get(f"/s/{token}")
    assert "您对南城区公安分局的执法工作满意吗？" in page.text
    assert "南城区司法局" in page.text


async def test_stop_halfway_and_resume_from_the_same_link(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    answered = await walk(client, token, stop_after=4)  # intro … community
    assert answered[-1] == "unit:community"
    # A new browser (no cookies) opening the same link lands on the next unanswered screen.
    transport = client._transport  # same app, a fresh cookie jar
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        page = await other.get(f"/s/{token}")
        assert 'name="_screen" value="security"' in page.text
        back = await other.get(f"/s/{token}?p=unit:street")
        assert 'value="990102001" checked' in back.text  # the saved street is shown again
        future = await other.get(f"/s/{token}?p=about_you")  # not reached yet: stay put
        assert 'name="_screen" value="security"' in future.text
        rest = await walk(other, token)
    assert rest[0] == "security"
    row = await _response(token)
    assert row["status"] == "completed"


async def test_used_link_shows_the_completed_page_and_replay_changes_nothing(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("zhixiaolv")
    await walk(client, token)
    before = await _response(token)
    again = await client.get(f"/s/{token}")
    assert again.status_code == 200
    assert "您已完成本次调查" in again.text
    assert "同意并开始" not in again.text
    # Replaying the final POST (double click) and posting other screens: same thank-you page.
    for screen in ("about_you", "intro", "screening"):
        replay = await post(client, token, screen, {"d_sex": "2", "d_age_group": "4"})
        assert replay.status_code == 303
        assert replay.headers["location"] == f"/s/{token}"
    after = await _response(token)
    assert after == before


async def test_invalid_answer_is_reshown_with_its_error_keeping_answers(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    await walk(client, token, stop_after=5)  # through the security question
    # about_you: sex missing (required), age group out of range, education answered.
    response = await reshown(client, token, "about_you", {"d_age_group": "7", "d_education": "3"})
    assert response.status_code == 422
    assert "此题为必答题，请作答" in response.text
    assert "请从列出的选项中选择一项" in response.text
    assert 'name="d_education" value="3" checked' in response.text
    assert 'role="alert"' in response.text
    # Nothing was completed, and the earlier pages' answers are still stored.
    row = await _response(token)
    assert row["status"] == "in_progress"
    assert json.loads(row["answers"])["q_anquan"] == 1


async def test_tampered_forms_are_reshown_with_an_error(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    await walk(client, token, stop_after=2)  # intro, screening
    cases = [
        ("unit:street", {"street": "990102001' OR 1=1"}, "所选地点不在列表中"),
        ("unit:street", {"street": "990102001", "evil": "1"}, "提交的内容与本页题目不符"),
        ("about_you", {"d_sex": "1"}, "页面已过期"),  # a screen not reached yet
        ("nonsense", {}, "页面已过期"),
    ]
    for screen, fields, message in cases:
        response = await reshown(client, token, screen, fields)
        assert response.status_code == 422, (screen, response.status_code)
        assert message in response.text, screen
    # A community that belongs to another street is refused.
    ok = await post(client, token, "unit:street", {"street": "990102001"})
    assert ok.status_code == 303
    wrong = await reshown(client, token, "unit:community", {"community": "990102002001"})
    assert wrong.status_code == 422
    assert "所选地点不在列表中" in wrong.text
    row = await _response(token)
    assert "community" not in json.loads(row["answers"])


async def test_back_navigation_keeps_answers(demo_city: None, client: httpx.AsyncClient) -> None:
    [token] = await invite("anquangan")
    await walk(client, token, stop_after=4)
    back = await post(client, token, "security", {"q_anquan": "4"}, nav="back")
    assert back.status_code == 303
    assert back.headers["location"] == f"/s/{token}?p=unit:community"
    page = await client.get(f"/s/{token}?p=security")
    assert 'name="q_anquan" value="4" checked' in page.text


async def test_condition_shows_the_follow_up_page(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    screens = await walk(client, token, {"q_anquan": "5", "q_bu_anquan_yuanyin": "2"})
    assert "security_reasons" in screens
    row = await _response(token)
    assert json.loads(row["answers"])["q_bu_anquan_yuanyin"] == [2]


async def test_screening_asks_for_another_adult_then_ends(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    await walk(client, token, stop_after=1)
    response = await post(client, token, "screening", {"s_age": "2", "s_resident": "1"})
    assert response.status_code == 200
    assert "请他（她）来回答" in response.text
    other = await post(client, token, "screening", {}, nav="other_adult")
    assert other.headers["location"] == f"/s/{token}?p=screening"
    page = await client.get(f"/s/{token}?p=screening")
    assert "checked" not in page.text  # the screening answers were cleared for the new person
    await post(client, token, "screening", {"s_age": "1", "s_resident": "2"})
    end = await post(client, token, "screening", {}, nav="end")
    assert end.headers["location"] == f"/s/{token}"
    final = await client.get(f"/s/{token}")
    assert "只邀请年满18周岁" in final.text
    row = await _response(token)
    assert row["status"] == "screened_out"
    assert json.loads(row["answers"]) == {"s_age": 1, "s_resident": 2}


async def test_unknown_expired_and_revoked_links(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    for path in ("/s/AAAAAAAAAAAAAAAAAAAAAA", "/s/x", "/s/" + "é" * 30, "/s/%00%ff"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "链接无效" in response.text
    [expired, revoked] = await invite("anquangan", 2)
    await Invitation.update(
        {Invitation.expires_at: datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)}
    ).where(Invitation.token_hash == token_hash(expired))
    await Invitation.update({Invitation.status: "revoked"}).where(
        Invitation.token_hash == token_hash(revoked)
    )
    response = await client.get(f"/s/{expired}")
    assert response.status_code == 410
    assert "链接已过期" in response.text
    response = await client.get(f"/s/{revoked}")
    assert response.status_code == 410
    assert "链接已停用" in response.text
    # A POST to an expired link stores nothing.
    token = await csrf(client, "/login")
    response = await client.post(
        f"/s/{expired}", data={"_csrf_token": token, "_screen": "intro", "_nav": "next"}
    )
    assert response.status_code == 410
    assert await Response.count().where(Response.mode == "web") == 0


async def test_post_without_csrf_token_is_refused(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    response = await client.post(f"/s/{token}", data={"_screen": "intro", "_nav": "next"})
    assert response.status_code == 403
    # the resident is told what happened and led back to their own link, not "no permission"
    assert "页面已过期" in response.text and "没有保存" in response.text
    assert f'href="/s/{token}"' in response.text and "账号" not in response.text
    assert await Response.count().where(Response.mode == "web") == 0


async def test_closed_wave_shows_the_ended_page(demo_city: None, client: httpx.AsyncClient) -> None:
    from survey.db.tables import Wave

    [token] = await invite("anquangan")
    await walk(client, token, stop_after=2)
    await Wave.update({Wave.status: "closed"}).where(Wave.month == "2026-11")
    page = await client.get(f"/s/{token}")
    assert page.status_code == 410
    assert "调查已结束" in page.text
    response = await post(client, token, "unit:street", {"street": "990102001"})
    assert response.status_code == 410
    row = await _response(token)
    assert "street" not in json.loads(row["answers"])


async def test_page_weight_under_30_kb(demo_city: None, client: httpx.AsyncClient) -> None:
    """Every screen of the longest questionnaire, HTML plus the stylesheet, stays under 30 KB."""
    [token] = await invite("liangshuaiyidu_web")
    css = await client.get("/static/survey.css")
    sizes: dict[str, int] = {}
    page = await client.get(f"/s/{token}")
    sizes["intro"] = len(page.content)
    for stop in range(1, 9):
        await walk(client, token, stop_after=stop)
        page = await client.get(f"/s/{token}")
        sizes[f"screen {stop}"] = len(page.content)
        assert "/static/app.css" not in page.text
    assert "您已完成本次调查" in page.text
    assert max(sizes.values()) + len(css.content) < 30 * 1024, sizes


async def test_open_link_gives_each_visitor_a_personal_non_probability_response(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    from survey.collection.invitations import create_open_link
    from tests.collection._support import demo_wave_id

    token = await create_open_link(await demo_wave_id(), "zhixiaolv")
    personal: list[str] = []
    for _visitor in range(2):
        page = await client.get(f"/s/{token}")
        assert "同意并开始" in page.text
        consent = await post(client, token, "intro", {})
        assert consent.status_code == 303
        location = consent.headers["location"]
        assert location.endswith("?p=screening") and token not in location
        personal.append(location.removeprefix("/s/").split("?")[0])
        await walk(client, personal[-1])
    assert personal[0] != personal[1]
    rows = await Response.select(Response.non_probability, Response.status).where(
        Response.mode == "web"
    )
    assert rows == [{"non_probability": True, "status": "completed"}] * 2
    # The public link itself never gets a response and stays open for the next visitor.
    again = await client.get(f"/s/{token}")
    assert "同意并开始" in again.text


async def test_head_of_a_link_answers_like_get_and_changes_nothing(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    """SMS apps and link checkers send HEAD before anyone taps a link: same status as GET, no
    body, no response row, the invitation untouched."""
    [fresh, expired] = await invite("anquangan", 2)
    await Invitation.update(
        {Invitation.expires_at: datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)}
    ).where(Invitation.token_hash == token_hash(expired))
    before = await Invitation.select(Invitation.status).order_by(Invitation.id)
    for path, status in (
        (f"/s/{fresh}", 200),
        (f"/s/{expired}", 410),
        ("/s/AAAAAAAAAAAAAAAAAAAAAA", 404),
    ):
        response = await client.head(path)
        assert response.status_code == status, path
        assert response.content == b""
        assert response.headers["cache-control"] == "no-store"
        assert (await client.get(path)).status_code == status
    assert await Response.count() == 0
    assert await Invitation.select(Invitation.status).order_by(Invitation.id) == before


async def test_rating_multiple_choice_and_text_items(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    """The 0–10 scale, a multiple choice with a limit and a short text, through the pages: bad
    values are re-shown with their error, good ones stored with their types."""
    [token] = await invite("anquan10")
    assert (await walk(client, token, stop_after=4))[-1] == "unit:community"
    page = await client.get(f"/s/{token}")
    assert 'name="_screen" value="security"' in page.text
    cells = [v for kind, name, v in INPUT.findall(page.text) if name == "q_anquan10"]
    assert cells == [str(n) for n in range(11)] + ["98", "99"]
    for bad, message in (
        ({"q_anquan10": "11", "q_worries": "1"}, "请选择 0 到 10 之间的分数"),
        ({"q_anquan10": "5.5", "q_worries": "1"}, "请从列出的选项中选择"),
        ({"q_anquan10": "7", "q_worries": ["1", "2", "3"]}, "最多只能选择 2 项"),
        ({"q_anquan10": "7", "q_worries": ["1", "8"]}, "“说不清”不能与其他选项同时选择"),
        ({"q_anquan10": "7", "q_worries": "1", "q_advice": "长" * 201}, "回答不能超过 200 个字"),
    ):
        response = await reshown(client, token, "security", bad)
        assert response.status_code == 422, bad
        assert message in response.text, (bad, response.text[-3000:])
    assert "q_anquan10" not in json.loads((await _response(token))["answers"])
    good = {"q_anquan10": "7", "q_worries": ["1", "2"], "q_advice": "夜间多巡逻"}
    assert (await post(client, token, "security", good)).status_code == 303
    answers = json.loads((await _response(token))["answers"])
    assert answers["q_anquan10"] == 7 and answers["q_worries"] == [1, 2]
    assert answers["q_advice"] == "夜间多巡逻"
