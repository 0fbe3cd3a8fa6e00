"""``survey.tabular.read_columns``: the same reading as ``read_table``, column by column."""

from __future__ import annotations

import pytest

from survey.tabular import ImportRejected, read_columns, read_table


def test_columns_hold_the_rows_of_read_table() -> None:
    # Row 3 is blank (not data), row 4 is short (padded), row 5 has a trailing empty cell.
    text = "id,name, note \n1, 张三 ,x\n,,\n2,李四\n3,王五,y,\n"
    table = read_columns("t.csv", text.encode("utf-8"))
    assert table.header == ("id", "name", "note")
    assert table.numbers == (2, 4, 5)
    assert table.columns == {
        "id": ["1", "2", "3"],
        "name": ["张三", "李四", "王五"],
        "note": ["x", "", "y"],
    }
    rows = read_table("t.csv", text.encode("utf-8")).rows
    assert [n for n, _r in rows] == list(table.numbers)
    assert [r["name"] for _n, r in rows] == table.columns["name"]


def test_columns_report_the_same_problems() -> None:
    with pytest.raises(ImportRejected) as caught:
        read_columns("t.csv", b"a,b\n1,2,3\n")
    assert [str(p) for p in caught.value.problems] == ["第2行: 本行有 3 列，多于表头的 2 列"]
    empty = read_columns("t.csv", b"a,b\n")
    assert empty.numbers == () and empty.columns == {"a": [], "b": []}
