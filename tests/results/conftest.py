"""Fixtures of the results tests: the demo registry and programme without the areas' demo data
(cheaper than ``demo_city`` where the three demo waves are not needed)."""

from __future__ import annotations

from types import ModuleType

import pytest

import survey.results.demo
from survey.db.tables import Programme, Unit
from survey.demo import DISTRICT, registry_csv
from survey.registry.service import import_registry_table
from survey.tabular import read_table
from tests.conftest import built_once


async def build_small_city() -> None:
    """The demo registry (南城区) and its programme ``nancheng-lsyd``; no waves, no users."""
    await import_registry_table(read_table("demo-registry.csv", registry_csv()), username="test")
    district = await Unit.select(Unit.id).where(Unit.code == DISTRICT[0]).first()
    assert district is not None
    await Programme.insert(
        Programme(
            code="nancheng-lsyd",
            name="南城区两率一度月度测评",
            region=district["id"],
            instruments='["liangshuaiyidu"]',
            policy="default",
        )
    )


@pytest.fixture()
async def small_city(db: None) -> None:
    """``build_small_city`` in the test database (built once per run)."""
    await built_once("small_city", build_small_city)


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    """``demo_city`` runs this area's demo step only."""
    return (survey.results.demo,)
