"""Collection tests build the demo city with only the collection step (not the other areas'
demo data), so they test this area alone and stay fast."""

from __future__ import annotations

import pytest

COLLECTION_ONLY = ("survey.collection.demo",)


@pytest.fixture()
async def demo_city(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo city (registry, users, programme, open wave, demo invitations)."""
    from survey.demo import build_demo

    monkeypatch.setattr("survey.demo._DEMO_MODULES", COLLECTION_ONLY)
    await build_demo()
