"""Finding 10: bad passwords lock an account only for the address they come from; from all
addresses together they slow the account down but never lock it, so an attacker cannot lock
staff out of their own platform."""

from __future__ import annotations

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
