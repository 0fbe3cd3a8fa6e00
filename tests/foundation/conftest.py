"""Fixtures for platform tests: the demo city, an in-loop HTTP client, logging in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from survey.demo import DEMO_PASSWORD, build_demo


@pytest.fixture()
async def demo_city(db: None) -> None:
    await build_demo()


@pytest.fixture()
async def client(db: None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in this event loop (lifespan started)."""
    from survey.web.app import create_app

    app = create_app()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


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
    token = await csrf_token(client)
    return await client.post(
        "/login",
        data={"username": username, "password": password, "next": "/", "_csrf_token": token},
    )
