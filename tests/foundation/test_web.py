"""The web application: login, role checks on every route, CSRF, error pages, district limits."""

from __future__ import annotations

import importlib
import re

import httpx
import pytest
from litestar.routes import HTTPRoute

from survey.accounts import create_user
from survey.registry.service import import_registry_file
from survey.web.app import create_app
from tests.conftest import REPO
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio

ROLES = ("admin", "analyst", "supervisor", "pollster", "committee")
SIGNED_IN = frozenset(ROLES)
READERS = frozenset({"admin", "analyst", "supervisor", "committee"})
ADMIN = frozenset({"admin"})
PUBLIC = None  # anyone, signed in or not

# Every route of the app: (method, path template) → roles allowed (None = public).
# A route missing here fails the walk, so a new route must state who may use it.
ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("GET", "/"): SIGNED_IN,
    ("GET", "/registry"): READERS,
    ("GET", "/registry/{code:str}"): READERS,
    ("GET", "/waves"): READERS,
    ("POST", "/waves"): frozenset({"admin", "analyst"}),
    ("POST", "/waves/{wave_id:int}/status"): frozenset({"admin", "analyst"}),
    ("GET", "/waves/{wave_id:int}/confirm/{status:str}"): frozenset({"admin", "analyst"}),
    ("GET", "/admin/registry"): ADMIN,
    ("POST", "/admin/registry"): ADMIN,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("GET", "/admin/users/{username:str}"): ADMIN,
    ("POST", "/admin/users/{username:str}"): ADMIN,
    ("POST", "/admin/users/{username:str}/{action:str}"): ADMIN,
    ("GET", "/account/password"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("GET", "/api/units"): READERS,
}
SAMPLE_PATHS = {
    "{file_path:path}": "app.css",
    "{code:str}": "990102001",
    "{username:str}": "pollster2",
    "{action:str}": "enable",  # enabling an enabled user changes nothing
    "{status:str}": "collecting",
}

# Each area states who may use its routes in ``tests/<area>/access.py``: ``ACCESS`` (same shape
# as above) and optionally ``SAMPLE_PATHS`` (path parameter → a value that exists in the demo).
for _area in sorted(p.parent.name for p in (REPO / "tests").glob("*/access.py")):
    _module = importlib.import_module(f"tests.{_area}.access")
    ACCESS.update(_module.ACCESS)
    SAMPLE_PATHS.update(getattr(_module, "SAMPLE_PATHS", {}))


def app_routes() -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for route in create_app().routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, route.path))
    return routes


def concrete(path: str) -> str:
    for key, value in SAMPLE_PATHS.items():
        path = path.replace(key, value)
    return path


def test_access_table_covers_every_route() -> None:
    assert app_routes() == set(ACCESS)


async def _request(client: httpx.AsyncClient, method: str, path: str, token: str) -> httpx.Response:
    if method == "GET":
        return await client.get(path)
    return await client.request(method, path, data={"_csrf_token": token})


async def _walk(client: httpx.AsyncClient, role: str | None) -> list[str]:
    """Every route as ``role`` (None = anonymous): what differs from ``ACCESS``."""
    client.cookies.clear()
    username = {"pollster": "pollster1"}.get(role or "", role or "")
    if role:
        response = await login(client, username)
        assert response.status_code == 303, response.text
    token = await csrf_token(client)
    wrong: list[str] = []
    for (method, template), allowed in sorted(ACCESS.items()):
        if (method, template) in {("POST", "/logout"), ("POST", "/login")}:
            continue  # would change the session under test; covered in their own tests
        path = concrete(template)
        response = await _request(client, method, path, token)
        code = response.status_code
        where = f"{role or 'anonymous'} {method} {path} → {code}"
        if allowed is PUBLIC or (role and role in allowed):
            to_login = code == 303 and "/login" in response.headers.get("location", "")
            if code in (401, 403) or code >= 500 or to_login:
                wrong.append(f"{where}: should be allowed")
        elif role is None:
            if path.startswith("/api/"):
                ok = code == 401 and response.json()["error"] == "需要登录"
            elif method == "GET":
                ok = code == 303 and response.headers["location"].startswith("/login?next=")
            else:
                ok = code == 401
            if not ok:
                wrong.append(f"{where}: should ask to sign in")
        elif code != 403:
            wrong.append(f"{where}: should be 403")
    return wrong


async def test_every_route_for_every_role(full_demo_city: None, client: httpx.AsyncClient) -> None:
    # One demo city (every area's data, so routes with ids reach real rows) for all roles.
    wrong: list[str] = []
    for role in (None, *ROLES):
        wrong.extend(await _walk(client, role))
    assert not wrong, "\n".join(wrong)


async def test_login_page_and_wrong_password(demo_city: None, client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert "登录平安测评" in page.text
    response = await login(client, "analyst", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    home = await client.get("/")
    assert home.status_code == 303


async def test_login_then_logout(demo_city: None, client: httpx.AsyncClient) -> None:
    response = await login(client, "committee")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    home = await client.get("/")
    assert "您好，赵委员" in home.text
    assert "委员会成员" in home.text
    token = await csrf_token(client)
    out = await client.post("/logout", data={"_csrf_token": token})
    assert out.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_lockout_after_five_failures(demo_city: None, client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await login(client, "analyst", "bad-password")).status_code == 401
    # The right password is refused while the account is locked.
    assert (await login(client, "analyst")).status_code == 401


async def test_login_redirect_stays_on_site(demo_city: None, client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={
            "username": "admin",
            "password": "pingan2026",
            "next": "//evil.example/",
            "_csrf_token": token,
        },
    )
    assert response.headers["location"] == "/"


async def test_post_without_csrf_token_is_refused(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    await client.get("/login")
    response = await client.post("/login", data={"username": "admin", "password": "pingan2026"})
    assert response.status_code == 403
    assert "页面已过期" in response.text and "返回首页" in response.text
    assert "Traceback" not in response.text


async def test_session_cookie_flags(demo_city: None, client: httpx.AsyncClient) -> None:
    response = await login(client, "admin")
    cookie = response.headers["set-cookie"]
    assert "pingan_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


async def test_anonymous_page_views_store_no_session(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    from survey.db.tables import WebSession

    for _ in range(3):
        page = await client.get("/login")
        assert "pingan_session" not in page.headers.get("set-cookie", "")
    assert await WebSession.count() == 0
    assert (await login(client, "admin")).status_code == 303
    assert await WebSession.count() == 1
    token = await csrf_token(client)
    logout = await client.post("/logout", data={"_csrf_token": token})
    assert logout.status_code == 303
    assert "pingan_session=null" in logout.headers["set-cookie"]
    assert await WebSession.count() == 0


async def test_session_save_during_a_database_outage_keeps_the_response(
    demo_city: None, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from survey.web.sessions import DatabaseSessionStore

    assert (await login(client, "admin")).status_code == 303

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database restarting")

    monkeypatch.setattr(DatabaseSessionStore, "set", unavailable)
    page = await client.get("/")
    assert page.status_code == 200  # the page, not a 500 from saving the session afterwards
    assert "系统管理员" in page.text


@pytest.mark.parametrize("path", ["/login", "/static/app.css", "/health", "/no-such-page"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no other origin
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_error_pages_are_friendly(demo_city: None, client: httpx.AsyncClient) -> None:
    await login(client, "admin")
    missing = await client.get("/no-such-page")
    assert missing.status_code == 404
    assert "页面不存在" in missing.text
    street = await client.get("/registry/000000")
    assert street.status_code == 404
    assert "没有找到该街道" in street.text
    api = await client.get("/api/no-such-route")
    assert api.status_code == 404
    assert api.json()["error"] == "页面不存在"


async def test_server_error_page_has_no_stack_trace(demo_city: None) -> None:
    from litestar import get

    from survey.web.auth import PUBLIC_OPT

    @get("/boom", opt={PUBLIC_OPT: True})
    async def boom() -> str:
        raise RuntimeError("secret internal detail")

    app = create_app()
    app.register(boom)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get("/boom")
    assert response.status_code == 500
    assert "服务器出错" in response.text
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


async def test_health_reports_database(client: httpx.AsyncClient, db_engine_name: str) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": db_engine_name}


OTHER_DISTRICT = """kind,code,name,parent_code,station_code
区,990103,北城区,990100,
派出所,990103P01,北关派出所,990103,
街道,990103001,北关街道,990103,
社区,990103001001,北关社区,990103001,990103P01
"""


async def test_district_limited_user_sees_only_own_district(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    await import_registry_file("north.csv", OTHER_DISTRICT.encode())
    await create_user("north", "north-pass-1", frozenset({"committee"}), "北城委员", "990103")

    await login(client, "committee")  # limited to 南城区
    registry = await client.get("/registry")
    assert "南城区" in registry.text and "北城区" not in registry.text
    units = (await client.get("/api/units")).json()
    codes = {u["code"] for u in units}
    assert "990102" in codes and "990103" not in codes and "990103001001" not in codes
    assert (await client.get("/registry/990103001")).status_code == 404

    token = await csrf_token(client)
    await client.post("/logout", data={"_csrf_token": token})
    await login(client, "north", "north-pass-1")
    units = (await client.get("/api/units")).json()
    assert {u["code"] for u in units} == {"990103", "990103001", "990103001001"}

    token = await csrf_token(client)
    await client.post("/logout", data={"_csrf_token": token})
    await login(client, "admin")  # not limited: both districts
    registry = await client.get("/registry")
    assert "南城区" in registry.text and "北城区" in registry.text


async def test_admin_uploads_registry_and_sees_problems(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    await login(client, "admin")
    token = await csrf_token(client)
    bad = OTHER_DISTRICT.replace("990103P01\n", "990103P09\n")
    response = await client.post(
        "/admin/registry",
        data={"_csrf_token": token},
        files={"file": ("north.csv", bad.encode(), "text/csv")},
    )
    assert response.status_code == 422
    assert "第5行, 列 station_code: 派出所编码 990103P09 不存在" in response.text
    response = await client.post(
        "/admin/registry",
        data={"_csrf_token": token},
        files={"file": ("north.csv", OTHER_DISTRICT.encode(), "text/csv")},
    )
    assert response.status_code == 200
    assert "导入成功" in response.text


async def test_admin_creates_user(demo_city: None, client: httpx.AsyncClient) -> None:
    await login(client, "admin")
    token = await csrf_token(client)
    response = await client.post(
        "/admin/users",
        data={
            "_csrf_token": token,
            "username": "analyst2",
            "display_name": "新分析员",
            "password": "short",
            "roles": "analyst",
            "district_code": "990102",
        },
    )
    # Post/Redirect/Get: the error is shown by the GET the browser is sent to.
    assert response.status_code == 303
    shown = await client.get(response.headers["location"])
    assert shown.status_code == 422
    assert "密码至少 8 位" in shown.text
    assert 'value="analyst2"' in shown.text  # what was typed is kept (never the password)
    response = await client.post(
        "/admin/users",
        data={
            "_csrf_token": token,
            "username": "analyst2",
            "display_name": "新分析员",
            "password": "long-enough-1",
            "roles": ["analyst", "committee"],  # two checkboxes
            "district_code": "990102",
        },
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "已创建用户" in page.text
    assert re.search(
        r"analyst2</a></td><td>新分析员</td><td>数据分析员、委员会成员</td><td>南城区", page.text
    )
