"""The one wave reference and visibility rule (``survey.waves``): a city (测试市) with two
districts, a programme on each district and one on the city, one wave each."""

from __future__ import annotations

import pytest

from survey.db.tables import Programme, Unit, Wave
from survey.registry.service import import_registry_file
from survey.waves import STATUS_NAMES, visible_wave, wave_ref, waves_for
from tests.foundation.test_region_tree import FILE

pytestmark = pytest.mark.anyio


async def _setup() -> dict[str, int]:
    """Unit ids by code, and wave ids by programme code."""
    await import_registry_file("tree.csv", FILE.encode())
    ids = {r["code"]: int(r["id"]) for r in await Unit.select(Unit.id, Unit.code)}
    waves: dict[str, int] = {}
    for code, region, month, status in (
        ("east", "110101", "2026-10", "published"),
        ("west", "110102", "2026-11", "collecting"),
        ("city", "110100", "2026-12", "design"),
    ):
        row = await Programme.insert(
            Programme(code=code, name=f"{code}测评", region=ids[region], instruments='["a"]')
        ).returning(Programme.id)
        wave = await Wave.insert(
            Wave(programme=row[0]["id"], month=month, status=status)
        ).returning(Wave.id)
        waves[code] = int(wave[0]["id"])
    return {**ids, **waves}


async def test_reference_and_who_sees_which_wave(db: None) -> None:
    ids = await _setup()
    east = await wave_ref(ids["east"])
    assert east is not None
    assert (east.programme_code, east.programme_name, east.month) == ("east", "east测评", "2026-10")
    assert (east.region_id, east.region_code, east.region_name) == (ids["110101"], "110101", "东区")
    assert east.instruments == ("a",) and east.label == "east测评 2026-10"
    # The one vocabulary: a published wave reads 发布; it may take no step any more.
    assert east.status_name == STATUS_NAMES["published"] == "发布" and east.steps == ()
    west = await wave_ref(ids["west"])
    assert west is not None and west.steps == (("closed", "结束采集"),)
    assert await wave_ref(-1) is None

    # Unlimited: every wave, newest month first.
    assert [w.programme_code for w in await waves_for(None)] == ["city", "west", "east"]
    # Managing: a district user sees their district's programmes only …
    assert [w.programme_code for w in await waves_for(ids["110101"])] == ["east"]
    assert await visible_wave(ids["west"], ids["110101"]) is None
    assert await visible_wave(ids["city"], ids["110101"]) is None
    # … reading results, also the city's above it (never the other district's).
    assert [w.programme_code for w in await waves_for(ids["110101"], city_above=True)] == [
        "city",
        "east",
    ]
    seen = await visible_wave(ids["city"], ids["110101"], city_above=True)
    assert seen is not None and seen.region_code == "110100"
    assert await visible_wave(ids["west"], ids["110101"], city_above=True) is None
