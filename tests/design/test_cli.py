"""``survey sample …`` commands: one-line errors, exit status, and the full import → release path."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.cli import main
from survey.design.tables import Frame, Sample, SampledElement
from tests.conftest import run_async
from tests.design.conftest import frame_csv


@pytest.fixture()
def wave(region_sync: object) -> str:
    return "east/2026-11"


def test_commands_from_import_to_release(
    wave: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "frame.csv"
    path.write_bytes(frame_csv({"C1": 30, "C2": 30, "C3": 90, "C4": 120}))
    assert main(["sample", "frame", wave, str(path)]) == 0
    assert "电话号码名单 #" in capsys.readouterr().out

    assert main(["sample", "design", wave, "--total", "54", "--response-rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "各层目标已保存" in out and "合计: 发放 54，目标完成 27" in out

    args = ["sample", "draw", wave, "--total", "54", "--seed", "77", "--mode", "web"]
    assert main(args) == 0
    assert "随机种子 77" in capsys.readouterr().out
    assert main(["sample", "release", wave]) == 0
    assert "已释放第 1 批（共 2 批）" in capsys.readouterr().out
    assert main(["sample", "verify", wave]) == 0
    assert "复现一致" in capsys.readouterr().out

    # a second sample makes --sample necessary
    assert main([*args[:-2], "--seed", "78"]) == 0
    capsys.readouterr()
    assert main(["sample", "release", wave]) == 1
    assert "有多个样本" in capsys.readouterr().err

    async def counts() -> tuple[int, int]:
        released = await SampledElement.count().where(SampledElement.released.eq(True))
        return await Sample.count(), released

    assert run_async(counts) == (2, 38)


def test_bad_frame_file_is_one_error_and_nothing_is_stored(
    wave: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("unit,phone\nC1,13900000001\nNOPE,13900000002\n", encoding="utf-8")
    assert main(["sample", "frame", wave, str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("错误: ")
    assert "第3行, 列 unit: 未知的单位代码「NOPE」" in err

    async def frames() -> int:
        return await Frame.count()

    assert run_async(frames) == 0


def test_design_problems_are_one_line(
    wave: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "frame.csv"
    path.write_bytes(frame_csv({"C1": 5, "C3": 5}))
    assert main(["sample", "frame", wave, str(path)]) == 0
    capsys.readouterr()
    assert main(["sample", "draw", wave, "--total", "4", "--seed", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "层「110101003 北关街道」在抽样框中没有记录（空层）" in err
    assert main(["sample", "release", "1999-01"]) == 1
    assert "没有找到测评期「1999-01」" in capsys.readouterr().err
