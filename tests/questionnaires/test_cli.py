"""``survey questionnaire check FILE...`` and ``survey questionnaire list`` through ``survey.cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from questionnaires import load_instrument, shipped_instrument_paths
from survey.cli import main
from tests.questionnaires._texts import MINIMAL, line_of


def test_check_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in shipped_instrument_paths()]
    assert main(["questionnaire", "check", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = []
    for path in paths:
        inst = load_instrument(path)
        expected.append(f"OK {inst.id} v{inst.version} {inst.content_hash[:12]}")
    assert out == expected


def test_check_reports_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL, encoding="utf-8")
    bad_text = MINIMAL.replace('type = "single"', 'type = "dropdown"').replace(
        "version = 1", "version = 0"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(bad_text, encoding="utf-8")
    assert main(["questionnaire", "check", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("OK mini v1 ")
    version_line = line_of(bad_text, "version = 0")
    type_line = line_of(bad_text, 'type = "dropdown"') - 1  # the item's id line
    assert lines[1] == f"{bad}:{version_line}: version = 0 无效：应为正整数，如 version = 1"
    assert lines[2].startswith(f"{bad}:{type_line}: q1: 未知题型 'dropdown'")
    assert len(lines) == 3
    assert captured.err.strip() == "错误: 1 个文件共有 2 个问题（见上）"


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["questionnaire", "check", str(tmp_path / "nope.toml")]) == 1
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'nope.toml'}: 无法读取文件")


def test_list_shipped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["questionnaire", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == [
        "anquangan",
        "zhixiaolv",
        "manyidu",
        "liangshuaiyidu",
        "liangshuaiyidu_web",
        "anquan10",  # from PINGAN_QUESTIONNAIRES (tests/conftest.py)
    ]
    assert out[-1].endswith("tests/fixtures/questionnaires/anquan10.toml")
