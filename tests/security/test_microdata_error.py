"""Finding 6 (continued): the microdata export of a wave whose weighting fails is a client error
with the reason, not a 500 from the uncaught estimation error."""

from __future__ import annotations

from types import ModuleType

import httpx
import pytest

import survey.results.demo
from survey.collection.tables import Response
from survey.db.tables import Programme, Wave
from tests.helpers import login

pytestmark = pytest.mark.anyio


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    """The results area's demo: three computed waves of interviews."""
    return (survey.results.demo,)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_microdata_of_a_wave_whose_weighting_fails(
    demo_city: None, client: httpx.AsyncClient, fmt: str
) -> None:
    programme = await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd")
    wave = (
        await Wave.select(Wave.id)
        .where((Wave.programme == programme[0]["id"]) & (Wave.month == "2026-10"))
        .first()
    )
    assert wave is not None
    # Nobody aged 60+ any more in this wave: the 60+ population cells have no respondent, so
    # raking has an empty cell (EstimationError) — as after a bad delivered-data import.
    await Response.update({Response.age_group: "45-59"}).where(
        (Response.wave == wave["id"]) & (Response.age_group == "60+")
    )
    assert (await login(client, "analyst")).status_code == 303
    response = await client.get(f"/results/{wave['id']}/microdata/{fmt}")
    assert 400 <= response.status_code < 500, response.status_code
    assert "加权失败" in response.text and "60岁及以上人群" in response.text
    assert "没有受访者" in response.text
