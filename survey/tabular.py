"""Reading CSV and XLSX files of rows for every import (registry, frames, responses).

Every import reports problems as ``row, column: what is wrong``; row numbers are those a user
sees in a spreadsheet (the header is row 1, the first data row is row 2).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file, located by row (1 = header) and column."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"第{self.row}行" if self.row else "文件"
        col = f", 列 {self.column}" if self.column else ""
        return f"{where}{col}: {self.message}"


class ImportRejected(Exception):
    """The whole file was rejected; nothing was written. ``problems`` lists every reason."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems[:200])
        more = "" if len(self.problems) <= 200 else f"\n……另有 {len(self.problems) - 200} 个问题"
        super().__init__(f"{source}: 导入被拒绝，共 {len(self.problems)} 个问题:\n{lines}{more}")


@dataclass(frozen=True, slots=True)
class Table:
    """A parsed file: header names and rows as dicts of stripped strings with their row number."""

    source: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(path: str | Path, data: bytes | None = None) -> Table:
    """Read a ``.csv`` (UTF-8, optional BOM) or ``.xlsx`` file (first sheet) into a ``Table``.

    ``data`` gives the content directly (uploads); ``path`` then only names the file and
    its format. Raises ``ImportRejected`` for unreadable files.
    """
    name = str(path)
    suffix = Path(name).suffix.lower()
    try:
        raw = data if data is not None else Path(name).read_bytes()
    except OSError as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取文件: {exc.strerror}")]) from exc
    if suffix == ".xlsx":
        matrix = _read_xlsx(name, raw)
    elif suffix in (".csv", ".txt"):
        matrix = _read_csv(name, raw)
    else:
        raise ImportRejected(
            name, [Problem(0, "", f"不支持的文件类型 {suffix!r}，请使用 .csv 或 .xlsx")]
        )
    if not matrix or not any(cell for cell in matrix[0]):
        raise ImportRejected(name, [Problem(1, "", "文件为空或缺少表头行")])
    header = tuple(cell.strip() for cell in matrix[0])
    problems = [
        Problem(1, h, "表头中列名重复") for i, h in enumerate(header) if h and h in header[:i]
    ]
    if problems:
        raise ImportRejected(name, problems)
    rows: list[tuple[int, dict[str, str]]] = []
    for number, cells in enumerate(matrix[1:], start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines are not data
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            problems.append(
                Problem(number, "", f"本行有 {len(cells)} 列，多于表头的 {len(header)} 列")
            )
            continue
        padded = list(cells) + [""] * (len(header) - len(cells))
        rows.append((number, {h: padded[i].strip() for i, h in enumerate(header) if h}))
    if problems:
        raise ImportRejected(name, problems)
    return Table(source=name, header=header, rows=tuple(rows))


def _read_csv(name: str, raw: bytes) -> list[list[str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            name,
            [Problem(0, "", f"文件不是 UTF-8 编码（第 {exc.start} 字节），请另存为 UTF-8 CSV")],
        ) from exc
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise ImportRejected(name, [Problem(0, "", f"CSV 格式错误: {exc}")]) from exc


def _read_xlsx(name: str, raw: bytes) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取 XLSX 文件: {exc}")]) from exc
    try:
        sheet = workbook.worksheets[0]
        return [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def require_columns(table: Table, required: Sequence[str]) -> list[Problem]:
    """A problem for each required column missing from the header."""
    return [Problem(1, col, "缺少必需的列") for col in required if col not in table.header]
