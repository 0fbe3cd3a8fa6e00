"""``survey estimate``: output keys, results equal to R on the reference and platform data,
and every bad input exits non-zero with one clear line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from survey.cli import main
from tests.estimation._api import REFERENCE, close, expected
from tests.estimation._platform import PLATFORM, platform_expected

KEYS = ["domain", "estimate", "se", "ci_lower", "ci_upper", "df", "n", "n_missing", "deff"]
DATA = str(PLATFORM / "platform.csv")
DESIGN = ["--weight", "w", "--strata", "district", "--fpc", "N"]
RECODE = ["--recode", "safety:1=100,2=80,3=60,4=30,5=0", "--missing", "safety:9"]
RAKE = [
    "--rake",
    str(PLATFORM / "margin_district_sex.csv"),
    "--rake",
    str(PLATFORM / "margin_district_age.csv"),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main(["estimate", *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["estimate", *argv])
    out = capsys.readouterr()
    assert code != 0
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误: "), out.err
    assert out.out == ""
    return lines[0]


def test_json_keys_and_single_object_without_by(capsys: pytest.CaptureFixture[str]) -> None:
    rows = run(capsys, DATA, *DESIGN, "--mean", "safety", *RECODE)
    assert isinstance(rows, list) and len(rows) == 1
    assert list(rows[0]) == KEYS
    assert rows[0]["domain"] is None and rows[0]["df"] is None  # normal interval by default
    r = platform_expected()["design"]["svymean_score"]
    for key, rkey in (
        ("estimate", "estimate"),
        ("se", "se"),
        ("ci_lower", "ci_normal_lower"),
        ("deff", "deff"),
    ):
        assert close(rows[0][key], r[rkey][0]), key
    assert rows[0]["n"] + rows[0]["n_missing"] == 135 and rows[0]["n_missing"] == 12


def test_csv_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "estimate",
                DATA,
                *DESIGN,
                "--mean",
                "safety",
                *RECODE,
                "--by",
                "street",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == KEYS and [r["domain"] for r in rows] == [
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
        "c1",
        "c2",
    ]
    r = platform_expected()["design"]["svyby_score_mean"]
    assert all(close(float(row["se"]), se) for row, se in zip(rows, r["se"], strict=True))
    assert rows[0]["df"] == ""  # normal: no df


def test_street_means_with_t_and_street_shares_with_logit_match_r(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = platform_expected()["design"]
    means = run(capsys, DATA, *DESIGN, "--mean", "safety", *RECODE, "--by", "street", "--ci", "t")
    assert [m["domain"] for m in means] == r["svyby_score_mean"]["street"]
    for i, m in enumerate(means):
        assert close(m["estimate"], r["svyby_score_mean"]["estimate"][i])
        assert close(m["ci_lower"], r["svyby_score_mean"]["ci_t"]["lower"][i])
        assert close(m["ci_upper"], r["svyby_score_mean"]["ci_t"]["upper"][i])
        assert m["df"] == r["degf"]  # the full design's df
    shares = run(
        capsys,
        DATA,
        *DESIGN,
        "--proportion",
        "safety=1,2,3.0",
        "--missing",
        "safety:9",
        "--by",
        "street",
    )
    for i, s in enumerate(shares):
        assert close(s["estimate"], r["svyby_safe_logit"]["estimate"][i])
        assert close(s["ci_lower"], r["svyby_safe_logit"]["ci_lower"][i])
        assert close(s["ci_upper"], r["svyby_safe_logit"]["ci_upper"][i])
        assert s["df"] == r["svyby_safe_logit"]["df"][i]  # the street's own df
    small = {s["domain"]: s["n"] for s in shares}
    assert small["a3"] < 10 and small["c2"] < 10


def test_raking_margins_and_beta(capsys: pytest.CaptureFixture[str]) -> None:
    r = platform_expected()["raked"]
    shares = run(
        capsys,
        DATA,
        *DESIGN,
        *RAKE,
        "--proportion",
        "safety=1,2,3",
        "--missing",
        "safety:9",
        "--by",
        "street",
    )
    for i, s in enumerate(shares):
        assert close(s["ci_lower"], r["svyby_safe_logit"]["ci_lower"][i])
        assert close(s["se"], r["svyby_safe_mean"]["se"][i])
    beta = run(
        capsys,
        DATA,
        *DESIGN,
        "--proportion",
        "safety=1,2,3",
        "--missing",
        "safety:9",
        "--ci",
        "beta",
    )
    assert close(
        beta[0]["ci_lower"], platform_expected()["design"]["svyciprop_safe_beta"]["ci_lower"]
    )
    total = run(
        capsys, DATA, *DESIGN, *RAKE, "--total", "aware", "--recode", "aware:知道=1,不知道=0"
    )
    assert close(total[0]["estimate"], r["svytotal_aware"]["estimate"][0])
    assert close(total[0]["se"], r["svytotal_aware"]["se"][0])


def test_text_codes_cluster_fpc_and_t_for_a_proportion(capsys: pytest.CaptureFixture[str]) -> None:
    exp = expected()
    clus = str(REFERENCE / "data" / "apiclus1.csv")
    out = run(
        capsys,
        clus,
        "--weight",
        "pw",
        "--cluster",
        "dnum",
        "--fpc",
        "fpc",
        "--proportion",
        "sch.wide=Yes",
    )
    r = exp["apiclus1"]["svyciprop_sch.wide_Yes"]["logit"]
    assert close(out[0]["ci_lower"], r["ci_lower"]) and out[0]["df"] == 14
    t = run(
        capsys,
        clus,
        "--weight",
        "pw",
        "--cluster",
        "dnum",
        "--fpc",
        "fpc",
        "--proportion",
        "sch.wide=Yes",
        "--ci",
        "t",
    )
    assert close(t[0]["ci_upper"], exp["apiclus1"]["svyciprop_sch.wide_Yes"]["mean"]["ci_upper"])
    strat = str(REFERENCE / "data" / "apistrat.csv")
    by = run(
        capsys,
        strat,
        "--weight",
        "pw",
        "--strata",
        "stype",
        "--fpc",
        "fpc",
        "--total",
        "enroll",
        "--by",
        "awards",
    )
    r2 = exp["apistrat_fpc"]["svyby_enroll_total_by_awards"]
    assert [b["domain"] for b in by] == r2["awards"]
    assert all(close(b["se"], se) for b, se in zip(by, r2["se"], strict=True))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


SMALL = "id,d,s,w,q,sex\n1,A,x,10,1,M\n2,A,x,10,3.0,F\n3,A,y,10,9,F\n4,B,y,20,2,M\n5,B,,20,,F\n6,B,y,20,3,M\n"


def test_numeric_codes_by_values_and_empty_fields(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = write(tmp_path, "d.csv", SMALL)
    rows = run(
        capsys,
        data,
        "--weight",
        "w",
        "--strata",
        "d",
        "--mean",
        "q",
        "--recode",
        "q:1=100,2=80,3=60",
        "--missing",
        "q:9",
        "--by",
        "d,s",
    )
    assert [r["domain"] for r in rows] == ["A|x", "A|y", "B|y"]  # row 5 has no street: no domain
    assert rows[0]["estimate"] == 80.0 and rows[0]["n"] == 2  # "3.0" is code 3
    assert rows[1]["n"] == 0 and rows[1]["n_missing"] == 1 and rows[1]["estimate"] is None


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ["--weight", "nope", "--mean", "q"], "没有列「nope」（--weight）"),
        ({}, ["--weight", "w", "--mean", "nope"], "没有列「nope」（--mean）"),
        ({}, ["--weight", "w", "--strata", "zz", "--mean", "q"], "没有列「zz」（--strata）"),
        (
            {},
            ["--weight", "w", "--by", "zz", "--mean", "q", "--missing", "q:9"],
            "没有列「zz」（--by）",
        ),
        ({}, ["--weight", "q", "--mean", "w"], "第6行, 列 q: 为空"),
        ({}, ["--weight", "s", "--mean", "q"], "第2行, 列 s: 「x」不是数字"),
        ({}, ["--weight", "w", "--strata", "s", "--mean", "q"], "第6行, 列 s: 为空（--strata）"),
        (
            {},
            ["--weight", "w", "--strata", "id", "--mean", "q", "--missing", "q:9"],
            "层「1」只有 1 个 PSU",
        ),
        (
            {},
            ["--weight", "w", "--mean", "q", "--recode", "q:1=100,2=80"],
            "第3行, 列 q: 代码「3.0」不在 --recode 中",
        ),
        ({}, ["--weight", "w", "--mean", "sex"], "第2行, 列 sex: 「M」不是数字"),
        ({}, ["--weight", "w", "--mean", "q", "--ci", "logit"], "--ci logit 只适用于 --proportion"),
        ({}, ["--weight", "w", "--total", "q", "--ci", "beta"], "--ci beta 只适用于 --proportion"),
        ({}, ["--weight", "w", "--mean", "q", "--level", "1.5"], "--level 1.5: 必须在 0 与 1 之间"),
        ({}, ["--weight", "w", "--proportion", "q"], "--proportion q: 格式应为 列=代码"),
        ({}, ["--weight", "w", "--mean", "q", "--recode", "q:1"], "「1」应为 代码=分值"),
        ({}, ["--weight", "w", "--mean", "q", "--missing", "q"], "--missing q: 格式应为 列:"),
        (
            {},
            ["--weight", "w", "--strata", "d", "--fpc", "id", "--mean", "q", "--missing", "q:9"],
            "fpc 取值不一致",
        ),
        (
            {"m.csv": "sex,Freq\nM,50\n"},
            ["--weight", "w", "--mean", "q", "--missing", "q:9", "--rake", "{m.csv}"],
            "第3行: 类别 F 不在边际表",
        ),
        (
            {"m.csv": "sex,N\nM,50\nF,50\n"},
            ["--weight", "w", "--mean", "q", "--rake", "{m.csv}"],
            "边际表缺少计数列 Freq",
        ),
        (
            {"m.csv": "sex,Freq\nM,50\nF,50\nX,10\n"},
            ["--weight", "w", "--mean", "q", "--missing", "q:9", "--rake", "{m.csv}"],
            "第 2 格在总体中有 10 人但样本中没有人",
        ),
        (
            {"m.csv": "sex,Freq\nM,50\nF,50\n", "n.csv": "d,Freq\nA,50\nB,60\n"},
            [
                "--weight",
                "w",
                "--mean",
                "q",
                "--missing",
                "q:9",
                "--rake",
                "{m.csv}",
                "--rake",
                "{n.csv}",
            ],
            "不一致",
        ),
        (
            {"m.csv": "sex,Freq\nM,abc\nF,50\n"},
            ["--weight", "w", "--mean", "q", "--rake", "{m.csv}"],
            "列 Freq: 「abc」不是非负数",
        ),
    ],
)
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    files: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    data = write(tmp_path, "d.csv", SMALL)
    paths = {name: write(tmp_path, name, text) for name, text in files.items()}
    argv = [paths.get(a[1:-1], a) if a.startswith("{") else a for a in args]
    assert message in fails(capsys, data, *argv)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "文件为空"),
        ("id,w,q\n", "没有数据行"),
        ("id,w,q\n1,10,2\n2,10\n", "第3行有 2 个字段"),
        ("id,w,w\n1,10,2\n", "列名「w」重复"),
    ],
)
def test_bad_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    data = write(tmp_path, "bad.csv", text)
    assert message in fails(capsys, data, "--weight", "w", "--mean", "q")


def test_missing_and_non_utf8_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "文件不存在" in fails(capsys, str(tmp_path / "nope.csv"), "--weight", "w", "--mean", "q")
    path = tmp_path / "gbk.csv"
    path.write_bytes("id,w,q\n1,10,不知道\n".encode("gbk"))
    assert "不是 UTF-8" in fails(capsys, str(path), "--weight", "w", "--mean", "q")


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    ("data", "row", "byte"),
    [
        # the header is row 1; 第N字节 counts from 1 (the byte's offset + 1)
        ("id,w,q\n1,10,不知\n2,30,好\n".encode(), None, None),  # UTF-8: accepted
        ("id,w,q\n1,10,2\n2,10,不知道\n".encode("gbk"), 3, 20),
        (b"\xef\xbb\xbfid,w,q\n1,10,2\n\xd5", 3, 18),  # BOM; a cut sequence, short row
        (b"id,w,q\r\n1,10,2\r\n2,\xff,3,4\r\n", 3, 19),  # in a row of the wrong width
        (b'id,w,q\n1,10,"a\nb"\n2,10,\xff\n', 3, 24),  # a quoted line break: one record
        (b"id,w,q\n\n1,10,2\n\xff,10,2\n", 4, 16),  # a blank record counts, as csv counts
        (b"\xffid,w,q\n1,10,2\n", 1, 1),
    ],
)
def test_non_utf8_names_file_row_and_byte(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: bytes,
    row: int | None,
    byte: int | None,
) -> None:
    """Bad UTF-8 anywhere, also in a row of the wrong width (pyarrow decodes that row's text
    for the invalid-row handler: its decoding error was raised inside pyarrow and only printed
    as "Exception ignored"), is one clear line naming the file, the record and the byte."""
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    if row is None:
        assert run(capsys, str(path), "--weight", "w", "--mean", "w")[0]["n"] == 2
        return
    expected = f"错误: {path}: 第{row}行: 不是 UTF-8 编码（第 {byte} 字节），请另存为 UTF-8 CSV"
    assert fails(capsys, str(path), "--weight", "w", "--mean", "q") == expected
