"""The columnar CSV reader of ``survey estimate`` (pyarrow, factorised columns): estimates read
through it equal R's on the reference data, and the file details the old row-by-row reader
handled (BOM, quoted commas and line breaks, blank rows, ``3`` = ``3.0``, row numbers in
errors) still hold — the expected values are worked by hand in each test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from survey.cli import main
from survey.estimation.csvinput import domains, label_column, numeric_column, read_csv
from tests.estimation._api import REFERENCE, close, expected

STRAT = str(REFERENCE / "data" / "apistrat.csv")
CLUS = str(REFERENCE / "data" / "apiclus1.csv")
STRAT_FPC = ["--weight", "pw", "--strata", "stype", "--fpc", "fpc"]
STRAT_NOFPC = ["--weight", "pw", "--strata", "stype"]
CLUS_FPC = ["--weight", "pw", "--cluster", "dnum", "--fpc", "fpc"]


def estimate(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code = main(["estimate", *argv, "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    rows: list[dict[str, Any]] = json.loads(out.out)
    return rows


@pytest.mark.parametrize(
    ("data", "design", "block", "statistic", "by"),
    [
        (STRAT, STRAT_FPC, "apistrat_fpc", "svyby_api00_by_stype", "stype"),
        (STRAT, STRAT_FPC, "apistrat_fpc", "svyby_api00_by_awards", "awards"),
        (STRAT, STRAT_FPC, "apistrat_fpc", "svyby_api00_by_sch.wide", "sch.wide"),
        (STRAT, STRAT_NOFPC, "apistrat_nofpc", "svyby_api00_by_stype", "stype"),
        (CLUS, CLUS_FPC, "apiclus1", "svyby_api00_by_stype", "stype"),
        (CLUS, CLUS_FPC, "apiclus1", "svyby_api00_by_sch.wide", "sch.wide"),
    ],
)
def test_domain_means_read_through_the_columnar_reader_equal_r(
    capsys: pytest.CaptureFixture[str],
    data: str,
    design: list[str],
    block: str,
    statistic: str,
    by: str,
) -> None:
    r = expected()[block][statistic]
    rows = estimate(capsys, data, *design, "--mean", "api00", "--by", by)
    assert [row["domain"] for row in rows] == r[by]
    for key, rkey in (
        ("estimate", "estimate"),
        ("se", "se"),
        ("ci_lower", "ci_normal_lower"),
        ("ci_upper", "ci_normal_upper"),
    ):
        for row, value in zip(rows, r[rkey], strict=True):
            assert close(row[key], value), (row["domain"], key)


@pytest.mark.parametrize(
    ("data", "design", "block"),
    [(STRAT, STRAT_FPC, "apistrat_fpc"), (CLUS, CLUS_FPC, "apiclus1")],
)
def test_whole_sample_mean_and_total_equal_r(
    capsys: pytest.CaptureFixture[str], data: str, design: list[str], block: str
) -> None:
    r = expected()[block]
    mean = estimate(capsys, data, *design, "--mean", "api00")[0]
    total = estimate(capsys, data, *design, "--total", "enroll")[0]
    assert close(mean["estimate"], r["svymean_api00"]["estimate"][0])
    assert close(mean["se"], r["svymean_api00"]["se"][0])
    assert close(total["estimate"], r["svytotal_enroll"]["estimate"][0])
    assert close(total["se"], r["svytotal_enroll"]["se"][0])
    assert close(total["ci_upper"], r["svytotal_enroll"]["ci_normal_upper"][0])


def write(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_bom_quotes_line_breaks_and_blank_rows(tmp_path: Path) -> None:
    text = '\ufeffid, w ,s\n1,10,"a,b"\n\n2, 20 ,"x\ny"\n , ,\n3,30,a\n'
    table = read_csv(write(tmp_path, text))
    assert table.header == ["id", "w", "s"] and table.n_rows == 3  # blank rows dropped
    assert numeric_column(table, "w", "--weight").tolist() == [10.0, 20.0, 30.0]
    assert table.texts("s", "--by") == ["a,b", "x\ny", "a"]
    spaced = read_csv(write(tmp_path, "s,w\n a ,1\nb,1\na,1\n", "spaced.csv"))
    groups, labels = domains(spaced, "s")  # " a " is "a": one domain
    assert labels == ["a", "b"] and groups.tolist() == [0, 1, 0]


def test_codes_compare_as_numbers_and_keep_the_first_spelling(tmp_path: Path) -> None:
    table = read_csv(write(tmp_path, "d,s,w\n3,b,1\n3.0,a,1\n2,b,1\n,b,1\n03,a,1\n"))
    assert label_column(table, "s", "--strata").tolist() == ["b", "a", "b", "b", "a"]
    groups, labels = domains(table, "d")
    # numeric keys sort as numbers; "3", "3.0" and "03" are one domain labelled "3"
    assert labels == ["2", "3"] and groups.tolist() == [1, 1, 0, -1, 1]
    groups, labels = domains(table, "d,s")
    assert labels == ["2|b", "3.0|a", "3|b"]  # each combination as first written
    assert groups.tolist() == [2, 1, 0, -1, 1]
    assert np.issubdtype(groups.dtype, np.integer)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,w,q\n1,10,2\n\n3,10\n", "第4行有 2 个字段，表头有 3 个"),  # the blank record counts
        ('id,w,q\n1,10,"2\n2"\n3,10\n', "第3行有 2 个字段"),  # a quoted line break does not
        ("id,w,q\n1,10,2\n2,x,3\n", "第3行, 列 w: 「x」不是数字"),
        ("id,w,q\n1,10,2\n2,-1,3\n3,x,3\n", "第3行, 列 w: -1 必须为正数"),  # the first bad row
        ("id,w,q\n1,10,2\n2,inf,3\n", "第3行, 列 w: 「inf」不是数字"),
    ],
)
def test_errors_name_the_row_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    code = main(["estimate", write(tmp_path, text), "--weight", "w", "--mean", "q"])
    err = capsys.readouterr().err
    assert code == 1 and message in err, err
