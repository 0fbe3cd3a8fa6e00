"""Exactly one response per invitation, enforced by the database: many simultaneous final
submits (and starts) for one invitation leave one response row and one completion.

PostgreSQL runs 50 at once through the app (the connection pool lets them overlap in the
server); SQLite serialises writers (``BEGIN IMMEDIATE``), so it runs a smaller count.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from questionnaires import default_instruments
from survey.collection import responses
from survey.collection.invitations import token_hash
from survey.collection.tables import Invitation, Response
from tests.collection._support import CSRF, demo_wave_id, invite, walk

pytestmark = pytest.mark.anyio


def _count(db_engine_name: str) -> int:
    return 50 if db_engine_name == "postgres" else 10


async def _invitation_id(token: str) -> int:
    row = (
        await Invitation.select(Invitation.id)
        .where(Invitation.token_hash == token_hash(token))
        .first()
    )
    assert row is not None
    return int(row["id"])


async def test_simultaneous_final_submits_store_one_response(
    demo_city: None, client: httpx.AsyncClient, db_engine_name: str
) -> None:
    n = _count(db_engine_name)
    [token] = await invite("zhixiaolv")
    screens = await walk(client, token, stop_after=6)  # up to the last page, not submitted
    page = await client.get(f"/s/{token}")
    assert 'name="_screen" value="about_you"' in page.text, screens
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    form = {
        "_csrf_token": csrf, "_screen": "about_you", "_nav": "next",
        "d_sex": "2", "d_age_group": "3",
    }  # fmt: skip
    results = await asyncio.gather(*(client.post(f"/s/{token}", data=form) for _ in range(n)))
    assert [r.status_code for r in results] == [303] * n
    assert {r.headers["location"] for r in results} == {f"/s/{token}"}
    invitation_id = await _invitation_id(token)
    rows = await Response.select(Response.status, Response.answers).where(
        Response.invitation == invitation_id
    )
    assert len(rows) == 1
    assert rows[0]["status"] == "completed"
    assert json.loads(rows[0]["answers"])["d_age_group"] == 3
    thanks = await client.get(f"/s/{token}")
    assert "您已完成本次调查" in thanks.text


async def test_simultaneous_starts_share_one_response(
    demo_city: None, client: httpx.AsyncClient, db_engine_name: str
) -> None:
    n = _count(db_engine_name)
    [token] = await invite("anquangan")
    page = await client.get(f"/s/{token}")
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    form = {"_csrf_token": csrf, "_screen": "intro", "_nav": "next"}
    results = await asyncio.gather(*(client.post(f"/s/{token}", data=form) for _ in range(n)))
    assert {r.status_code for r in results} == {303}
    assert await Response.count().where(Response.invitation == await _invitation_id(token)) == 1


async def test_complete_response_succeeds_exactly_once(
    demo_city: None, client: httpx.AsyncClient, db_engine_name: str
) -> None:
    """The service itself (as the phone mode uses it): one True among many concurrent calls."""
    n = _count(db_engine_name)
    [token] = await invite("anquangan")
    instrument = default_instruments()["anquangan"]
    record = await responses.start_response(
        wave_id=await demo_wave_id(),
        instrument=instrument,
        invitation_id=await _invitation_id(token),
    )
    answers = {"s_age": 1, "s_resident": 1, "q_anquan": 2, "d_sex": 1, "d_age_group": 2}
    outcomes = await asyncio.gather(
        *(responses.complete_response(record.id, answers, instrument) for _ in range(n))
    )
    assert sorted(outcomes) == [False] * (n - 1) + [True]
    # A later save cannot change the completed interview.
    assert await responses.save_answers(record.id, {"q_anquan": 5}, 9) is False
    stored = await responses.get_response(record.id)
    assert stored is not None and stored.status == "completed"
    assert stored.answers["q_anquan"] == 2
