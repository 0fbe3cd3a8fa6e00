"""Helpers for collection tests: the demo wave, invitations, walking the survey over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from survey.collection.invitations import create_invitations
from survey.db.tables import Wave

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
PHONES = [f"1390000{n:04d}" for n in range(1, 200)]


async def demo_wave_id() -> int:
    row = await Wave.select(Wave.id).where(Wave.month == "2026-11").first()
    assert row is not None
    return int(row["id"])


async def invite(instrument_id: str, count: int = 1, start: int = 0) -> list[str]:
    """Fresh invitations in the demo wave; returns their tokens."""
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, PHONES[start : start + count], instrument_id, None)
    return [c.token for c in summary.created]


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = CSRF.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


async def post(
    client: httpx.AsyncClient, token: str, screen: str, fields: dict[str, Any], nav: str = "next"
) -> httpx.Response:
    data: dict[str, Any] = {"_csrf_token": await csrf(client, "/login"), "_screen": screen}
    data["_nav"] = nav
    data.update(fields)
    return await client.post(f"/s/{token}", data=data)


async def reshown(
    client: httpx.AsyncClient, token: str, screen: str, fields: dict[str, Any], nav: str = "next"
) -> httpx.Response:
    """POST a screen that does not pass: Post/Redirect/Get — the answer is a 303 to a GET of the
    same link (``?f=…``), which shows the screen with its errors (status 422). Returns the GET."""
    response = await post(client, token, screen, fields, nav)
    assert response.status_code == 303, response.status_code
    location = response.headers["location"]
    assert location.startswith(f"/s/{token}") and "f=flash-" in location, location
    return await client.get(location)


SCREEN = re.compile(r'name="_screen" value="([^"]+)"')
INPUT = re.compile(r'<input type="(radio|checkbox)" name="([^"]+)" value="([^"]+)"')
TEXTAREA = re.compile(r'<textarea name="([^"]+)"')


#: Picks one of a question's option values (``name``, values in page order).
Chooser = Callable[[str, list[str]], str]


def first_choices(
    html: str, prefer: dict[str, str] | None = None, choose: Chooser | None = None
) -> dict[str, Any]:
    """For every question on a page: the preferred value, else ``choose``'s pick (default: its
    first option); "无" for text."""
    prefer = prefer or {}
    options: dict[str, list[str]] = {}
    for _kind, name, value in INPUT.findall(html):
        options.setdefault(name, []).append(value)
    fields: dict[str, Any] = {
        name: prefer[name] if name in prefer else (choose(name, values) if choose else values[0])
        for name, values in options.items()
    }
    for name in TEXTAREA.findall(html):
        fields.setdefault(name, prefer.get(name, "无"))
    return fields


async def walk(
    client: httpx.AsyncClient,
    token: str,
    prefer: dict[str, str] | None = None,
    *,
    stop_after: int | None = None,
    choose: Chooser | None = None,
) -> list[str]:
    """Answer the survey behind ``token`` screen by screen with ``first_choices``; returns the
    screens answered. Stops at the thank-you page, or after ``stop_after`` screens."""
    seen: list[str] = []
    page = await client.get(f"/s/{token}")
    for _ in range(40):
        match = SCREEN.search(page.text)
        if match is None:
            break
        screen = match.group(1)
        if stop_after is not None and len(seen) >= stop_after:
            break
        seen.append(screen)
        data: dict[str, Any] = {"_csrf_token": CSRF.search(page.text).group(1)}  # type: ignore[union-attr]
        data.update({"_screen": screen, "_nav": "next"})
        data.update(first_choices(page.text, prefer, choose))
        response = await client.post(f"/s/{token}", data=data)
        assert response.status_code == 303, (screen, response.status_code, response.text[:2000])
        page = await client.get(response.headers["location"])
        assert page.status_code == 200, page.text[:500]
    return seen
