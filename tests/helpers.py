"""Helpers for tests that talk to the web app: CSRF token, logging in."""

from __future__ import annotations

import re

import httpx

from survey.demo import DEMO_PASSWORD

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: httpx.AsyncClient) -> str:
    """Fetch the login page so the CSRF cookie is set; return the form token."""
    page = await client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match, "login page has no CSRF field"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD
) -> httpx.Response:
    """Sign in through the login form; returns the POST response (303 on success)."""
    token = await csrf_token(client)
    return await client.post(
        "/login",
        data={"username": username, "password": password, "next": "/", "_csrf_token": token},
    )
