"""Finding 11: rate-limit counters and login lockouts are shared by every worker (the
``rate_counter`` table): ``survey serve --workers 2`` keeps the login limit at its value."""

from __future__ import annotations

import os

import httpx

from survey.accounts import create_user
from tests.conftest import run_async
from tests.reliability.live import CSRF
from tests.security.serve import survey_serve

LIMIT = 6
PASSWORD = "right-password-2026"


def test_the_login_limit_holds_across_two_workers(db: None) -> None:
    env = {**os.environ, "PINGAN_RATE_LOGIN_IP": str(LIMIT)}
    statuses = []
    with survey_serve(env, "--workers", "2") as base:
        for _ in range(4 * LIMIT):
            # A new connection each time, so the kernel spreads them over both workers.
            with httpx.Client(base_url=base, timeout=30) as client:
                response = client.post("/login", data={"username": "admin", "password": "x"})
                statuses.append(response.status_code)
    # With per-worker counters up to 2 × LIMIT got through; shared, exactly LIMIT do.
    assert statuses[:LIMIT] == [403] * LIMIT, statuses  # no CSRF token: refused, but counted
    assert statuses[LIMIT:] == [429] * (3 * LIMIT), statuses


def test_a_locked_pair_is_locked_in_every_worker(db: None) -> None:
    run_async(lambda: create_user("admin", PASSWORD, frozenset({"admin"})))
    env = {**os.environ, "PINGAN_RATE_LOGIN_IP": "0"}
    statuses = []
    with survey_serve(env, "--workers", "2") as base:
        for attempt in range(8):
            with httpx.Client(base_url=base, timeout=30) as client:
                token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
                password = "wrong-password" if attempt < 5 else PASSWORD
                response = client.post(
                    "/login",
                    data={"username": "admin", "password": password, "_csrf_token": token},
                )
                statuses.append(response.status_code)
    # Five failures from this address, whichever worker saw them: the right password is
    # refused after (per-worker counts would have needed up to ten).
    assert statuses == [401] * 8, statuses
