"""Programme tests build the demo city with the collection step only (its ten demo links)."""

from __future__ import annotations

from types import ModuleType

import pytest

import survey.collection.demo


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    return (survey.collection.demo,)
