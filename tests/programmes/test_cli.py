"""``survey programme …`` on the command line: refusals print every problem, one per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.cli import main
from tests.conftest import build_test_demo, run_async


def test_cli_refusals_and_listing(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["programme", "list"]) == 0
    assert capsys.readouterr().out.startswith("还没有测评方案")
    run_async(lambda: build_test_demo(()))
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\nversion = 0\ntitle = "x"\n', encoding="utf-8")
    args = ["programme", "create", "x-lsyd", "--region", "990102", "--name", "X", "--policy"]
    assert main([*args, str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0]
        == f'{bad}:1: 缺少 [indices]：请为每个被排名的指标写一节，如 [indices.anquangan] name = "安全感"'
    )
    assert err[1].startswith(f"{bad}:2: version = 0 无效")
    assert err[-1] == f"错误: 办法文件有 {len(err) - 1} 个问题，未保存"
    assert main([*args, "nope"]) == 1
    assert (
        "办法文件「nope」不存在；可写文件路径或本系统的办法 id: city、default_review、default、example_points"
        in (capsys.readouterr().err)
    )
    phone_for_web = [*args, "default", "--web-instrument", "liangshuaiyidu"]
    assert main(phone_for_web) == 1
    assert "是为电话访问编写的，不能用于网页自填" in capsys.readouterr().err
    assert main([*args, "example_points"]) == 0
    out = capsys.readouterr().out
    assert "当前办法: 第 1 版：" in out and "example_points v1" in out
    assert main(["programme", "set-policy", "x-lsyd", "example_points"]) == 0
    assert "已在使用该办法" in capsys.readouterr().out
    assert main(["programme", "show", "nobody"]) == 1
    assert "没有测评方案「nobody」" in capsys.readouterr().err
