"""Helpers for collection tests: the demo wave, invitations, walking the survey over HTTP."""

from __future__ import annotations

import re
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
    data: dict[str, Any] = {"_csrf_token": await csrf(client, f"/s/{token}"), "_screen": screen}
    data["_nav"] = nav
    data.update(fields)
    return await client.post(f"/s/{token}", data=data)
