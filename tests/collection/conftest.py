"""Collection tests build the demo city with only the collection step (not the other areas'
demo data), so they test this area alone and stay fast."""

from __future__ import annotations

from types import ModuleType

import pytest

import survey.collection.demo

COLLECTION_ONLY = (survey.collection.demo,)


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    """The demo city with the collection step only (demo invitations)."""
    return COLLECTION_ONLY
