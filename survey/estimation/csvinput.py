"""Reading a CSV for ``survey estimate`` (columnar, see docs/estimation.md) and running the
estimate the parsed options ask for; the options themselves are in ``survey.estimation.cli``."""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from survey.estimation.design import Design
from survey.estimation.errors import EstimationError
from survey.estimation.estimators import DomainEstimates, mean_by, proportion_by, total_by
from survey.estimation.weighting import Margin, rake


class CliInputError(Exception):
    """Bad input for ``survey estimate``; printed as one line."""


@dataclass(frozen=True)
class Column:
    """A column factorised: ``texts`` are its distinct stripped values in order of first
    appearance, ``codes`` the index into ``texts`` of every row."""

    codes: np.ndarray
    texts: list[str]

    def first_row(self, bad: np.ndarray) -> int | None:
        """Index of the first row whose value is flagged in ``bad`` (one flag per text)."""
        hit = bad[self.codes]
        return int(np.argmax(hit)) if hit.any() else None


@dataclass
class Table:
    """A CSV file read column by column (pyarrow): its name, header and stripped string columns,
    factorised on first use. ``n_rows`` counts the data rows (blank rows dropped)."""

    source: str
    header: list[str]
    n_rows: int
    _raw: Any
    _keep: Any
    _columns: dict[str, Column] = field(default_factory=dict)

    def require(self, name: str, option: str) -> None:
        if name not in self.header:
            raise CliInputError(
                f"{self.source}: 没有列「{name}」（{option}）；现有列: {', '.join(self.header)}"
            )

    def column(self, name: str, option: str) -> Column:
        self.require(name, option)
        column = self._columns.get(name)
        if column is None:
            # the kernel itself: ``pyarrow.compute`` builds a Python wrapper (and docstring) for
            # every kernel on import, ≈ 0.05–0.1 s that a plain ``survey estimate`` need not pay
            from pyarrow._compute import call_function

            values = self._raw.column(self.header.index(name)).combine_chunks()
            if self._keep is not None:
                values = call_function("filter", [values, self._keep])
            encoded = call_function("dictionary_encode", [values])
            codes = _int_codes(encoded.indices)
            # strip the distinct texts, not every cell; " a" and "a" then become one value
            texts = [t.strip() for t in encoded.dictionary.to_pylist()]
            if len(set(texts)) < len(texts):
                first: dict[str, int] = {}
                remap = np.array([first.setdefault(t, len(first)) for t in texts], dtype=np.intp)
                codes, texts = remap[codes], list(first)
            column = Column(codes, texts)
            self._columns[name] = column
        return column

    def texts(self, name: str, option: str) -> list[str]:
        """The column's value of every row (for small tables such as raking margins)."""
        column = self.column(name, option)
        return [column.texts[k] for k in column.codes]


def _int_codes(indices: Any) -> np.ndarray:
    """Dictionary indices as ``np.intp``, read straight from the Arrow buffer when there is no
    null (text columns have none): pyarrow's ``to_numpy`` imports pandas when it is installed,
    which cost every ``survey estimate`` ≈ 0.15 s."""
    if indices.null_count:
        return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    width = indices.type.bit_width // 8
    raw = np.frombuffer(
        indices.buffers()[1], dtype=f"<i{width}", count=len(indices), offset=indices.offset * width
    )
    return raw.astype(np.intp)


# a line after the first that is empty or only separators (the last line: end of the search)
_BLANK_LINE = re.compile(rb"\n[ \t,]*\r?(?:\n|\Z)")


def _stripped(chunked: Any) -> Any:
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(chunked.combine_chunks())


def _check_utf8(path: str, data: bytes) -> None:
    """Refuse a file that is not UTF-8, naming the record (the header is row 1, as the ``csv``
    module counts) and the byte, before pyarrow sees it: pyarrow decodes the text of a row of
    the wrong width for ``invalid_row_handler`` itself, and a decoding error there is raised
    inside pyarrow, where it is only printed ("Exception ignored"), never ours to report.

    ASCII is checked at memory speed; other text by Arrow's UTF-8 validation (≈ 15 ms on 10 MB
    of Chinese, a third of ``bytes.decode``), decoded in Python only to place an error."""
    if data.isascii():
        return
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        whole.view(pa.large_string()).validate(full=True)
        return
    except pa.ArrowInvalid:
        pass
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8-sig")
        # records up to and including the one the bad byte is in (the "x" starts a new record
        # when the bad byte begins a line); a quoted value left open is its record's, unended
        row = sum(1 for _ in csv.reader(io.StringIO(before + "x", newline="")))
        raise CliInputError(
            f"{path}: 第{row}行: 不是 UTF-8 编码（第 {exc.start + 1} 字节），请另存为 UTF-8 CSV"
        ) from exc


def read_csv(path: str) -> Table:
    """Read a UTF-8 (optional BOM) CSV with a header row; every row must have the header's width.

    Columnar (``pyarrow.csv``, every column as text, multi-line quoted values allowed); rows
    that are blank or only separators are dropped. A row of the wrong width is reported with its
    record number (the header is row 1), as the ``csv`` module would count it.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise CliInputError(f"{path}: 文件不存在") from exc
    except OSError as exc:
        raise CliInputError(f"{path}: 无法读取（{exc.strerror}）") from exc
    _check_utf8(path, data)
    header_rows = 0  # blank records before the header are skipped with it
    first = None
    lines = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    for record in csv.reader(lines):
        header_rows += 1
        if any(c.strip() for c in record):
            first = record
            break
    if first is None:
        raise CliInputError(f"{path}: 文件为空")
    header = [h.strip() for h in first]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise CliInputError(f"{path}: 第1行, 列名「{dup}」重复")
    wrong: list[tuple[int, int]] = []

    def invalid(row: Any) -> str:
        if row.text.strip(" \t\r,"):
            wrong.append((row.number, row.actual_columns))  # counts the header rows
        return "skip"

    names = [f"c{j}" for j in range(len(header))]
    try:
        raw = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=header_rows, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise CliInputError(f"{path}: 无法按 CSV 读取（{exc}）") from exc
    if wrong:
        row, width = wrong[0]
        raise CliInputError(f"{path}: 第{row}行有 {width} 个字段，表头有 {len(header)} 个")
    keep = None
    # A row that is blank or only separators is dropped (as the csv reader did); look for one
    # cell by cell only when some line of the file could be one.
    end = len(data)
    while end and data[end - 1] in b"\r\n":
        end -= 1
    # (a line-start anchor scanned every byte: 0.2 s on 9 MB; a newline prefix is searched fast)
    if raw.num_rows and _BLANK_LINE.search(data, 0, end):
        import pyarrow.compute as pc

        blank = pc.equal(_stripped(raw.column(0)), "")
        for j in range(1, len(header)):
            if not pc.any(blank).as_py():
                break
            blank = pc.and_(blank, pc.equal(_stripped(raw.column(j)), ""))
        if pc.any(blank).as_py():
            keep = pc.invert(blank)
    n_rows = raw.num_rows if keep is None else int(np.count_nonzero(keep.to_numpy(False)))
    if not n_rows:
        raise CliInputError(f"{path}: 没有数据行")
    return Table(path, header, n_rows, raw, keep)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def code_key(text: str) -> Any:
    """Comparison key of a code: the number when numeric (``3`` == ``3.0``), else the text."""
    value = _number(text)
    return value if value is not None else text


def _row_of(index: int) -> int:
    return index + 2  # header is row 1


def numeric_column(table: Table, name: str, option: str, *, positive: bool = False) -> np.ndarray:
    column = table.column(name, option)
    values = np.empty(len(column.texts))
    bad = np.zeros(len(column.texts), dtype=bool)
    for k, text in enumerate(column.texts):
        v = _number(text)
        if v is None or (positive and v <= 0):
            bad[k] = True
        else:
            values[k] = v
    i = column.first_row(bad)
    if i is not None:
        text = column.texts[column.codes[i]]
        if _number(text) is None:
            what = "为空" if text == "" else f"「{text}」不是数字"
            raise CliInputError(f"{table.source}: 第{_row_of(i)}行, 列 {name}: {what}")
        raise CliInputError(f"{table.source}: 第{_row_of(i)}行, 列 {name}: {text} 必须为正数")
    return values[column.codes]


def label_column(table: Table, name: str, option: str) -> np.ndarray:
    """Labels of a stratum/cluster column; ``3`` and ``3.0`` are one label (as first written)."""
    column = table.column(name, option)
    i = column.first_row(np.array([t == "" for t in column.texts], dtype=bool))
    if i is not None:
        raise CliInputError(f"{table.source}: 第{_row_of(i)}行, 列 {name}: 为空（{option}）")
    first: dict[Any, str] = {}
    labels = [first.setdefault(code_key(text), text) for text in column.texts]
    return np.array(labels)[column.codes]


def parse_mapping(spec: str, option: str) -> tuple[str, str]:
    if ":" not in spec:
        raise CliInputError(f"{option} {spec}: 格式应为 列:…")
    col, rest = spec.split(":", 1)
    if not col.strip() or not rest.strip():
        raise CliInputError(f"{option} {spec}: 格式应为 列:…")
    return col.strip(), rest


def parse_recodes(specs: Sequence[str]) -> dict[str, dict[Any, float]]:
    out: dict[str, dict[Any, float]] = {}
    for spec in specs:
        col, rest = parse_mapping(spec, "--recode")
        mapping: dict[Any, float] = {}
        for part in rest.split(","):
            if "=" not in part:
                raise CliInputError(f"--recode {spec}: 「{part}」应为 代码=分值")
            code, value = (s.strip() for s in part.split("=", 1))
            v = _number(value)
            if not code or v is None:
                raise CliInputError(f"--recode {spec}: 「{part}」的分值必须是数字")
            mapping[code_key(code)] = v
        out.setdefault(col, {}).update(mapping)
    return out


def parse_missing(specs: Sequence[str]) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {}
    for spec in specs:
        col, rest = parse_mapping(spec, "--missing")
        codes = {code_key(c.strip()) for c in rest.split(",") if c.strip()}
        if not codes:
            raise CliInputError(f"--missing {spec}: 没有给出代码")
        out.setdefault(col, set()).update(codes)
    return out


def item_values(
    table: Table,
    name: str,
    option: str,
    recodes: dict[str, dict[Any, float]],
    missing: dict[str, set[Any]],
    codes: Sequence[Any] | None = None,
) -> np.ndarray:
    """The analysed item as floats, NaN = missing (empty or a ``--missing`` code).

    With ``codes`` (a proportion) the result is 1.0 where the (recoded) value is one of the
    codes and 0.0 otherwise, so text codes need no recode; otherwise every valid value must be
    numeric after the recode. Each distinct text is looked at once.
    """
    column = table.column(name, option)
    miss = missing.get(name, set())
    recode = recodes.get(name)
    wanted = set(codes) if codes is not None else None
    values = np.full(len(column.texts), np.nan)
    problems: dict[int, str] = {}
    for k, text in enumerate(column.texts):
        if text == "":
            continue
        key = code_key(text)
        if key in miss:
            continue
        if recode is not None:
            if key not in recode:
                problems[k] = f"代码「{text}」不在 --recode 中（请加入 --recode 或 --missing）"
                continue
            key = recode[key]
        if wanted is not None:
            values[k] = 1.0 if key in wanted else 0.0
        elif isinstance(key, float):
            values[k] = key
        else:
            problems[k] = f"「{text}」不是数字（可用 --recode 或 --missing）"
    if problems:
        bad = np.zeros(len(column.texts), dtype=bool)
        bad[list(problems)] = True
        i = column.first_row(bad)
        assert i is not None
        raise CliInputError(
            f"{table.source}: 第{_row_of(i)}行, 列 {name}: {problems[int(column.codes[i])]}"
        )
    return values[column.codes]


def _combined(columns: Sequence[Column]) -> tuple[np.ndarray, np.ndarray]:
    """Combinations of several factorised columns: (combination code per row, first row of
    each combination), combinations numbered in order of first appearance."""
    if len(columns) == 1:  # already numbered in order of first appearance
        column = columns[0]
        first = np.empty(len(column.texts), dtype=np.intp)
        first[column.codes[::-1]] = np.arange(len(column.codes) - 1, -1, -1)
        return column.codes, first
    codes = columns[0].codes
    for column in columns[1:]:
        pair = codes.astype(np.int64) * len(column.texts) + column.codes
        _, codes = np.unique(pair, return_inverse=True)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], first[order]


def domains(table: Table, by: str | None) -> tuple[np.ndarray, list[str | None]]:
    """Domain code per row (−1 = no domain: an empty by-value) and each domain's label."""
    if not by:
        return np.zeros(table.n_rows, dtype=np.intp), [None]
    names = [c.strip() for c in by.split(",") if c.strip()]
    if not names:
        raise CliInputError("--by: 没有给出列名")
    cols = [table.column(c, "--by") for c in names]
    combination, first_rows = _combined(cols)
    # by-values are compared like codes ("3" is "3.0"); a domain is labelled as first written
    first_text: dict[tuple[Any, ...], str] = {}
    keys: list[tuple[Any, ...] | None] = []
    for row in first_rows:
        values = [c.texts[c.codes[row]] for c in cols]
        if any(v == "" for v in values):
            keys.append(None)
            continue
        key = tuple(code_key(v) for v in values)
        first_text.setdefault(key, "|".join(values))
        keys.append(key)
    ordered = sorted(first_text, key=lambda c: tuple((isinstance(v, str), v) for v in c))
    index = {c: i for i, c in enumerate(ordered)}
    domain_of = np.array([-1 if k is None else index[k] for k in keys], dtype=np.intp)
    return domain_of[combination], [first_text[c] for c in ordered]


def margins_from(table: Table, paths: Sequence[str]) -> list[Margin]:
    """Read R-style margin tables (raking variables + ``Freq``) and code the sample to them."""
    out = []
    for path in paths:
        m = read_csv(path)
        if "Freq" not in m.header:
            raise CliInputError(f"{path}: 边际表缺少计数列 Freq")
        variables = [h for h in m.header if h != "Freq"]
        if not variables:
            raise CliInputError(f"{path}: 边际表没有分类列")
        freqs = m.texts("Freq", "Freq")
        margin_values = [m.texts(v, v) for v in variables]
        cells: dict[tuple[Any, ...], int] = {}
        totals: list[float] = []
        for i, freq in enumerate(freqs):
            f = _number(freq)
            if f is None or f < 0:
                raise CliInputError(f"{path}: 第{i + 2}行, 列 Freq: 「{freq}」不是非负数")
            cell = [values[i] for values in margin_values]
            key = tuple(code_key(v) for v in cell)
            if key in cells:
                raise CliInputError(f"{path}: 第{i + 2}行: 类别 {'|'.join(cell)} 重复")
            cells[key] = len(totals)
            totals.append(f)
        sample_cols = [table.column(v, f"--rake {path}") for v in variables]
        combination, first_rows = _combined(sample_cols)
        cell_of = np.empty(len(first_rows), dtype=np.intp)
        for k, row in enumerate(first_rows):
            values = [c.texts[c.codes[row]] for c in sample_cols]
            key = tuple(code_key(v) for v in values)
            if key not in cells:
                raise CliInputError(
                    f"{table.source}: 第{_row_of(int(row))}行: 类别 {'|'.join(values) or '(空)'} 不在边际表 {path} 中"
                )
            cell_of[k] = cells[key]
        out.append(
            Margin(
                cell_of[combination],
                np.array(totals),
                f"{Path(path).name}（{'×'.join(variables)}）",
            )
        )
    return out


def _json_number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def result_rows(result: DomainEstimates, labels: list[str | None]) -> list[dict[str, Any]]:
    rows = []
    for g, label in enumerate(labels):
        rows.append(
            {
                "domain": label,
                "estimate": _json_number(result.estimate[g]),
                "se": _json_number(result.se[g]),
                "ci_lower": _json_number(result.ci_lower[g]),
                "ci_upper": _json_number(result.ci_upper[g]),
                "df": _json_number(result.df[g]),
                "n": int(result.n[g]),
                "n_missing": int(result.n_missing[g]),
                "deff": _json_number(result.deff[g]),
            }
        )
    return rows


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Compute the estimates asked for by the parsed ``args`` (raises CliInputError)."""
    if not 0 < args.level < 1:
        raise CliInputError(f"--level {args.level}: 必须在 0 与 1 之间")
    if args.mean:
        statistic, item = "mean", args.mean
    elif args.total:
        statistic, item = "total", args.total
    else:
        statistic, item = "proportion", args.proportion
    ci: Any = args.ci or ("logit" if statistic == "proportion" else "normal")
    if statistic != "proportion" and ci in ("logit", "beta"):
        raise CliInputError(f"--ci {ci} 只适用于 --proportion；均值与总量请用 normal 或 t")
    codes: list[Any] = []
    if statistic == "proportion":
        if "=" not in item:
            raise CliInputError(f"--proportion {item}: 格式应为 列=代码,代码,…")
        item, code_text = item.split("=", 1)
        item = item.strip()
        codes = [code_key(c.strip()) for c in code_text.split(",") if c.strip()]
        if not codes:
            raise CliInputError(f"--proportion {args.proportion}: 没有给出代码")
    table = read_csv(args.data)
    weights = numeric_column(table, args.weight, "--weight", positive=True)
    strata = label_column(table, args.strata, "--strata") if args.strata else None
    cluster = label_column(table, args.cluster, "--cluster") if args.cluster else None
    fpc = numeric_column(table, args.fpc, "--fpc", positive=True) if args.fpc else None
    recodes = parse_recodes(args.recode or [])
    missing = parse_missing(args.missing or [])
    for col in [*recodes, *missing]:
        table.require(col, "--recode/--missing")
    values = item_values(
        table,
        item,
        f"--{statistic}",
        recodes,
        missing,
        codes if statistic == "proportion" else None,
    )
    groups, labels = domains(table, args.by)
    try:
        design = Design.from_arrays(weights, strata=strata, psu=cluster, fpc=fpc)
        if args.rake:
            design = rake(design, margins_from(table, args.rake)).design
        n_groups = len(labels)
        if statistic == "proportion":
            result = proportion_by(
                design, values, groups, None, n_groups=n_groups, ci=ci, level=args.level
            )
        else:
            estimate = mean_by if statistic == "mean" else total_by
            result = estimate(design, values, groups, n_groups=n_groups, ci=ci, level=args.level)
    except EstimationError as exc:
        raise CliInputError(f"{table.source}: {exc}") from exc
    return result_rows(result, labels)
