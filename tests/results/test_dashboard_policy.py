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


DEPARTMENTS_80 = """
id = "bumen80"
version = 1
title = "部门达标分值 80，检察院 95"

[indices.manyidu_bumen]
name = "满意度"
unit = "分"

[[sanctions]]
id = "manyidu_weidabiao"
index = "manyidu_bumen"
when = "below"
threshold = 80
thresholds = { jianchayuan = 95 }
ladder = [{ waves = 1, level = "criticism", measure = "通报批评" }]
"""


async def test_the_departments_table_shows_the_policys_pass_scores(small_city: None) -> None:
    """The departments' 达标分值 is the policy's (80, the 检察院 95), as the sanctions apply
    it, not the instrument's pass_score (85) that the table used to show for every row; the
    probability column is P(低于达标分值), not a P(后2位) the rule never uses."""
    await set_policy("nancheng-lsyd", DEPARTMENTS_80, "bumen80.toml", username="admin")
    wave_id = await _fixture_wave()
    await compute_wave(wave_id, username="test")
    view = await wave_view(wave_id)
    [ranking] = [r for r in view.rankings if r.index_id == "manyidu_bumen"]
    assert ranking.target == 80 and ranking.p_label == "P(低于达标分值)"
    targets = {row.result.unit_code.rpartition("/")[2]: row.target for row in ranking.rows}
    assert targets["jianchayuan"] == 95
    assert {t for code, t in targets.items() if code != "jianchayuan"} == {80}
    jianchayuan = next(r for r in ranking.rows if r.result.unit_code.endswith("/jianchayuan"))
    assert ranking.target_exceptions == (f"{jianchayuan.result.unit_name} 95",)
    for row in ranking.rows:
        assert row.p == row.result.evidence["p_below"]
        reasons = " ".join(s["reason"] for s in row.result.sanctions)
        assert (row.result.estimate is not None and round(row.result.estimate, 1) < row.target) == (
            f"低于达标分值{row.target:g}分" in reasons
        )


BOTTOM_ONE_HELD = """
id = "houyiwei"
version = 1
title = "后一位，先复核"
min_n_eff = 2

[indices.zhixiaolv]
name = "知晓率"
unit = "%"

[[sanctions]]
id = "zhixiaolv_houyiwei"
index = "zhixiaolv"
when = "bottom_k"
k = 1
ladder = [{ waves = 1, level = "criticism", measure = "通报批评" }]
"""


async def test_the_review_page_names_the_rules_own_probability(small_city: None) -> None:
    """A held sanction of a bottom-1 rule is shown with P(后1位) (the page said P(后2位)
    whatever the rule's k). The fixture's bottom street is certain (P = 1), so its stored
    sanction is marked held by hand: what is tested is the review list, not the hold rule."""
    import json

    from survey.results.review import reviews_for_wave
    from survey.results.tables import IndexResult

    await set_policy("nancheng-lsyd", BOTTOM_ONE_HELD, "houyiwei.toml", username="admin")
    wave_id = await _fixture_wave()
    await compute_wave(wave_id, username="test")
    rows = await IndexResult.select(IndexResult.id, IndexResult.sanctions).where(
        (IndexResult.wave == wave_id) & (IndexResult.sanctions.like("%houyiwei%"))
    )
    assert len(rows) == 1
    sanctions = [{**s, "review": "held"} for s in json.loads(rows[0]["sanctions"])]
    await IndexResult.update({IndexResult.sanctions: json.dumps(sanctions)}).where(
        IndexResult.id == rows[0]["id"]
    )
    held = await reviews_for_wave(wave_id)
    assert [(p.index_id, p.k, p.p_below) for p in held] == [("zhixiaolv", 1, None)]


async def test_the_report_explains_a_threshold_sanction_by_its_threshold(
    small_city: None,
) -> None:
    """A department sanctioned for being under a threshold: the report's note compares it with
    the threshold (it said 「与后2位之外的单位统计上无法区分」, a rank comparison the rule never
    made; the ranking table gives its P(低于达标分值)). The fixture's departments are all
    clearly under 99, so one row is marked indistinguishable by hand: what is tested is the
    report's wording, not the test of distinguishability."""
    from survey.results.report import render_report
    from survey.results.tables import IndexResult

    policy = DEPARTMENTS_80.replace("threshold = 80", "threshold = 99").replace(
        "thresholds = { jianchayuan = 95 }\n", ""
    )
    await set_policy("nancheng-lsyd", policy, "bumen99.toml", username="admin")
    wave_id = await _fixture_wave()
    await compute_wave(wave_id, username="test")
    row = (
        await IndexResult.select(IndexResult.id)
        .where((IndexResult.wave == wave_id) & IndexResult.sanctions.like("%weidabiao%"))
        .first()
    )
    assert row is not None
    await IndexResult.update({IndexResult.distinguishable: False}).where(
        IndexResult.id == row["id"]
    )
    html, _media, _name = await render_report(wave_id, "html")
    text = html.decode("utf-8")
    assert "与阈值 99 相比差异统计上不显著" in text
    assert "位之外的单位统计上无法区分" not in text
