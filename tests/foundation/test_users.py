"""Managing users: roles, district, display name, disable/enable, password reset with a forced
change, the district limit of an administrator (no escalation) and the last unrestricted admin —
through the service, the CLI and the admin pages."""

from __future__ import annotations

import re

import httpx
import pytest

from survey import accounts
from survey.accounts import AccountError
from survey.cli import main
from survey.db.tables import AppUser, AuditLog, Unit, WebSession
from survey.registry.service import import_registry_file
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio

NORTH = """kind,code,name,parent_code,station_code
区,990103,北城区,990100,
派出所,990103P01,北关派出所,990103,
街道,990103001,北关街道,990103,
社区,990103001001,北关社区,990103001,990103P01
"""
SOUTH = "990102"  # the demo's 南城区


async def _district(code: str) -> int:
    row = await Unit.select(Unit.id).where(Unit.code == code).first()
    assert row is not None
    return int(row["id"])


async def _with_north_and_district_admin() -> int:
    """北城区 beside the demo's 南城区, a north user, and ``sadmin``: an admin limited to 南城区."""
    await import_registry_file("north.csv", NORTH.encode())
    await accounts.create_user(
        "north1", "north-pass-1", frozenset({"analyst"}), "北城分析", "990103"
    )
    await accounts.create_user("sadmin", "south-pass-1", frozenset({"admin"}), "南城管理员", SOUTH)
    return await _district(SOUTH)


def test_roles_by_code_or_chinese_name() -> None:
    assert accounts.parse_roles("analyst,委员会成员") == {"analyst", "committee"}
    assert accounts.parse_roles("督导、访问员") == {"supervisor", "pollster"}
    assert accounts.parse_roles(["admin", "admin"]) == {"admin"}
    with pytest.raises(AccountError, match="未知角色 boss"):
        accounts.parse_roles("boss")
    with pytest.raises(AccountError, match="至少需要一个角色"):
        accounts.parse_roles([])


async def test_district_admin_cannot_escalate(demo_city: None) -> None:
    south = await _with_north_and_district_admin()
    limited = {"limit_to_district": south, "actor": "sadmin"}
    # No unrestricted user, no other district — not even by editing an existing user.
    with pytest.raises(AccountError, match="不能设置不限区县的用户"):
        await accounts.create_user("boss", "boss-pass-1", frozenset({"admin"}), "", None, **limited)
    with pytest.raises(AccountError, match="不能授予区县 990103"):
        await accounts.create_user(
            "n2", "boss-pass-1", frozenset({"admin"}), "", "990103", **limited
        )
    with pytest.raises(AccountError, match="不能设置不限区县的用户"):
        await accounts.update_user("analyst", district_code=None, change_district=True, **limited)
    with pytest.raises(AccountError, match="不能授予区县 990103"):
        await accounts.update_user(
            "analyst", district_code="990103", change_district=True, **limited
        )
    # Users of other districts and unrestricted ones are invisible and cannot be managed.
    visible = {u.username for u in await accounts.list_users(south)}
    assert "north1" not in visible and "admin" not in visible
    assert {"analyst", "sadmin", "pollster1"} <= visible
    for attempt in (
        accounts.update_user("north1", roles=frozenset({"admin"}), **limited),
        accounts.update_user("admin", roles=frozenset({"committee"}), **limited),
        accounts.set_active("north1", False, **limited),
        accounts.reset_password("admin", "taken-over-1", **limited),
    ):
        with pytest.raises(AccountError, match=r"没有用户 .*，或您无权管理"):
            await attempt
    assert not await AppUser.exists().where(AppUser.username.is_in(["boss", "n2"]))
    north = await AppUser.select(AppUser.roles, AppUser.is_active).where(
        AppUser.username == "north1"
    )
    assert north == [{"roles": "analyst", "is_active": True}]
    # Within its own district it may work: a new south committee member, a role change.
    await accounts.create_user("s2", "south-pass-2", frozenset({"committee"}), "", SOUTH, **limited)
    changed = await accounts.update_user("s2", roles=frozenset({"analyst"}), **limited)
    assert changed.roles == {"analyst"} and changed.district_code == SOUTH


async def test_the_last_unrestricted_admin_stays(demo_city: None) -> None:
    await _with_north_and_district_admin()  # sadmin is an admin, but limited: it does not count
    for attempt in (
        accounts.update_user("admin", roles=frozenset({"analyst"})),
        accounts.update_user("admin", district_code=SOUTH, change_district=True),
        accounts.set_active("admin", False, actor="cli"),
    ):
        with pytest.raises(AccountError, match="至少要保留一个启用的、不限区县的系统管理员"):
            await attempt
    row = await AppUser.select(AppUser.roles, AppUser.district, AppUser.is_active).where(
        AppUser.username == "admin"
    )
    assert row == [{"roles": "admin", "district": None, "is_active": True}]
    # With a second unrestricted admin the first may step down.
    await accounts.create_user("admin2", "admin-pass-2", frozenset({"admin"}))
    await accounts.update_user("admin", roles=frozenset({"analyst"}))
    with pytest.raises(AccountError, match="不能停用自己的账号"):
        await accounts.set_active("admin2", False, actor="admin2")


async def test_edit_disable_enable_and_lengths(demo_city: None) -> None:
    user = await accounts.update_user(
        "analyst", roles=frozenset({"analyst", "committee"}), display_name="王分析（兼委员）"
    )
    assert user.role_names == "数据分析员、委员会成员"
    assert user.display_name == "王分析（兼委员）"
    with pytest.raises(AccountError, match="姓名不能超过 100 个字（现为 150 个字）"):
        await accounts.update_user("analyst", display_name="长" * 150)
    with pytest.raises(AccountError, match="姓名不能超过 100 个字"):
        await accounts.create_user("x1", "x-pass-123", frozenset({"analyst"}), "长" * 150)
    await accounts.set_active("analyst", False, actor="admin")
    assert await accounts.authenticate("analyst", "pingan2026") is None
    await accounts.set_active("analyst", True, actor="admin")
    assert await accounts.authenticate("analyst", "pingan2026") is not None
    actions = [r["action"] for r in await AuditLog.select(AuditLog.action).order_by(AuditLog.id)]
    assert [a for a in actions if a.startswith("user.") and a != "user.create"] == [
        "user.edit",
        "user.disable",
        "user.enable",
    ]


async def _session_of(client: httpx.AsyncClient) -> str:
    return str(client.cookies["pingan_session"])


async def test_role_change_disable_and_reset_end_sessions(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    """A signed-in user loses the session when an admin changes their roles, disables them or
    resets their password; a reset forces a new password before anything else."""
    for change in (
        lambda: accounts.update_user("analyst", roles=frozenset({"committee"})),
        lambda: accounts.set_active("analyst", False, actor="admin"),
    ):
        client.cookies.clear()
        await accounts.set_active("analyst", True, actor="admin")
        assert (await login(client, "analyst")).status_code == 303
        assert (await client.get("/")).status_code == 200
        await change()
        assert not await WebSession.exists().where(WebSession.data.like('%"user_id"%'))
        page = await client.get("/")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    await accounts.set_active("analyst", True, actor="admin")
    client.cookies.clear()
    await login(client, "analyst")
    await accounts.reset_password("analyst", "temporary-1", actor="admin")
    assert (await client.get("/")).headers["location"].startswith("/login")
    assert await accounts.authenticate("analyst", "pingan2026") is None  # the old one is gone
    client.cookies.clear()
    assert (await login(client, "analyst", "temporary-1")).status_code == 303
    for path in ("/", "/waves", "/results"):
        page = await client.get(path)
        assert page.status_code == 303 and page.headers["location"] == "/account/password"
    form = await client.get("/account/password")
    assert "管理员已重设您的密码，请先设置新密码" in form.text
    token = await csrf_token(client)
    bad = await client.post(
        "/account/password",
        data={"_csrf_token": token, "current": "temporary-1", "new": "new-pass-99", "repeat": "x"},
    )
    assert bad.status_code == 303
    assert "两次输入的新密码不一致" in (await client.get(bad.headers["location"])).text
    done = await client.post(
        "/account/password",
        data={
            "_csrf_token": token,
            "current": "temporary-1",
            "new": "new-pass-99",
            "repeat": "new-pass-99",
        },
    )
    assert done.headers["location"] == "/account/password?msg=changed"
    assert (await client.get("/waves")).status_code == 200  # normal use again
    assert await accounts.authenticate("analyst", "new-pass-99") is not None


async def test_admin_pages_for_a_district_admin(demo_city: None, client: httpx.AsyncClient) -> None:
    await _with_north_and_district_admin()
    await login(client, "sadmin", "south-pass-1")
    token = await csrf_token(client)
    listing = await client.get("/admin/users")
    assert "analyst" in listing.text and "north1" not in listing.text
    assert ">admin</a>" not in listing.text
    assert "不限（全部区县）" not in listing.text and "北城区" not in listing.text
    # The request a hand-made form could send: an unrestricted admin. Refused, nothing stored.
    response = await client.post(
        "/admin/users",
        data={
            "_csrf_token": token,
            "username": "boss",
            "password": "boss-pass-1",
            "roles": "admin",
            "district_code": "",
        },
    )
    shown = await client.get(response.headers["location"])
    assert shown.status_code == 422 and "不能设置不限区县的用户" in shown.text
    response = await client.post(
        "/admin/users/analyst",
        data={"_csrf_token": token, "roles": "admin", "district_code": "990103"},
    )
    assert "不能授予区县 990103" in (await client.get(response.headers["location"])).text
    assert (await client.get("/admin/users/north1")).status_code == 404
    assert (await client.get("/admin/users/admin")).status_code == 404
    response = await client.post("/admin/users/north1/disable", data={"_csrf_token": token})
    assert "或您无权管理" in (await client.get(response.headers["location"])).text
    assert not await AppUser.exists().where(AppUser.username == "boss")
    assert await AppUser.exists().where(
        (AppUser.username == "north1") & (AppUser.is_active == True)  # noqa: E712
    )


async def test_admin_page_edits_roles_with_checkboxes(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    await login(client, "admin")
    token = await csrf_token(client)
    page = await client.get("/admin/users/analyst")
    assert re.search(r'name="roles" value="analyst" checked> 数据分析员', page.text)
    response = await client.post(
        "/admin/users/analyst",
        data={
            "_csrf_token": token,
            "roles": ["analyst", "supervisor"],
            "district_code": SOUTH,
            "display_name": "长" * 150,
        },
    )
    shown = await client.get(response.headers["location"])
    assert shown.status_code == 422 and "姓名不能超过 100 个字" in shown.text
    response = await client.post(
        "/admin/users/analyst",
        data={
            "_csrf_token": token,
            "roles": ["analyst", "supervisor"],
            "district_code": SOUTH,
            "display_name": "王分析",
        },
    )
    assert response.headers["location"] == "/admin/users/analyst?msg=saved"
    row = await AppUser.select(AppUser.roles).where(AppUser.username == "analyst").first()
    assert row == {"roles": "analyst,supervisor"}
    response = await client.post(
        "/admin/users/analyst/password", data={"_csrf_token": token, "password": "temp-pass-1"}
    )
    assert response.headers["location"] == "/admin/users/analyst?msg=reset"
    assert "待改密码" in (await client.get("/admin/users")).text


def test_cli_user_commands(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo(()))
    assert main(["user", "edit", "analyst", "--roles", "analyst,委员会成员", "--name", "王二"]) == 0
    assert "已更新用户 analyst: 数据分析员、委员会成员，南城区，王二" in capsys.readouterr().out
    assert main(["user", "list"]) == 0
    assert "analyst\t王二\t数据分析员、委员会成员\t南城区\t启用" in capsys.readouterr().out
    assert main(["user", "disable", "analyst"]) == 0
    assert main(["user", "list"]) == 0
    assert "南城区\t已停用" in capsys.readouterr().out
    assert main(["user", "enable", "analyst"]) == 0
    assert main(["user", "reset-password", "analyst"]) == 0
    out = capsys.readouterr().out
    temp = re.search(r"临时密码: (\S+)", out)
    assert temp and "下次登录时须设置新密码" in out
    assert main(["user", "edit", "admin", "--roles", "analyst"]) == 1
    assert "至少要保留一个启用的、不限区县的系统管理员" in capsys.readouterr().err
    assert main(["user", "edit", "nobody", "--name", "x"]) == 1
    assert "没有用户 nobody" in capsys.readouterr().err
    assert main(["user", "edit", "analyst", "--district", "all", "--name", "长" * 150]) == 1
    assert "姓名不能超过 100 个字" in capsys.readouterr().err
