"""Appeals (申诉): recorded, decided, applied as a revision; the ladder of later waves follows.

The demo's 解放派出所 (990102P06) is in the 安全感 bottom 2 in 2026-08, -09 and -10. The seed
district's rules: 1st time 通报批评, 2 waves in a row 黄牌警告, 3 in a row 一票否决. So as
published: 08 通报批评, 09 黄牌警告, 10 一票否决. The committee withdraws September's 黄牌警告 on
appeal; a withdrawn sanction does not count toward the next step, so October counts only
October and August: 2 in a row → 黄牌警告 (not 一票否决). August stays 通报批评.
"""

from __future__ import annotations

import pytest

import survey.results.demo
from survey.audit import AuditLog
from survey.db.tables import Wave
from survey.results.appeals import add_appeal, decide_appeal, list_appeals
from survey.results.compute import ComputeError
from survey.results.queries import results_for_wave
from survey.results.revisions import revision_view, revisions_for_wave

pytestmark = pytest.mark.anyio
JIEFANG = "990102P06"


async def _waves() -> dict[str, int]:
    return {r["month"]: int(r["id"]) for r in await Wave.select(Wave.id, Wave.month)}


async def _sanctions(wave_id: int) -> list[tuple[str, str]]:
    rows = await results_for_wave(wave_id)
    row = next(r for r in rows if r.index_id == "anquangan" and r.unit_code == JIEFANG)
    return [(s["level"], s.get("review", "")) for s in row.sanctions]


async def test_appeal_withdraws_a_yellow_card_and_october_follows(demo_city: None) -> None:
    waves = await _waves()
    assert await _sanctions(waves["2026-08"]) == [("criticism", "")]
    assert await _sanctions(waves["2026-09"]) == [("yellow_card", "")]
    assert await _sanctions(waves["2026-10"]) == [("veto", "")]

    with pytest.raises(ComputeError, match="申诉理由"):
        await add_appeal(waves["2026-09"], JIEFANG, grounds=" ", username="admin")
    with pytest.raises(ComputeError, match="没有可申诉的处理"):
        await add_appeal(waves["2026-09"], "990102P01", grounds="理由", username="admin")
    appeal = await add_appeal(
        waves["2026-09"], JIEFANG, grounds="九月样本集中于夜间访问，结果不可靠", username="admin"
    )
    assert (appeal.level, appeal.index_id, appeal.decided) == ("yellow_card", "anquangan", False)
    assert [a.id for a in await list_appeals(waves["2026-09"])] == [appeal.id]
    with pytest.raises(ComputeError, match="待决定"):
        await add_appeal(waves["2026-09"], JIEFANG, grounds="再次", username="admin")
    with pytest.raises(ComputeError, match="--to"):
        await decide_appeal(appeal.id, outcome="变更", reason="r", username="committee")

    decided = await decide_appeal(
        appeal.id, outcome="撤销", reason="证据不足，撤销黄牌警告", username="committee"
    )
    assert decided.outcome == "撤销" and decided.revision == 2
    # September's revision 2: the 黄牌警告 withdrawn; revision 1 (the original) still readable.
    assert await _sanctions(waves["2026-09"]) == [("yellow_card", "withdrawn")]
    original = await revision_view(waves["2026-09"], 1)
    assert original is not None
    before = next(r for r in original[2] if r.index_id == "anquangan" and r.unit_code == JIEFANG)
    assert [s["level"] for s in before.sanctions] == ["yellow_card"]
    assert "review" not in before.sanctions[0] or not before.sanctions[0]["review"]
    # October follows: 2 counted waves (10 and 08) → 黄牌警告 instead of 一票否决.
    assert await _sanctions(waves["2026-10"]) == [("yellow_card", "")]
    assert [r.number for r in await revisions_for_wave(waves["2026-10"])] == [2, 1]
    assert await _sanctions(waves["2026-08"]) == [("criticism", "")]

    with pytest.raises(ComputeError, match="决定（撤销）"):
        await decide_appeal(appeal.id, outcome="维持", reason="r", username="committee")
    actions = [
        r["action"]
        for r in await AuditLog.select(AuditLog.action).where(
            AuditLog.action.is_in(["appeal.add", "appeal.decide", "results.revise"])
        )
    ]
    assert actions.count("appeal.add") == 1 and actions.count("appeal.decide") == 1
    assert actions.count("results.revise") == 2  # September and October


def test_appeal_and_review_commands(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    from survey.cli import main
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo((survey.results.demo,)))
    assert main(["appeal", "list"]) == 0
    assert "没有申诉" in capsys.readouterr().out
    assert main(["appeal", "add", "2026-10", JIEFANG, "--grounds", " "]) == 1
    assert capsys.readouterr().err.startswith("错误: 请写明申诉理由")
    assert main(["appeal", "add", "2026-10", JIEFANG, "--grounds", "样本偏少"]) == 0
    assert "已登记申诉 1：解放派出所 2026-10 一票否决" in capsys.readouterr().out
    assert main(["appeal", "decide", "1", "--outcome", "变更", "--reason", "r"]) == 1
    assert "--to" in capsys.readouterr().err
    args = [
        "appeal",
        "decide",
        "1",
        "--outcome",
        "变更",
        "--to",
        "黄牌警告",
        "--reason",
        "酌情减轻",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "已决定：" in out and "变更为黄牌警告" in out
    assert main(["appeal", "list", "2026-10"]) == 0
    listed = capsys.readouterr().out
    assert "样本偏少" in listed and "酌情减轻" in listed and "更正第 2 版" in listed
    rows = run_async(lambda: _sanctions_of_month("2026-10"))
    assert rows == [("yellow_card", "changed")]
    # The review list shows the decided state (nothing flagged or held: review = "off").
    assert main(["results", "review", "2026-10"]) == 0
    assert "解放派出所\tanquangan\t黄牌警告\t经申诉变更" in capsys.readouterr().out
    assert main(["results", "review", "2026-09"]) == 0
    assert "没有提请复核或待复核的处理" in capsys.readouterr().out
    assert main(["results", "review", "2026-10", "--unit", JIEFANG]) == 1
    assert "--outcome" in capsys.readouterr().err


async def _sanctions_of_month(month: str) -> list[tuple[str, str]]:
    return await _sanctions((await _waves())[month])


async def _exported_review(wave_id: int) -> list[str]:
    import json

    from survey.results.export import export_results

    content, _media, _name = await export_results(wave_id, "json")
    rows = json.loads(content)["results"]
    row = next(r for r in rows if r["index"] == "anquangan" and r["unit_code"] == JIEFANG)
    return [s["review"] for s in row["sanctions"]]


async def test_an_undecided_appeal_exports_review_appealed(demo_city: None) -> None:
    """The issue's review states: lodged and undecided → ``appealed`` (申诉中; the sanction
    still stands and counts); 维持 → ``confirmed``; a recomputation keeps the state."""
    from survey.results.dashboard import REVIEW_NAMES, wave_view
    from survey.results.publishing import set_status
    from survey.results.revisions import revise_wave
    from survey.results.tables import SanctionDecision

    october = (await _waves())["2026-10"]
    assert await _exported_review(october) == ["none"]  # the district's rule: review = "off"
    appeal = await add_appeal(october, JIEFANG, grounds="样本偏少", username="analyst")
    assert await _exported_review(october) == ["appealed"]
    view = await wave_view(october)
    _row, sanction = next((r, s) for r, s in view.sanctions if r.unit_code == JIEFANG)
    assert (sanction["level"], REVIEW_NAMES[sanction["review"]]) == ("veto", "申诉中")
    # A correction of the wave while the appeal is open keeps it 申诉中 (the stored decision).
    await revise_wave(october, reason="更正录入错误", username="analyst")
    await set_status(october, "published", username="admin")
    assert await _exported_review(october) == ["appealed"]
    assert await _sanctions(october) == [("veto", "appealed")]  # still 一票否决: it counts
    await decide_appeal(appeal.id, outcome="维持", reason="证据充分", username="committee")
    assert await _exported_review(october) == ["confirmed"]
    outcomes = [
        r["outcome"]
        for r in await SanctionDecision.select(SanctionDecision.outcome)
        .where(SanctionDecision.wave == october)
        .order_by(SanctionDecision.id)
    ]
    assert outcomes == ["appealed", "confirmed"]
