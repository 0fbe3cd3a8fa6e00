"""``survey policy check FILE...`` and ``survey policy list`` through ``survey.cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.cli import main
from survey.ranking import load_policy, policies_dir
from tests.ranking.test_policy import MINIMAL, line_of


def test_check_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(str(p) for p in policies_dir().glob("*.toml"))
    assert main(["policy", "check", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = []
    for path in paths:
        policy = load_policy(path)
        expected.append(f"OK {policy.id} v{policy.version} {policy.content_hash[:12]}")
    assert out == expected


def test_check_reports_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_text = MINIMAL.replace("version = 1", "version = 0").replace("k = 2", "k = -1")
    bad = tmp_path / "bad.toml"
    bad.write_text(bad_text, encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert (
        lines[0]
        == f"{bad}:{line_of(bad_text, 'version = 0')}: version = 0 无效：应为正整数，如 version = 1"
    )
    assert lines[1].startswith(f"{bad}:")
    assert "sanctions:bottom: k = -1 无效" in lines[1]
    assert captured.err.strip() == "错误: 1 个文件共有 2 个问题（见上）"


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "list"]) == 0
    out = capsys.readouterr().out
    assert "default\tv1\t" in out
    assert "两率一度测评结果运用办法（默认）" in out
