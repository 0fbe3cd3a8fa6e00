"""A small region for sample-design tests: one district, three streets, two police stations.

Street 110101001 has communities C1 (station S1) and C2 (S2); street 110101002 has C3 (S1);
street 110101003 has C4 (S2). One programme for the district and one open wave (``2026-11``),
plus an earlier wave (``2026-10``) for the exclusion of recently used numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import pytest

import survey.design.demo
from survey.db.tables import Programme, Unit, Wave
from survey.registry.service import import_registry_file
from tests.conftest import built_once

REGISTRY = "\n".join(
    [
        "kind,code,name,parent_code,station_code",
        "市,110100,测试市,,",
        "区,110101,东区,110100,",
        "区,110102,西区,110100,",
        "派出所,S1,东关派出所,110101,",
        "派出所,S2,西关派出所,110101,",
        "派出所,S9,西城派出所,110102,",
        "街道,110101001,东关街道,110101,",
        "街道,110101002,南关街道,110101,",
        "街道,110101003,北关街道,110101,",
        "街道,110102001,西城街道,110102,",
        "社区,C1,一号社区,110101001,S1",
        "社区,C2,二号社区,110101001,S2",
        "社区,C3,三号社区,110101002,S1",
        "社区,C4,四号社区,110101003,S2",
        "社区,W1,西一社区,110102001,S9",
    ]
)
STREETS = ("110101001", "110101002", "110101003")


@dataclass(frozen=True)
class Region:
    wave_id: int
    earlier_wave_id: int
    programme_id: int


@pytest.fixture()
async def region(db: None) -> Region:
    """The region, its programme and waves, built in the test's event loop (once per run)."""
    return await built_once("design_region", build_region)


@pytest.fixture()
def region_sync(db: None) -> Region:
    """The same for synchronous tests (CLI commands run their own event loop)."""
    from tests.conftest import run_async

    return run_async(lambda: built_once("design_region", build_region))


async def build_region() -> Region:
    await import_registry_file("registry.csv", REGISTRY.encode())
    district = await Unit.select(Unit.id).where(Unit.code == "110101").first()
    assert district is not None
    result = await Programme.insert(
        Programme(code="east", name="东区测评", region=district["id"])
    ).returning(Programme.id)
    programme = int(result[0]["id"])
    earlier = await Wave.insert(
        Wave(programme=programme, month="2026-10", status="closed")
    ).returning(Wave.id)
    wave = await Wave.insert(Wave(programme=programme, month="2026-11", status="design")).returning(
        Wave.id
    )
    return Region(int(wave[0]["id"]), int(earlier[0]["id"]), programme)


def frame_csv(counts: dict[str, int], *, start: int = 0, header: str = "unit,phone") -> bytes:
    """A phone frame with ``counts[unit]`` rows per community, numbers 1390000xxxx in order."""
    lines = [header]
    k = start
    for unit, count in counts.items():
        for _ in range(count):
            lines.append(f"{unit},1390000{k:04d}")
            k += 1
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    """``demo_city`` runs this area's demo step only."""
    return (survey.design.demo,)
