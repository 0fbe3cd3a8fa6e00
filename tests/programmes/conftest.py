"""Programme tests build the demo city with the collection step only (its ten demo links)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def demo_modules() -> tuple[str, ...]:
    return ("survey.collection.demo",)
