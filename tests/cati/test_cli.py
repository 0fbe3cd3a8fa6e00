"""``survey cati``: numbers from files (errors name the line and column), outcome codes, rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.cli import main
from tests.cati._setup import make_world
from tests.conftest import run_async


def test_add_numbers_and_rates(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = run_async(make_world)
    plain = tmp_path / "numbers.txt"
    plain.write_text("13800138000\n\n13900139000\n", encoding="utf-8")
    assert main(["cati", "add-numbers", str(world.campaign_id), str(plain)]) == 0
    assert "已加入 2 个号码" in capsys.readouterr().out
    table = tmp_path / "numbers.csv"
    table.write_text(
        "phone,stratum,design_weight,batch\n13700137000,A,12.5,1\n13600136000,B,x,1\n",
        encoding="utf-8",
    )
    assert main(["cati", "add-numbers", str(world.campaign_id), str(table)]) == 1
    assert "numbers.csv 第 3 行, 列 design_weight: 不是数字" in capsys.readouterr().err
    table.write_text("phone,stratum\n13700137000,A\n1370013700,B\n", encoding="utf-8")
    assert main(["cati", "add-numbers", str(world.campaign_id), str(table)]) == 1
    assert "第 2 行: 手机号码「1370013700」应为 11 位数字" in capsys.readouterr().err
    assert main(["cati", "rates", str(world.campaign_id), "--by", "stratum"]) == 0
    out = capsys.readouterr().out
    assert "号码 2 个" in out and "RR3" in out
    assert main(["cati", "rates", "999"]) == 1
    assert "呼叫任务 999 不存在" in capsys.readouterr().err
    assert main(["cati", "outcomes"]) == 0
    assert "no_answer\t3.13\t180 分钟后重拨\tN\t无人接听" in capsys.readouterr().out


def test_a_campaign_is_named_by_its_wave(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`survey cati add-numbers|rates` take the wave (programme/month) as well as the campaign
    number, which no command printed: a new district knows its wave, not the campaign id."""
    world = run_async(make_world)
    plain = tmp_path / "numbers.txt"
    plain.write_text("13800138000\n13900139000\n", encoding="utf-8")
    assert main(["cati", "add-numbers", "t/2026-11", str(plain)]) == 0
    assert "已加入 2 个号码" in capsys.readouterr().out
    assert main(["cati", "rates", "t/2026-11"]) == 0
    assert "号码 2 个" in capsys.readouterr().out
    assert main(["cati", "rates", str(world.campaign_id)]) == 0
    assert "号码 2 个" in capsys.readouterr().out
    assert main(["cati", "rates", "t/2026-12"]) == 1
    assert "没有找到测评期「t/2026-12」" in capsys.readouterr().err
