"""``survey invitations rates|remind|to-phone|delivery``: output formats and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from survey.cli import main
from tests.collection.conftest import COLLECTION_ONLY
from tests.conftest import build_test_demo, run_async


def _setup() -> None:
    async def go() -> None:
        from survey.collection import dispositions as d
        from survey.collection.invitations import create_invitations
        from survey.collection.tables import Invitation
        from tests.collection._support import PHONES, demo_wave_id

        await build_test_demo(COLLECTION_ONLY)
        wave_id = await demo_wave_id()
        await Invitation.delete().where(Invitation.wave == wave_id)
        summary = await create_invitations(wave_id, PHONES[:4], "zhixiaolv", None, stratum="B")
        for created in summary.created:
            await d.record_event(created.invitation_id, d.SENT)
        await d.record_event(summary.created[0].invitation_id, d.COMPLETED)

    run_async(go)


def test_rates_and_fieldwork_commands(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _setup()
    assert main(["invitations", "rates", "2026-11", "--by", "stratum", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["invitations"] == 4
    groups = {g["group"]: g for g in out["groups"]}
    # 1 complete, 3 sent with nothing returned (3.19): RR1 = 1 / (1 + 3).
    assert groups["overall"]["unweighted"]["rr1"] == pytest.approx(0.25)
    assert groups["B"]["weighted"]["rr1"] == pytest.approx(0.25)
    assert main(["invitations", "rates", "2026-11", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("group,weighting,e,rr1,rr2")
    # e = (I+P+R+NC+O)/(… + NE) = 1/1: no invitation resolved as not eligible.
    assert lines[1].startswith("overall,unweighted,1.0,0.25,")
    assert main(["invitations", "rates", "2026-11"]) == 0
    assert "RR3" in capsys.readouterr().out
    assert main(["invitations", "rates", "2026-11", "--e", "1.5"]) == 1
    assert "--e 应在 0 到 1 之间" in capsys.readouterr().err
    gateway = tmp_path / "remind.csv"
    args = ["invitations", "remind", "2026-11", "--after-days", "0", "--gateway-file"]
    assert main([*args, str(gateway)]) == 0
    assert "提醒短信 3 条" in capsys.readouterr().out
    assert len(gateway.read_text(encoding="utf-8").splitlines()) == 4  # header + 3
    assert main(["invitations", "to-phone", "2026-11", "--after-days", "0"]) == 0
    assert "已转为电话访问 3 个邀请" in capsys.readouterr().out
    report = tmp_path / "dlr.csv"
    report.write_text("phone,status\n13900000002,sent-ok\n", encoding="utf-8")
    assert main(["invitations", "delivery", "2026-11", str(report)]) == 1
    assert "dlr.csv 第2行, 列 status: 应为 delivered 或 failed" in capsys.readouterr().err
