"""Rate limits for the public routes: the residents' survey (``/s/<token>``) and the login form.

Limits (per minute, fixed one-minute windows; each configurable, 0 switches one off):

* ``PINGAN_RATE_SURVEY_IP`` (default 1200): requests to ``/s/…`` from one client address. High on
  purpose: residents on mobile networks share carrier NAT addresses.
* ``PINGAN_RATE_SURVEY_MISS_IP`` (default 30): ``/s/…`` requests from one address that named an
  unknown, expired or finished invitation (status 404/410). Guessing tokens burns this quickly,
  while a resident re-opening a finished link a few times never reaches it. Once over, every
  further miss from that address is answered only after ``PINGAN_RATE_SURVEY_MISS_DELAY_MS``
  (default 2000 ms) and counted (a warning in the log when an address crosses the limit); a
  valid link from the same address is never slowed or refused by it — carrier NAT puts
  thousands of residents behind one address, and one guesser there must not lock them out.
* ``PINGAN_RATE_SURVEY_TOKEN`` (default 120): requests naming one token (a resident answers a
  page every few seconds at most).
* ``PINGAN_RATE_LOGIN_IP`` (default 20): ``POST /login`` from one address (the per-account lockout
  after 5 failures lives in ``survey.accounts``).

A refused request gets ``429`` with ``Retry-After`` and a short Chinese page (or JSON for
``/api/``). Counters live in the store every worker and host shares (``survey.limits``: the
``rate_counter`` table, UNLOGGED on PostgreSQL — one upsert per counted request), so a limit
holds whatever the number of workers (issue 15, finding 11). The client
address is the ASGI ``client``: the TCP peer, or the address a proxy named in
``PINGAN_TRUSTED_PROXIES`` forwarded (``survey.web.app.asgi_app``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from survey.limits import Counters, counter_store, retry_after

log = logging.getLogger("survey.web")
WINDOW_S = 60
SURVEY_PREFIX = "/s/"
RETRY_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<title>请稍后再试</title><link rel="stylesheet" href="/static/app.css"></head>'
    '<body><main class="page"><h1>请稍后再试</h1>'
    "<p>您的操作过于频繁，请在一分钟后重新打开链接。已填写的答案不会丢失。</p>"
    "</main></body></html>"
)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests allowed per one-minute window (0 = no limit)."""

    survey_ip: int = 1200
    survey_miss_ip: int = 30
    survey_token: int = 120
    login_ip: int = 20
    survey_miss_delay_ms: int = 2000

    @classmethod
    def from_env(cls) -> RateLimits:
        """Limits from ``PINGAN_RATE_*`` (see module docstring); a bad value is an error."""
        defaults = cls()

        def read(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit():
                raise ValueError(f"{name} 应为非负整数，而不是 {raw!r}")
            return int(raw)

        return cls(
            survey_ip=read("PINGAN_RATE_SURVEY_IP", defaults.survey_ip),
            survey_miss_ip=read("PINGAN_RATE_SURVEY_MISS_IP", defaults.survey_miss_ip),
            survey_token=read("PINGAN_RATE_SURVEY_TOKEN", defaults.survey_token),
            login_ip=read("PINGAN_RATE_LOGIN_IP", defaults.login_ip),
            survey_miss_delay_ms=read(
                "PINGAN_RATE_SURVEY_MISS_DELAY_MS", defaults.survey_miss_delay_ms
            ),
        )


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _token_of(path: str) -> str:
    rest = path[len(SURVEY_PREFIX) :]
    return rest.split("/", 1)[0]


async def _refuse(send: Send, retry_after: int, json_body: bool) -> None:
    if json_body:
        body = '{"error":"请求过于频繁，请稍后再试"}'.encode()
        content_type = b"application/json"
    else:
        body = RETRY_PAGE.encode()
        content_type = b"text/html; charset=utf-8"
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rate_limit_middleware_factory(
    limits: RateLimits | None = None, counters: Counters | None = None
) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware (``Litestar(middleware=[…])``) applying ``limits`` (default: from
    the environment) with ``counters`` (default: the installation's shared store)."""
    limits = limits or RateLimits.from_env()

    class _Store:  # the window of every limit here is one minute
        async def add(self, key: str) -> int:
            return await (counters or counter_store()).add(key, WINDOW_S)

        async def get(self, key: str) -> int:
            return await (counters or counter_store()).get(key, WINDOW_S)

        def retry_after(self) -> int:
            return retry_after(WINDOW_S)

    store = _Store()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            path = str(scope.get("path", ""))
            method = str(scope.get("method", "GET"))
            ip = _client_ip(scope)
            if path == "/login" and method == "POST" and limits.login_ip:
                if await store.add(f"login:{ip}") > limits.login_ip:
                    await _refuse(send, store.retry_after(), json_body=False)
                    return
                await app(scope, receive, send)
                return
            if not path.startswith(SURVEY_PREFIX):
                await app(scope, receive, send)
                return
            token = _token_of(path)
            over = (limits.survey_ip and await store.add(f"ip:{ip}") > limits.survey_ip) or (
                limits.survey_token and await store.add(f"tok:{token}") > limits.survey_token
            )
            if over:
                await _refuse(send, store.retry_after(), json_body=False)
                return

            async def watch(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] in (404, 410):
                    misses = await store.add(f"miss:{ip}")
                    if limits.survey_miss_ip and misses > limits.survey_miss_ip:
                        if misses == limits.survey_miss_ip + 1:
                            log.warning("survey link guessing from %s: miss limit passed", ip)
                        # Slow the guesser down; a valid link (200) never waits here.
                        await asyncio.sleep(limits.survey_miss_delay_ms / 1000)
                await send(message)

            await app(scope, receive, watch)

        return handle

    return middleware


def describe(limits: RateLimits) -> dict[str, Any]:
    """The limits as a plain mapping (for docs and the load script's report)."""
    return {
        "survey_ip": limits.survey_ip,
        "survey_miss_ip": limits.survey_miss_ip,
        "survey_token": limits.survey_token,
        "login_ip": limits.login_ip,
        "survey_miss_delay_ms": limits.survey_miss_delay_ms,
    }
