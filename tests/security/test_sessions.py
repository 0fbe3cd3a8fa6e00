"""Finding 1 (session fixation): every login issues a new session id and the id the browser sent
before no longer works; a user's sessions can be ended (change of roles or password)."""

from __future__ import annotations

import httpx
import pytest

from survey.accounts import end_user_sessions
from survey.db.tables import AppUser, WebSession
from survey.demo import DEMO_PASSWORD
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio
COOKIE = "pingan_session"


def send_session(client: httpx.AsyncClient, session_id: str) -> None:
    """Make ``client`` send exactly ``session_id`` as its session cookie from now on."""
    for cookie in [c for c in client.cookies.jar if c.name == COOKIE]:
        client.cookies.delete(COOKIE, domain=cookie.domain, path=cookie.path)
    client.cookies.set(COOKIE, session_id, domain="testserver.local")


async def test_login_issues_a_new_session_id_and_the_old_one_stops_working(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "committee")).status_code == 303
    committee_id = client.cookies[COOKIE]
    # The attack: the same cookie sent with a second login (here as admin).
    assert (await login(client, "admin")).status_code == 303
    admin_id = client.cookies[COOKIE]
    assert admin_id != committee_id
    assert (await client.get("/admin/users")).status_code == 200
    # The id sent before the login carries no rights at all now (not admin's, not committee's).
    send_session(client, committee_id)
    stale = await client.get("/admin/users")
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
    assert (await client.get("/")).status_code == 303
    assert not await WebSession.exists().where(WebSession.key == committee_id)


async def test_an_id_planted_before_sign_in_is_not_the_one_signed_in(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    planted = "a" * 64
    token = await csrf_token(client)
    send_session(client, planted)  # e.g. set by a sibling subdomain or a shared computer
    signed_in = await client.post(
        "/login",
        data={"username": "admin", "password": DEMO_PASSWORD, "next": "/", "_csrf_token": token},
    )
    assert signed_in.status_code == 303
    assert client.cookies[COOKIE] != planted
    attacker = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with attacker:
        send_session(attacker, planted)
        assert (await attacker.get("/admin/users")).status_code == 303


async def test_ending_a_users_sessions_signs_out_every_browser_of_that_user_only(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    third = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other, third:
        assert (await login(client, "admin")).status_code == 303
        assert (await login(other, "admin")).status_code == 303
        assert (await login(third, "analyst")).status_code == 303
        admin = await AppUser.select(AppUser.id).where(AppUser.username == "admin").first()
        assert admin is not None
        await end_user_sessions(admin["id"])
        assert (await client.get("/")).status_code == 303
        assert (await other.get("/")).status_code == 303
        assert (await third.get("/")).status_code == 200  # another user's session is kept
