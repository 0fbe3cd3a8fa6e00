"""Personal API tokens: created on 我的账号 (shown once, hashed at rest), used as Bearer tokens,
revoked, expired, narrowed to the user's current roles and district, audit-logged."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from survey.accounts import load_user
from survey.audit import entries
from survey.db.tables import AppUser, Unit
from survey.tokens.service import (
    TokenError,
    authenticate_token,
    create_token,
    hash_secret,
    list_tokens,
    revoke_token,
)
from survey.tokens.tables import ApiToken
from tests.api.conftest import PASSWORD, Scenario
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio
SECRET = re.compile(r'<code class="secret" id="new-token">([^<]+)</code>')


async def _user(username: str):  # type: ignore[no-untyped-def]
    row = await AppUser.select(AppUser.id).where(AppUser.username == username).first()
    assert row is not None
    user = await load_user(row["id"])
    assert user is not None
    return user


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_lifecycle_through_the_account_page(
    scenario: Scenario, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "analyst", PASSWORD)).status_code == 303
    page = await client.get("/account")
    assert page.status_code == 200 and "我的账号" in page.text and "您还没有接口令牌" in page.text
    token = await csrf_token(client)
    created = await client.post(
        "/account/tokens", data={"name": "R 脚本", "valid_days": "30", "_csrf_token": token}
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    match = SECRET.search(created.text)
    assert match, created.text
    secret = match.group(1)
    # Shown once: the account page lists the token by its first characters only.
    listing = await client.get("/account")
    assert secret not in listing.text and secret[:12] in listing.text and "从未使用" in listing.text
    # Stored only as its SHA-256.
    rows = await ApiToken.select()
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hash_secret(secret)
    assert all(secret not in str(value) for value in rows[0].values())
    assert rows[0]["expires_at"] is not None

    # Used without the session: a fresh client with the Bearer header only.
    transport = client._transport  # the same app
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        answer = await api.get("/api/v1/waves", headers=_bearer(secret))
        assert answer.status_code == 200, answer.text
        assert answer.json()["total"] == 3
        assert "pingan_session" not in answer.headers.get("set-cookie", "")
        last_used = (await ApiToken.select(ApiToken.last_used_at))[0]["last_used_at"]
        assert last_used is not None
        assert "从未使用" not in (await client.get("/account")).text

        # Revoked on the page: the next request with it is refused.
        revoke = await client.post(
            f"/account/tokens/{rows[0]['id']}/revoke", data={"_csrf_token": token}
        )
        assert revoke.status_code == 303 and revoke.headers["location"] == "/account?msg=revoked"
        refused = await api.get("/api/v1/waves", headers=_bearer(secret))
        assert refused.status_code == 401
        assert refused.json()["detail"] == "令牌无效、已撤销或已过期"
    assert "已撤销" in (await client.get("/account")).text
    actions = [(e.username, e.action) for e in await entries()]
    assert ("analyst", "token.create") in actions and ("analyst", "token.revoke") in actions


async def test_a_bad_token_is_refused_even_with_a_session(
    scenario: Scenario, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "analyst", PASSWORD)).status_code == 303
    assert (await client.get("/api/v1/waves")).status_code == 200  # the session alone works
    for header in ("Bearer pat_not-a-token", "Basic YW5hbHlzdDpwdw==", "Bearer "):
        answer = await client.get("/api/v1/waves", headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.json()["error"] == "需要登录"


async def test_expired_token(scenario: Scenario, client: httpx.AsyncClient) -> None:
    analyst = await _user("analyst")
    now = dt.datetime.now(dt.UTC)
    old = await create_token(analyst, "旧令牌", 30, now=now - dt.timedelta(days=31))
    fresh = await create_token(analyst, "新令牌", 30, now=now - dt.timedelta(days=29))
    assert (await client.get("/api/v1/waves", headers=_bearer(old.secret))).status_code == 401
    assert (await client.get("/api/v1/waves", headers=_bearer(fresh.secret))).status_code == 200
    statuses = {t.name: t.status for t in await list_tokens(analyst.id)}
    assert statuses == {"旧令牌": "expired", "新令牌": "active"}


async def test_token_follows_the_user(scenario: Scenario, client: httpx.AsyncClient) -> None:
    """A token never reads more than its user can now: a role taken away, a district changed or
    the account disabled all reach the token at its next use."""
    analyst = await _user("analyst")
    made = await create_token(analyst, "脚本", None)
    assert made.expires_at is None
    waves = await client.get("/api/v1/waves", headers=_bearer(made.secret))
    assert {w["status"] for w in waves.json()["items"]} == {"published", "closed"}

    # analyst → committee: the token now reads published waves only (as the pages would).
    await AppUser.update({AppUser.roles: "analyst,committee"}).where(AppUser.id == analyst.id)
    both = await client.get("/api/v1/waves", headers=_bearer(made.secret))
    assert {w["status"] for w in both.json()["items"]} == {"published", "closed"}
    # Only committee left: the token was made with analyst rights only, so nothing remains.
    await AppUser.update({AppUser.roles: "committee"}).where(AppUser.id == analyst.id)
    assert (await client.get("/api/v1/waves", headers=_bearer(made.secret))).status_code == 401
    # A committee member's token stays a committee token when the user later becomes analyst.
    committee = await _user("committee")
    theirs = await create_token(committee, "委员", 30)
    await AppUser.update({AppUser.roles: "analyst,committee"}).where(AppUser.id == committee.id)
    seen = await client.get("/api/v1/waves", headers=_bearer(theirs.secret))
    assert {w["status"] for w in seen.json()["items"]} == {"published"}

    await AppUser.update({AppUser.roles: "analyst"}).where(AppUser.id == analyst.id)
    assert (await client.get("/api/v1/waves", headers=_bearer(made.secret))).status_code == 200
    district = await Unit.select(Unit.id).where(Unit.code == "990102").first()
    assert district is not None
    await AppUser.update({AppUser.district: district["id"]}).where(AppUser.id == analyst.id)
    assert (await client.get("/api/v1/waves", headers=_bearer(made.secret))).status_code == 401
    await AppUser.update({AppUser.district: None, AppUser.is_active: False}).where(
        AppUser.id == analyst.id
    )
    assert (await client.get("/api/v1/waves", headers=_bearer(made.secret))).status_code == 401


async def test_token_rules(scenario: Scenario) -> None:
    analyst = await _user("analyst")
    pollster = await _user("pollster")
    with pytest.raises(TokenError, match="您的角色不能使用结果接口"):
        await create_token(pollster, "x", 30)
    with pytest.raises(TokenError, match="1–60 个字符"):
        await create_token(analyst, "   ", 30)
    with pytest.raises(TokenError, match="有效期只能是"):
        await create_token(analyst, "x", 7)
    made = await create_token(analyst, "x", 90)
    committee = await _user("committee")
    with pytest.raises(TokenError, match="没有找到该令牌"):
        await revoke_token(committee, made.id)  # someone else's token
    await revoke_token(analyst, made.id)
    with pytest.raises(TokenError, match="已撤销"):
        await revoke_token(analyst, made.id)
    assert await authenticate_token(made.secret) is None


async def test_last_used_is_written_at_most_once_a_minute(scenario: Scenario) -> None:
    analyst = await _user("analyst")
    made = await create_token(analyst, "x", None)
    t0 = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)
    for seconds, expected in ((0, t0), (30, t0), (61, t0 + dt.timedelta(seconds=61))):
        found = await authenticate_token(made.secret, now=t0 + dt.timedelta(seconds=seconds))
        assert found is not None
        stored = (await ApiToken.select(ApiToken.last_used_at))[0]["last_used_at"]
        assert stored.replace(tzinfo=dt.UTC) == expected


async def test_create_form_errors(scenario: Scenario, client: httpx.AsyncClient) -> None:
    assert (await login(client, "committee", PASSWORD)).status_code == 303
    token = await csrf_token(client)
    page = await client.post(
        "/account/tokens", data={"name": "", "valid_days": "30", "_csrf_token": token}
    )
    assert page.status_code == 422 and "令牌名称须为 1–60 个字符" in page.text
    page = await client.post(
        "/account/tokens", data={"name": "x", "valid_days": "abc", "_csrf_token": token}
    )
    assert page.status_code == 422 and "有效期须为天数" in page.text
    assert await ApiToken.count() == 0
    # A pollster sees the account page without the token section.
    client.cookies.clear()
    assert (await login(client, "pollster", PASSWORD)).status_code == 303
    page = await client.get("/account")
    assert page.status_code == 200 and "接口令牌" not in page.text
