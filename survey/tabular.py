"""Reading CSV and XLSX files of rows for every import (registry, frames, responses).

Every import reports problems as ``row, column: what is wrong``; row numbers are those a user
sees in a spreadsheet (the header is row 1, the first data row is row 2).

A file is hostile until read: reading is linear in its size and stops at the first cap it
passes (:class:`UploadLimits`, set by ``PINGAN_UPLOAD_MAX_*``, see README) — columns, rows,
cells, characters in one cell and, for XLSX, the uncompressed size of the archive (checked
before anything is unpacked) — with a message naming the limit. Uploads are read with
:func:`read_upload`, in a worker process, so the event loop keeps answering other requests.
"""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import os
import signal
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from survey.settings import UploadLimits

_T = TypeVar("_T")


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

    def __reduce__(self) -> tuple[type[ImportRejected], tuple[str, list[Problem]]]:
        # Raised in a worker process by read_upload and re-raised here: pickled whole.
        return (ImportRejected, (self.source, self.problems))


@dataclass(frozen=True, slots=True)
class Table:
    """A parsed file: header names and rows as dicts of stripped strings with their row number."""

    source: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]


@dataclass(frozen=True, slots=True)
class ColumnTable:
    """A parsed file column by column (:func:`read_columns`): header names, each data row's
    number, and each named column's stripped cells in row order — what a large import reads
    (one list per column crosses from the reading process, not one dict per row)."""

    source: str
    header: tuple[str, ...]
    numbers: tuple[int, ...]
    columns: dict[str, list[str]]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


async def read_upload(
    path: str | Path, data: bytes | None = None, limits: UploadLimits | None = None
) -> Table:
    """:func:`read_table` in a worker process: what every import service an upload reaches
    uses, so parsing a large or hostile file never stalls the event loop. A process, not a
    thread: openpyxl and the row loop are Python code holding the GIL, and a thread running
    them made ``/health`` wait up to 0.5 s (measured; docs/reliability.md)."""
    return await _in_worker(read_table, path, data, limits)


async def read_upload_columns(
    path: str | Path, data: bytes | None = None, limits: UploadLimits | None = None
) -> ColumnTable:
    """:func:`read_columns` in a worker process, like :func:`read_upload`."""
    return await _in_worker(read_columns, path, data, limits)


async def _in_worker(
    read: Callable[[str, bytes | None, UploadLimits], _T],
    path: str | Path,
    data: bytes | None,
    limits: UploadLimits | None,
) -> _T:
    limits = limits or UploadLimits.from_env()
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        try:
            return await loop.run_in_executor(_pool(), read, str(path), data, limits)
        except BrokenProcessPool:  # a worker was killed (out of memory…): a fresh pool, once
            _reset_pool()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


_POOL: list[ProcessPoolExecutor] = []
UPLOAD_WORKERS = 2


def _pool() -> ProcessPoolExecutor:
    """The worker processes of :func:`read_upload` (started on first use, ``forkserver``: no
    fork of a process that runs threads and an event loop). The process's, not an app's: the
    tests start many apps in one process; it stops at interpreter exit (concurrent.futures'
    exit handler), and its workers leave by themselves if the process is killed."""
    if not _POOL:
        context = multiprocessing.get_context("forkserver")
        _POOL.append(
            ProcessPoolExecutor(
                max_workers=UPLOAD_WORKERS, mp_context=context, initializer=_worker_start
            )
        )
    return _POOL[0]


def _worker_start() -> None:
    # Ctrl-C / SIGINT to the server's process group is for the server: the workers end when
    # it closes their queue, without a KeyboardInterrupt traceback in the log.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Reading a file is background work: on a busy machine the server's own requests go
    # first (measured: /health up to 216 ms during a deep XLSX at load average 20 without).
    os.nice(10)
    # A worker ends when its owner's exit handlers tell it to (concurrent.futures at interpreter
    # exit). An owner killed without them (SIGKILL, the OOM killer) tells it nothing: the worker
    # waited on its queue for ever, holding the forkserver and the resource tracker alive with
    # it (three processes left under init per killed server). It leaves with its owner instead.
    owner = multiprocessing.parent_process()
    if owner is not None:
        threading.Thread(target=_leave_with, args=(owner,), daemon=True).start()


def _leave_with(owner: multiprocessing.process.BaseProcess) -> None:
    owner.join()  # the owner's end of the pipe it started this worker through closes with it
    os._exit(0)


async def start_upload_workers() -> None:
    """Start the forkserver and a first worker now (application start-up), on a thread: done
    by the first upload it would stall the event loop ≈ 0.3 s."""

    def start() -> None:
        _pool().submit(int).result()

    await asyncio.get_running_loop().run_in_executor(None, start)


def _reset_pool() -> None:
    if _POOL:
        _POOL.pop().shutdown(wait=False, cancel_futures=True)


def read_table(
    path: str | Path, data: bytes | None = None, limits: UploadLimits | None = None
) -> Table:
    """Read a ``.csv`` (UTF-8, optional BOM) or ``.xlsx`` file (first sheet) into a ``Table``.

    ``data`` gives the content directly (uploads); ``path`` then only names the file and
    its format. ``limits`` default to :meth:`UploadLimits.from_env`. Raises ``ImportRejected``
    for unreadable files and for files over a limit (at once, naming the limit).
    """
    name, header, rows = _data_rows(path, data, limits)
    return Table(
        source=name,
        header=header,
        rows=tuple(
            (number, {h: cells[i].strip() for i, h in enumerate(header) if h})
            for number, cells in rows
        ),
    )


def read_columns(
    path: str | Path, data: bytes | None = None, limits: UploadLimits | None = None
) -> ColumnTable:
    """The file as :func:`read_table` reads it (same checks, problems and limits), column by
    column: a ``ColumnTable``."""
    name, header, rows = _data_rows(path, data, limits)
    columns = list(zip(*(cells for _n, cells in rows), strict=True)) or [()] * len(header)
    return ColumnTable(
        source=name,
        header=header,
        numbers=tuple(number for number, _cells in rows),
        columns={h: list(map(str.strip, columns[i])) for i, h in enumerate(header) if h},
    )


def _data_rows(
    path: str | Path, data: bytes | None, limits: UploadLimits | None
) -> tuple[str, tuple[str, ...], list[tuple[int, list[str]]]]:
    """The file's name, header and data rows (number, cells padded to the header's width)."""
    limits = limits or UploadLimits.from_env()
    name = str(path)
    suffix = Path(name).suffix.lower()
    try:
        raw = data if data is not None else Path(name).read_bytes()
    except OSError as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取文件: {exc.strerror}")]) from exc
    if suffix == ".xlsx":
        matrix = _capped(name, _read_xlsx(name, raw, limits), limits)
    elif suffix in (".csv", ".txt"):
        matrix = _capped(name, _read_csv(name, raw, limits), limits)
    else:
        raise ImportRejected(
            name, [Problem(0, "", f"不支持的文件类型 {suffix!r}，请使用 .csv 或 .xlsx")]
        )
    if not matrix or not any(cell for cell in matrix[0]):
        raise ImportRejected(name, [Problem(1, "", "文件为空或缺少表头行")])
    header = tuple(cell.strip() for cell in matrix[0])
    seen: set[str] = set()
    problems = []
    for h in header:
        if h and h in seen:
            problems.append(Problem(1, h, "表头中列名重复"))
        seen.add(h)
    if problems:
        raise ImportRejected(name, problems)
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(matrix[1:], start=2):
        if not "".join(cells).strip():
            continue  # blank lines are not data
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            problems.append(
                Problem(number, "", f"本行有 {len(cells)} 列，多于表头的 {len(header)} 列")
            )
            continue
        rows.append((number, (list(cells) + [""] * (len(header) - len(cells)))[: len(header)]))
    if problems:
        raise ImportRejected(name, problems)
    return name, header, rows


def _over(name: str, row: int, what: str, setting: str) -> ImportRejected:
    return ImportRejected(name, [Problem(row, "", f"文件超出上限：{what}（设置项 {setting}）")])


def _capped(name: str, rows: Iterable[list[str]], limits: UploadLimits) -> list[list[str]]:
    """The rows of a file, refused at the first one that passes a cap (columns, rows, cells,
    characters in a cell): nothing beyond that row is parsed."""
    matrix: list[list[str]] = []
    cells = 0
    for number, row in enumerate(rows, start=1):
        if number > limits.max_rows + 1:  # + the header
            raise _over(name, number, f"最多 {limits.max_rows:,} 行数据", "PINGAN_UPLOAD_MAX_ROWS")
        if len(row) > limits.max_columns:
            raise _over(
                name,
                number,
                f"每行最多 {limits.max_columns:,} 列（此行 {len(row):,} 列）",
                "PINGAN_UPLOAD_MAX_COLUMNS",
            )
        cells += len(row)
        if cells > limits.max_cells:
            raise _over(
                name, number, f"最多 {limits.max_cells:,} 个单元格", "PINGAN_UPLOAD_MAX_CELLS"
            )
        if row and max(map(len, row)) > limits.max_cell_chars:
            raise _over(
                name,
                number,
                f"单元格最多 {limits.max_cell_chars:,} 个字符",
                "PINGAN_UPLOAD_MAX_CELL_CHARS",
            )
        matrix.append(row)
    return matrix


def _read_csv(name: str, raw: bytes, limits: UploadLimits) -> Iterator[list[str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            name,
            [Problem(0, "", f"文件不是 UTF-8 编码（第 {exc.start} 字节），请另存为 UTF-8 CSV")],
        ) from exc

    def lines() -> Iterator[str]:
        for number, line in enumerate(io.StringIO(text, newline=""), start=1):
            if len(line) > limits.max_line_chars:
                raise _over(
                    name,
                    number,
                    f"每行最多 {limits.max_line_chars:,} 个字符（此行 {len(line):,} 个）",
                    "PINGAN_UPLOAD_MAX_LINE_CHARS",
                )
            yield line

    reader = csv.reader(lines())
    try:
        yield from reader
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            # csv's own cap (131,072 characters) is above ours: the cell is over ours too.
            raise _over(
                name,
                reader.line_num,
                f"单元格最多 {limits.max_cell_chars:,} 个字符",
                "PINGAN_UPLOAD_MAX_CELL_CHARS",
            ) from exc
        raise ImportRejected(name, [Problem(0, "", f"CSV 格式错误: {exc}")]) from exc


def _read_xlsx(name: str, raw: bytes, limits: UploadLimits) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        # The sizes the archive declares bound what unpacking yields (zipfile stops at the
        # declared size and checks the CRC), so a zip bomb is refused before it is opened.
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(raw)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取 XLSX 文件: {exc}")]) from exc
    if unpacked > limits.max_xlsx_bytes:
        raise _over(
            name,
            0,
            f"XLSX 解压后最多 {limits.max_xlsx_bytes:,} 字节（此文件 {unpacked:,} 字节）",
            "PINGAN_UPLOAD_MAX_XLSX_BYTES",
        )
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取 XLSX 文件: {exc}")]) from exc
    try:
        sheet = workbook.worksheets[0]
        # The sheet's own <dimension> may claim A1:XFD1048576: ignore it, so rows are as long
        # as their cells and no padding is invented.
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取 XLSX 文件: {exc}")]) from exc
    finally:
        workbook.close()


def require_columns(table: Table, required: Sequence[str]) -> list[Problem]:
    """A problem for each required column missing from the header."""
    return [Problem(1, col, "缺少必需的列") for col in required if col not in table.header]
