"""Post/Redirect/Get for forms: a POST that fails validation stores what the page must show
(the error, the values typed) under a random key and redirects to a GET carrying ``?f=<key>``;
the GET shows it. The browser's Back button then never offers to resubmit a form.

Entries live in the ``web_session`` table (same store as sessions, so every worker sees them)
for ``FLASH_SECONDS``, bound to an owner (a user id or a survey token) so that a key copied into
another browser or link shows nothing."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode

from survey.web.sessions import DatabaseSessionStore

FLASH_SECONDS = 900
_PREFIX = "flash-"
_STORE = DatabaseSessionStore(FLASH_SECONDS)


async def put(owner: str, payload: dict[str, Any]) -> str:
    """Store ``payload`` (JSON-serialisable) for ``owner``; returns the key for the GET."""
    key = _PREFIX + secrets.token_urlsafe(18)
    await _STORE.set(
        key,
        json.dumps({"owner": owner, "payload": payload}, ensure_ascii=False),
        expires_in=FLASH_SECONDS,
    )
    return key


async def take(key: str | None, owner: str) -> dict[str, Any] | None:
    """The payload stored under ``key`` for ``owner``, or None (unknown, expired, other owner).
    Left in place until it expires: reloading the page shows the same error again."""
    if not key or not key.startswith(_PREFIX) or len(key) > 60:
        return None
    raw = await _STORE.get(key)
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("owner") != owner:
        return None
    payload = entry.get("payload")
    return payload if isinstance(payload, dict) else None


async def redirect_url(path: str, owner: str, payload: dict[str, Any]) -> str:
    """``path`` with ``f=<key>`` of a new entry appended to its query string."""
    key = await put(owner, payload)
    return f"{path}{'&' if '?' in path else '?'}{urlencode({'f': key})}"
