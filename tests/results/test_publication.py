"""Committee members read published waves only; analysts also see computed drafts."""

from __future__ import annotations

import httpx
import pytest

from survey.db.tables import Wave
from tests.helpers import login

pytestmark = pytest.mark.anyio


async def _wave_id(month: str) -> int:
    row = await Wave.select(Wave.id).where(Wave.month == month).first()
    assert row is not None
    return int(row["id"])


@pytest.mark.parametrize(("username", "sees_draft"), [("committee", False), ("analyst", True)])
async def test_drafts_are_hidden_from_the_committee(
    demo_city: None, client: httpx.AsyncClient, username: str, sees_draft: bool
) -> None:
    published = await _wave_id("2026-09")
    draft = await _wave_id("2026-10")
    # A computed wave that is not published yet (closed, results recomputed by an analyst).
    await Wave.update({Wave.status: "closed"}).where(Wave.id == draft)
    assert (await login(client, username)).status_code == 303
    assert (await client.get(f"/results/{published}")).status_code == 200
    page = await client.get(f"/results/{draft}")
    assert page.status_code == (200 if sees_draft else 404)
    report = await client.get(f"/results/{draft}/report/html")
    assert (report.status_code == 200) is sees_draft
    listing = await client.get("/results/")
    assert (f'href="/results/{draft}"' in listing.text) is sees_draft
    assert f'href="/results/{published}"' in listing.text
