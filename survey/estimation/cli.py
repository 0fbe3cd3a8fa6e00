"""``survey estimate``: design-based estimates from any CSV, as an analyst would run R ``survey``.

    survey estimate DATA.csv --weight COL [--strata COL] [--cluster COL] [--fpc COL]
        (--mean COL | --total COL | --proportion COL=CODE,CODE,...)
        [--recode COL:CODE=VALUE,...] [--missing COL:CODE,...] [--by COL[,COL]]
        [--rake MARGIN.csv]... [--ci logit|t|normal|beta] [--level 0.95] [--format json|csv]

Semantics (so every implementation reads them alike): an empty field is missing; codes are
compared as numbers when both sides are numeric (``3`` equals ``3.0``); ``--missing`` codes and
empty answers are out of the domain (R ``na.rm=TRUE``) but stay in the design; ``--recode`` maps
every code of the column (a code present in the data but absent from the recode is an error,
missing codes excepted); ``--proportion`` codes are compared with the (recoded) values; rows with
an empty by-value belong to no domain; raking uses every respondent; an ``--fpc`` ≤ 1 is a
sampling fraction. ``--ci`` defaults to ``normal`` for means and totals and ``logit`` for
proportions; ``t`` uses the full design's df; ``logit``/``beta`` use each domain's df.
Output: one JSON array (or CSV rows), one object per domain with ``domain`` (by-values joined
with ``|``; null without ``--by``), ``estimate``, ``se``, ``ci_lower``, ``ci_upper``, ``df``
(null = normal), ``n``, ``n_missing``, ``deff``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from survey.cells import safe_cell
from survey.estimation.design import Design
from survey.estimation.errors import EstimationError
from survey.estimation.estimators import DomainEstimates, mean_by, proportion_by, total_by
from survey.estimation.weighting import Margin, rake

OUTPUT_KEYS: tuple[str, ...] = (
    "domain",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "df",
    "n",
    "n_missing",
    "deff",
)


class CliInputError(Exception):
    """Bad input for ``survey estimate``; printed as one line."""


@dataclass(frozen=True)
class Table:
    """A CSV file: its name, header and rows (lists of stripped strings)."""

    source: str
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str, option: str) -> list[str]:
        if name not in self.header:
            raise CliInputError(
                f"{self.source}: 没有列「{name}」（{option}）；现有列: {', '.join(self.header)}"
            )
        j = self.header.index(name)
        return [r[j] for r in self.rows]


def read_csv(path: str) -> Table:
    """Read a UTF-8 (optional BOM) CSV with a header row; every row must have the header's width."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CliInputError(f"{path}: 文件不存在") from exc
    except UnicodeDecodeError as exc:
        raise CliInputError(f"{path}: 不是 UTF-8 编码的 CSV") from exc
    except OSError as exc:
        raise CliInputError(f"{path}: 无法读取（{exc.strerror}）") from exc
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise CliInputError(f"{path}: 文件为空")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise CliInputError(f"{path}: 第1行, 列名「{dup}」重复")
    body = []
    for i, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        if len(r) != len(header):
            raise CliInputError(f"{path}: 第{i}行有 {len(r)} 个字段，表头有 {len(header)} 个")
        body.append([c.strip() for c in r])
    if not body:
        raise CliInputError(f"{path}: 没有数据行")
    return Table(path, header, body)


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


def _row_of(table: Table, index: int) -> int:
    return index + 2  # header is row 1


def numeric_column(table: Table, name: str, option: str, *, positive: bool = False) -> np.ndarray:
    values = table.column(name, option)
    out = np.empty(len(values))
    for i, text in enumerate(values):
        v = _number(text)
        if v is None:
            what = "为空" if text == "" else f"「{text}」不是数字"
            raise CliInputError(f"{table.source}: 第{_row_of(table, i)}行, 列 {name}: {what}")
        if positive and v <= 0:
            raise CliInputError(
                f"{table.source}: 第{_row_of(table, i)}行, 列 {name}: {text} 必须为正数"
            )
        out[i] = v
    return out


def label_column(table: Table, name: str, option: str) -> np.ndarray:
    """Labels of a stratum/cluster column; ``3`` and ``3.0`` are one label (as first written)."""
    values = table.column(name, option)
    first: dict[Any, str] = {}
    out = []
    for i, text in enumerate(values):
        if text == "":
            raise CliInputError(
                f"{table.source}: 第{_row_of(table, i)}行, 列 {name}: 为空（{option}）"
            )
        out.append(first.setdefault(code_key(text), text))
    return np.array(out)


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
    numeric after the recode.
    """
    raw = table.column(name, option)
    miss = missing.get(name, set())
    recode = recodes.get(name)
    wanted = set(codes) if codes is not None else None
    out = np.full(len(raw), np.nan)
    for i, text in enumerate(raw):
        if text == "":
            continue
        k = code_key(text)
        if k in miss:
            continue
        if recode is not None:
            if k not in recode:
                raise CliInputError(
                    f"{table.source}: 第{_row_of(table, i)}行, 列 {name}: 代码「{text}」不在 --recode 中"
                    "（请加入 --recode 或 --missing）"
                )
            k = recode[k]
        if wanted is not None:
            out[i] = 1.0 if k in wanted else 0.0
        elif isinstance(k, float):
            out[i] = k
        else:
            raise CliInputError(
                f"{table.source}: 第{_row_of(table, i)}行, 列 {name}: 「{text}」不是数字（可用 --recode 或 --missing）"
            )
    return out


def domains(table: Table, by: str | None) -> tuple[np.ndarray, list[str | None]]:
    """Domain code per row (−1 = no domain: an empty by-value) and each domain's label."""
    if not by:
        return np.zeros(len(table.rows), dtype=np.intp), [None]
    names = [c.strip() for c in by.split(",") if c.strip()]
    if not names:
        raise CliInputError("--by: 没有给出列名")
    cols = [table.column(c, "--by") for c in names]
    # by-values are compared like codes ("3" is "3.0"); a domain is labelled as first written
    first_text: dict[tuple[Any, ...], str] = {}
    keys: list[tuple[Any, ...] | None] = []
    for values in zip(*cols, strict=True):
        if any(v == "" for v in values):
            keys.append(None)
            continue
        key = tuple(code_key(v) for v in values)
        first_text.setdefault(key, "|".join(values))
        keys.append(key)
    ordered = sorted(first_text, key=lambda c: tuple((isinstance(v, str), v) for v in c))
    index = {c: i for i, c in enumerate(ordered)}
    groups = np.array([-1 if k is None else index[k] for k in keys], dtype=np.intp)
    return groups, [first_text[c] for c in ordered]


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
        freq_col = m.header.index("Freq")
        cells: dict[tuple[Any, ...], int] = {}
        totals: list[float] = []
        for i, r in enumerate(m.rows):
            f = _number(r[freq_col])
            if f is None or f < 0:
                raise CliInputError(f"{path}: 第{i + 2}行, 列 Freq: 「{r[freq_col]}」不是非负数")
            key = tuple(code_key(r[m.header.index(v)]) for v in variables)
            if key in cells:
                raise CliInputError(
                    f"{path}: 第{i + 2}行: 类别 {'|'.join(r[m.header.index(v)] for v in variables)} 重复"
                )
            cells[key] = len(totals)
            totals.append(f)
        sample_cols = [table.column(v, f"--rake {path}") for v in variables]
        codes = np.empty(len(table.rows), dtype=np.intp)
        for i, values in enumerate(zip(*sample_cols, strict=True)):
            key = tuple(code_key(v) for v in values)
            if key not in cells:
                raise CliInputError(
                    f"{table.source}: 第{_row_of(table, i)}行: 类别 {'|'.join(values) or '(空)'} 不在边际表 {path} 中"
                )
            codes[i] = cells[key]
        out.append(Margin(codes, np.array(totals), f"{Path(path).name}（{'×'.join(variables)}）"))
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
        table.column(col, "--recode/--missing")
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
        if statistic == "proportion":
            result = proportion_by(
                design,
                values,
                groups,
                None,
                n_groups=len(labels),
                ci=ci,
                level=args.level,
            )
        elif statistic == "mean":
            result = mean_by(
                design,
                values,
                groups,
                n_groups=len(labels),
                ci=ci,
                level=args.level,
            )
        else:
            result = total_by(
                design,
                values,
                groups,
                n_groups=len(labels),
                ci=ci,
                level=args.level,
            )
    except EstimationError as exc:
        raise CliInputError(f"{table.source}: {exc}") from exc
    return result_rows(result, labels)


def cmd_estimate(args: argparse.Namespace) -> int:
    from survey.cli import CommandError

    try:
        rows = run(args)
    except CliInputError as exc:
        raise CommandError(str(exc).replace("\n", " ")) from exc
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(OUTPUT_KEYS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: "" if v is None else (repr(v) if isinstance(v, float) else safe_cell(v))
                    for k, v in row.items()
                }
            )
    else:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``survey estimate`` to the ``survey`` command line."""
    p = subparsers.add_parser(
        "estimate",
        help="design-based estimates (mean, total, proportion) with SEs and CIs from a CSV",
        description=(__doc__ or "").split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n", 2)[2] if __doc__ else None,
    )
    p.add_argument("data", metavar="DATA.csv", help="one row per respondent, header row, UTF-8")
    p.add_argument("--weight", required=True, metavar="COL", help="sampling weight column (> 0)")
    p.add_argument("--strata", metavar="COL", help="stratum column (e.g. district)")
    p.add_argument("--cluster", metavar="COL", help="PSU column; default: each row is its own PSU")
    p.add_argument(
        "--fpc", metavar="COL", help="population count of the stratum (or PSUs), or a fraction ≤ 1"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--mean", metavar="COL", help="weighted mean of COL")
    what.add_argument("--total", metavar="COL", help="weighted total of COL")
    what.add_argument(
        "--proportion", metavar="COL=CODE,...", help="share of valid answers with these codes"
    )
    p.add_argument(
        "--recode", action="append", metavar="COL:CODE=VALUE,...", help="map codes to scores"
    )
    p.add_argument(
        "--missing", action="append", metavar="COL:CODE,...", help="codes treated as missing"
    )
    p.add_argument("--by", metavar="COL[,COL]", help="domains: one estimate per combination")
    p.add_argument(
        "--rake", action="append", metavar="MARGIN.csv", help="raking margin (variables + Freq)"
    )
    p.add_argument("--ci", choices=("logit", "t", "normal", "beta"), help="interval method")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--format", choices=("json", "csv"), default="json", help="output format")
    p.set_defaults(func=cmd_estimate)
