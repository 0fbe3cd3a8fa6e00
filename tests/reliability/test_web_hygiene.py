"""Web hygiene: CSRF on every state-changing route, cookie flags, rate limits on the login form
and the residents' survey routes, invitation tokens that cannot be guessed or enumerated."""

from __future__ import annotations

import inspect
import re
import string
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

import survey.collection.demo
import survey.limits
from survey.accounts import create_user
from survey.collection import responses as collection_responses
from survey.collection.invitations import TOKEN_BYTES, new_token
from survey.db.tables import ROLES
from survey.limits import MemoryCounters
from survey.settings import get_settings
from survey.web.app import create_app
from survey.web.ratelimit import RateLimits, rate_limit_middleware_factory
from tests.foundation.test_web import concrete
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio

COLLECTION_ONLY = (survey.collection.demo,)
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC_POSTS = ("/login", "/logout", "/s/")
LIMITS_ENV = {
    "PINGAN_RATE_LOGIN_IP": "4",
    "PINGAN_RATE_SURVEY_TOKEN": "6",
    "PINGAN_RATE_SURVEY_MISS_IP": "5",
    "PINGAN_RATE_SURVEY_IP": "12",
}
# Routes that may refuse even an all-roles user with a valid token (object-level rules).
GUARDED_BEYOND_ROLES: frozenset[str] = frozenset()


@pytest.fixture()
async def small_demo(db: None) -> None:
    """The demo city with only its collection step (registry, users, wave, invitations)."""
    from tests.conftest import build_test_demo

    await build_test_demo(COLLECTION_ONLY)


def _state_changing_routes() -> list[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in create_app().routes:
        if isinstance(route, HTTPRoute):
            out.update((m, route.path) for m in route.methods & STATE_CHANGING)
    # /logout last: its positive control ends the session.
    return sorted(out, key=lambda r: (r[1] == "/logout", r))


def test_the_walk_finds_the_state_changing_routes() -> None:
    routes = _state_changing_routes()
    paths = {p for _, p in routes}
    assert {"/login", "/logout", "/s/{token:str}", "/results/{wave_id:int}/compute"} <= paths
    assert len(routes) >= 15


@pytest.mark.parametrize("signed_in", [False, True])
async def test_every_state_changing_route_refuses_a_missing_or_forged_csrf_token(
    small_demo: None, client: httpx.AsyncClient, signed_in: bool
) -> None:
    if signed_in:
        # Every role, no district limit: no guard refuses, so a 403 can only come from CSRF.
        await create_user("everyone", "every-pass-2026", frozenset(ROLES), "全角色")
        assert (await login(client, "everyone", "every-pass-2026")).status_code == 303
    good = await csrf_token(client)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for method, template in _state_changing_routes():
        path = concrete(template)
        for data in ({}, {"_csrf_token": forged}, {"_csrf_token": ""}):
            response = await client.request(method, path, data=data)
            where = f"{method} {path} {sorted(data)} signed_in={signed_in}"
            # Anonymous requests to signed-in routes are refused earlier (401); either way the
            # request is refused before any handler runs.
            refused = (403,) if signed_in or path.startswith(PUBLIC_POSTS) else (401, 403)
            assert response.status_code in refused, (where, response.status_code)
            assert "Traceback" not in response.text
        # A token in the header but no cookie (a cross-site request) is refused too.
        bare = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
        response = await bare.request(method, path, headers={"x-csrftoken": good})
        assert response.status_code in (401, 403), f"{method} {path} without cookie"
        if signed_in and path != "/logout":
            # Positive control: the same request with the token is not refused as forged.
            ok = await client.request(method, path, data={"_csrf_token": good})
            assert ok.status_code != 403 or path in GUARDED_BEYOND_ROLES, (method, path)


async def test_session_and_csrf_cookies_flags_and_secure_behind_tls(small_demo: None) -> None:
    from dataclasses import replace

    for secure in (False, True):
        settings = replace(get_settings(), secure_cookies=secure)
        app = create_app(settings)
        set_cookies: list[str] = []

        async def keep(response: httpx.Response, set_cookies: list[str] = set_cookies) -> None:
            set_cookies.extend(v for k, v in response.headers.multi_items() if k == "set-cookie")

        # Behind TLS the browser talks https: a Secure cookie is only sent back over https.
        base = "https://testserver" if secure else "http://testserver"
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url=base, event_hooks={"response": [keep]}
            ) as c:
                assert (await login(c, "admin")).status_code == 303
        session = [v for v in set_cookies if v.startswith("pingan_session=")]
        csrf = [v for v in set_cookies if v.startswith("pingan_csrf=")]
        assert session and csrf, set_cookies
        for cookie in session:
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie, cookie
            assert ("Secure" in cookie) is secure, cookie
        for cookie in csrf:
            assert "SameSite=lax" in cookie and ("Secure" in cookie) is secure, cookie


def test_pingan_secure_cookies_env_turns_secure_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from survey.settings import load_settings

    monkeypatch.setenv("PINGAN_SECURE_COOKIES", "1")
    assert load_settings().secure_cookies is True
    monkeypatch.setenv("PINGAN_SECURE_COOKIES", "0")
    assert load_settings().secure_cookies is False


@pytest.fixture()
async def limited_app(small_demo: None, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Litestar]:
    """The app with small limits from the environment (the same code path as production).

    The limits count per one-minute slot of the clock; a test that a loaded machine stretches
    across a slot's end would see its counts restart half-way. The slot is held at the one the
    test starts in (the counters restarting with a new slot have a test of their own)."""
    for name, value in LIMITS_ENV.items():
        monkeypatch.setenv(name, value)
    started = time.time()
    monkeypatch.setattr(
        survey.limits,
        "_slot",
        lambda window_s, clock=None: (int(started // window_s) + 1) * window_s,
    )
    app = create_app()
    async with app.lifespan():
        yield app


def _client(app: Litestar, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_login_is_rate_limited_per_address(limited_app: Litestar) -> None:
    limit = int(LIMITS_ENV["PINGAN_RATE_LOGIN_IP"])
    client = _client(limited_app, "10.0.0.1")
    token = await csrf_token(client)
    statuses = []
    for i in range(limit + 2):
        response = await client.post(
            "/login",
            data={"username": f"nobody{i}", "password": "x", "next": "/", "_csrf_token": token},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * limit + [429, 429]
    assert "请稍后再试" in response.text and int(response.headers["retry-after"]) >= 1
    # Another address is not affected (the lockout after 5 failures per account is tested in
    # tests/foundation/test_web.py::test_lockout_after_five_failures).
    assert (await login(_client(limited_app, "10.0.0.2"), "admin")).status_code == 303


async def _tokens(count: int, start: int = 0) -> list[str]:
    from tests.collection._support import invite

    tokens = await invite("liangshuaiyidu_web", count, start)
    assert len(tokens) == count
    return tokens


async def test_survey_routes_limit_each_token_and_address_guessing_tokens(
    limited_app: Litestar,
) -> None:
    per_token = int(LIMITS_ENV["PINGAN_RATE_SURVEY_TOKEN"])
    misses = int(LIMITS_ENV["PINGAN_RATE_SURVEY_MISS_IP"])
    token, second = await _tokens(2)
    resident = _client(limited_app, "10.0.1.1")
    for _ in range(per_token):
        assert (await resident.get(f"/s/{token}")).status_code == 200
    limited = await resident.get(f"/s/{token}")
    assert limited.status_code == 429 and "请稍后再试" in limited.text
    assert (await resident.get(f"/s/{second}")).status_code == 200  # other tokens unaffected

    guesser = _client(limited_app, "10.1.2.3")
    for _ in range(misses):
        assert (await guesser.get(f"/s/{new_token()}")).status_code == 404
    # After that many unknown tokens the address's guesses are slowed (tests/security/
    # test_guessing.py), but a real link from it still opens: residents share NAT addresses.
    assert (await guesser.get(f"/s/{second}")).status_code == 200
    assert (await resident.get(f"/s/{second}")).status_code == 200  # other residents unaffected

    # The per-address limit counts every /s/ request of one address.
    crowd = _client(limited_app, "10.2.0.1")
    per_ip = int(LIMITS_ENV["PINGAN_RATE_SURVEY_IP"])
    fresh = await _tokens(per_ip + 1, start=50)
    statuses = [(await crowd.get(f"/s/{t}")).status_code for t in fresh]
    assert statuses == [200] * per_ip + [429]


def test_default_limits_allow_a_resident_and_stop_a_guesser() -> None:
    limits = RateLimits()
    # A questionnaire is ≤ 15 screens, each a GET and a POST: far under the per-token limit.
    assert limits.survey_token >= 60 and limits.survey_miss_ip <= 60
    assert limits.login_ip <= 30 and limits.survey_ip >= 600  # carrier NAT shares addresses


async def test_window_counter_resets_each_window_and_stays_bounded() -> None:
    now = [0.0]
    counter = MemoryCounters(max_keys=3, clock=lambda: now[0])
    assert [await counter.add("a", 60) for _ in range(3)] == [1, 2, 3]
    now[0] = 59.9
    assert await counter.add("a", 60) == 4
    now[0] = 60.0
    assert await counter.get("a", 60) == 0 and await counter.add("a", 60) == 1
    for key in "bcdef":
        await counter.add(key, 60)
    assert len(counter) == 3  # oldest keys evicted, memory bounded


def test_rate_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGAN_RATE_SURVEY_TOKEN", "5")
    monkeypatch.setenv("PINGAN_RATE_SURVEY_IP", "0")
    limits = RateLimits.from_env()
    assert limits.survey_token == 5 and limits.survey_ip == 0
    monkeypatch.setenv("PINGAN_RATE_LOGIN_IP", "many")
    with pytest.raises(ValueError, match="PINGAN_RATE_LOGIN_IP"):
        RateLimits.from_env()
    assert callable(rate_limit_middleware_factory(RateLimits()))


def test_invitation_tokens_are_random_and_looked_up_by_hash_in_constant_time() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert TOKEN_BYTES >= 16  # ≥ 128 bits from secrets.token_urlsafe
    alphabet = set(string.ascii_letters + string.digits + "-_")
    assert all(len(t) == 22 and set(t) <= alphabet for t in tokens)
    # Every character position takes many values (no fixed prefix or counter inside).
    # (21 × 6 bits + the last character's 2 bits = 128 bits.)
    for position in range(21):
        assert len({t[position] for t in tokens}) > 40
    assert {t[21] for t in tokens} == set("AQgw")
    for fn in (collection_responses.find_link, collection_responses.find_invitation):
        source = inspect.getsource(fn)
        # Looked up by the SHA-256 of the token (a guess that shares a prefix with a real token
        # gains nothing), then compared again in constant time.
        assert "token_hash(token)" in source and "hmac.compare_digest" in source


async def test_unknown_and_near_miss_tokens_get_the_same_answer(
    small_demo: None, client: httpx.AsyncClient
) -> None:
    (token,) = await _tokens(1)
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = [await client.get(f"/s/{t}") for t in (near, new_token(), "short", "x" * 64)]
    assert {r.status_code for r in answers} == {404}
    bodies = {re.sub(r'value="[^"]+"', "", r.text) for r in answers}
    assert len(bodies) == 1  # nothing in the page tells a near miss from a wild guess
    assert "没有找到这个调查链接" in answers[0].text


async def test_oversized_ids_and_non_utf8_forms_are_client_errors_not_500(
    small_demo: None, client: httpx.AsyncClient
) -> None:
    """Found by scripts/reliability/api_fuzz.py: ids beyond any column's range and non-UTF-8
    multipart fields reached the database / Litestar's parser and gave 500s."""
    assert (await login(client, "admin")).status_code == 303
    huge = "9" * 30
    for path in (f"/design/waves/{huge}", f"/design/samples/{huge}", f"/results/{huge}"):
        response = await client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert "页面不存在" in response.text and "Traceback" not in response.text
    for path in (f"/design/waves/{2**40}", f"/cati/campaigns/{2**40}"):
        response = await client.get(path)
        assert response.status_code in (403, 404), (path, response.status_code)
    token = await csrf_token(client)
    response = await client.post(
        "/results/1/import",
        data={"_csrf_token": token},
        files={"mapping": ("m.txt", b"x"), "instrument": (None, b"\xff\xfe\x97bad")},
    )
    assert response.status_code in (400, 403, 404, 422), response.status_code
    assert "Traceback" not in response.text


async def test_database_unavailable_gives_a_chinese_retry_page(small_demo: None) -> None:
    from litestar import get

    from survey.web.auth import PUBLIC_OPT

    @get("/db-down", opt={PUBLIC_OPT: True})
    async def db_down() -> str:
        raise ConnectionRefusedError("connection refused by 127.0.0.1:5432")

    app = create_app()
    app.register(db_down)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get("/db-down")
    assert response.status_code == 503
    assert "系统暂时不可用，请稍后重试" in response.text
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text and "5432" not in response.text


async def test_nul_bytes_in_form_fields_are_refused_not_500(
    small_demo: None, client: httpx.AsyncClient
) -> None:
    """Found by the API fuzz on PostgreSQL: text columns cannot hold NUL (SQLite can)."""
    response = await login(client, "ad\x00min", "x\x00y")
    assert response.status_code in (400, 401), response.status_code
    assert "Traceback" not in response.text
