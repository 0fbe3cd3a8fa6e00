"""Finding 10: bad passwords lock an account only for the address they come from; from all
addresses together they slow the account down but never lock it, so an attacker cannot lock
staff out of their own platform."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from survey.limits import SLOW_DOWN_S
from survey.web.app import create_app
from tests.helpers import login

pytestmark = pytest.mark.anyio


@pytest.fixture()
async def app(demo_city: None) -> AsyncIterator[Litestar]:
    application = create_app()
    async with application.lifespan():
        yield application


def _alert(page: str) -> str:
    """The text of the login page's error box."""
    found = re.search(r'role="alert">([^<]*)<', page)
    return found.group(1) if found else ""


def _client(app: Litestar, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_five_bad_passwords_lock_the_account_for_that_address_only(app: Litestar) -> None:
    async with _client(app, "198.51.100.7") as attacker, _client(app, "10.1.1.1") as owner:
        for _ in range(5):
            assert (await login(attacker, "admin", "guess-guess")).status_code == 401
        # The attacker's address is locked for this account, even with the right password…
        assert (await login(attacker, "admin")).status_code == 401
        # …the owner, signing in from their own address, is not.
        assert (await login(owner, "admin")).status_code == 303
        assert (await owner.get("/admin/users")).status_code == 200


async def test_many_addresses_slow_the_account_down_without_locking_it(
    app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("survey.accounts.SLOW_AFTER_FAILURES", 4)
    monkeypatch.setattr("survey.accounts._pause", pause)
    for i in range(4):  # a guesser spread over four addresses, one try each
        async with _client(app, f"198.51.100.{i + 10}") as guesser:
            assert (await login(guesser, "admin", "guess-guess")).status_code == 401
    assert waits == []  # not yet over the account's threshold
    async with _client(app, "10.1.1.1") as owner:
        assert (await login(owner, "admin")).status_code == 303  # slowed, not locked
    assert waits == [SLOW_DOWN_S]
    async with _client(app, "10.1.1.2") as other:
        assert (await login(other, "analyst")).status_code == 303
    assert waits == [SLOW_DOWN_S]  # another account is not slowed


async def test_a_locked_sign_in_says_so_and_an_administrator_unlocks_it(app: Litestar) -> None:
    """The locked pair is told it is locked, for how long and who can lift it (a wrong
    password is told only that); `survey user enable` on the enabled account and a password
    reset forget its failures from every address, with an audit entry."""
    from survey.accounts import reset_password, set_active
    from survey.db.tables import AuditLog

    async with _client(app, "198.51.100.7") as staff:
        wrong = await login(staff, "analyst", "guess-guess")
        assert wrong.status_code == 401 and _alert(wrong.text) == "用户名或密码错误。"
        for _ in range(4):
            await login(staff, "analyst", "guess-guess")
        locked = await login(staff, "analyst")
        assert locked.status_code == 401
        assert re.fullmatch(
            "登录失败次数过多，该账号在本机已暂时锁定，请约 ([1-9]|1[0-5]) 分钟后再试；"
            "需要立即登录时，请系统管理员解锁（启用账号或重置密码）。",
            _alert(locked.text),
        )
        await set_active("analyst", True, actor="admin")  # the account was never disabled
        assert (await login(staff, "analyst")).status_code == 303
    async with _client(app, "198.51.100.8") as staff:
        for _ in range(5):
            await login(staff, "supervisor", "guess-guess")
        assert "暂时锁定" in _alert((await login(staff, "supervisor")).text)
        await reset_password("supervisor", "temporary-pw-1", actor="admin")
        assert (await login(staff, "supervisor", "temporary-pw-1")).status_code == 303
    unlocks = await AuditLog.select(AuditLog.username, AuditLog.detail).where(
        AuditLog.action == "user.unlock"
    )
    assert [(r["username"], r["detail"]) for r in unlocks] == [
        ("admin", "user=analyst"),
        ("admin", "user=supervisor"),
    ]


async def test_an_unknown_user_name_locks_like_a_real_one(app: Litestar) -> None:
    """The lock message tells nothing about which user names exist: five failures on a name
    nobody has lock that name for the address exactly as for a real account."""
    async with _client(app, "198.51.100.9") as guesser:
        for _ in range(5):
            wrong = await login(guesser, "nobody-here", "x-guess-x")
            assert _alert(wrong.text) == "用户名或密码错误。"
        assert "暂时锁定" in _alert((await login(guesser, "nobody-here", "x-guess-x")).text)


async def test_forget_drops_the_account_and_its_addresses_only() -> None:
    from survey.limits import MemoryCounters

    counters = MemoryCounters()
    for key in ("fail:ann", "fail:ann:10.0.0.1", "fail:ann:10.0.0.2", "fail:anna:10.0.0.1"):
        await counters.add(key, 900)
    await counters.add("fail:ann:10.0.0.2", 900)
    assert await counters.forget("fail:ann") == 2  # the most any of the three held
    assert [await counters.get(k, 900) for k in ("fail:ann", "fail:ann:10.0.0.1")] == [0, 0]
    assert await counters.get("fail:anna:10.0.0.1", 900) == 1
    assert await counters.forget("fail:ann") == 0  # nothing left: an unlock audits nothing
