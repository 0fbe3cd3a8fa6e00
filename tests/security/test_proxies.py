"""Finding 7: ``X-Forwarded-For`` is believed only from ``PINGAN_TRUSTED_PROXIES`` (default
none), for both servers ``survey serve`` can start: varying the header does not get around the
login and token-guessing limits."""

from __future__ import annotations

import os

import httpx
import pytest

from survey.settings import load_settings
from tests.security.serve import survey_serve

LIMITS = {
    "PINGAN_RATE_LOGIN_IP": "3",
    "PINGAN_RATE_SURVEY_IP": "3",  # guesses past the miss limit are only slowed (finding 8)
    "PINGAN_RATE_SURVEY_MISS_IP": "0",
    "PINGAN_RATE_SURVEY_TOKEN": "0",
}


def _statuses(base: str, method: str, path: str, n: int) -> list[int]:
    with httpx.Client(base_url=base, timeout=30) as client:
        return [
            client.request(
                method,
                path.format(i=i),
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                data={"username": "admin", "password": "wrong"} if method == "POST" else None,
            ).status_code
            for i in range(n)
        ]


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_forwarded_headers_from_an_untrusted_peer_do_not_reset_the_limits(
    db: None, server: str
) -> None:
    env = {**os.environ, **LIMITS}
    env.pop("PINGAN_TRUSTED_PROXIES", None)
    with survey_serve(env, "--server", server) as base:
        login = _statuses(base, "POST", "/login", 8)
        assert login[3:] == [429] * 5, login  # one address however the header varies
        guesses = _statuses(base, "GET", "/s/no-such-token-{i}-xxxxxxxxxx", 8)
        assert guesses[:3] == [404] * 3 and guesses[3:] == [429] * 5, guesses


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_a_trusted_proxy_passes_on_the_client_address(db: None, server: str) -> None:
    env = {**os.environ, **LIMITS, "PINGAN_TRUSTED_PROXIES": "127.0.0.1"}
    with survey_serve(env, "--server", server) as base:
        login = _statuses(base, "POST", "/login", 8)
        assert 429 not in login, login  # eight residents' addresses behind the proxy


def test_the_setting_is_checked() -> None:
    os.environ["PINGAN_TRUSTED_PROXIES"] = "10.0.0.5, 10.1.0.0/16"
    try:
        assert load_settings().trusted_proxies == ("10.0.0.5", "10.1.0.0/16")
        os.environ["PINGAN_TRUSTED_PROXIES"] = "proxy.local"
        with pytest.raises(ValueError, match="PINGAN_TRUSTED_PROXIES"):
            load_settings()
    finally:
        del os.environ["PINGAN_TRUSTED_PROXIES"]
