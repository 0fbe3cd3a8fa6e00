"""The dashboard ranks what the wave's policy ranks, in the policy's order (no list of its own).

The programme gets a policy that ranks 知晓率 (streets) first and 安全感 (stations) second and
leaves the departments' 满意度 out; the fixture wave of ``test_compute`` is computed under it.
"""

from __future__ import annotations

import pytest

from survey.programmes.service import set_policy
from survey.results.compute import compute_wave
from survey.results.dashboard import wave_view
from tests.results.test_compute import _fixture_wave

pytestmark = pytest.mark.anyio

TWO_INDICES = """
id = "two"
version = 1
title = "只排知晓率和安全感"

[indices.zhixiaolv]
name = "知晓率"
unit = "%"

[indices.anquangan]
name = "安全感"
unit = "%"

[[sanctions]]
id = "zhixiaolv_houliangwei"
index = "zhixiaolv"
when = "bottom_k"
k = 1
ladder = [{ waves = 1, level = "criticism", measure = "通报批评" }]
"""


async def test_dashboard_ranks_the_policy_indices_in_policy_order(small_city: None) -> None:
    await set_policy("nancheng-lsyd", TWO_INDICES, "two.toml", username="admin")
    wave_id = await _fixture_wave()
    await compute_wave(wave_id, username="test")
    view = await wave_view(wave_id)
    assert [(r.index_id, r.unit_word) for r in view.rankings] == [
        ("zhixiaolv", "街道（乡镇）"),
        ("anquangan", "派出所"),
    ]
    # The fixture wave's stations: 城关 and 东门 (the only two with interviews are ranked).
    assert {row.result.unit_code for row in view.rankings[1].rows} >= {"990102P01", "990102P02"}
