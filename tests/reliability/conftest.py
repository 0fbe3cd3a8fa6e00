"""Reliability tests: the whole demo city."""

from __future__ import annotations

import pytest

from tests.conftest import build_test_demo


@pytest.fixture()
async def demo_city(db: None) -> None:
    """The whole demo city (every area's demo data) in the test database."""
    await build_test_demo(None)
