"""Exports of a computed wave: results (JSON/CSV/XLSX) and weighted microdata (CSV/XLSX/SAV/DTA).

Results: one row per index × unit (``result_table_records``): codes beside labels per
``--labels`` (``result_columns``), the figures, the rank evidence, and sanctions and praise as
level / measure / reason columns; the JSON keeps the records of ``result_records`` (sanctions as
lists). The XLSX has a sheet per result table (results, weighting diagnostics, integrity flags)
and a codebook sheet.

Microdata (``survey.results.microdata``): one row per interview used, with the design variables,
the units, base / raked / final weights, the items and the index values; CSV/XLSX readable per
``--labels`` with a codebook, SPSS ``.sav`` and Stata ``.dta`` with variable and value labels
(docs/results.md says which encoding and format version and why). No phone numbers.

Every CSV and XLSX byte is written by ``to_csv`` and ``to_xlsx``: cell-level rules (e.g.
neutralising spreadsheet formulas) belong there.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl import Workbook

from survey.cells import safe_cell
from survey.ranking import LEVEL_NAMES, STATUS_NAMES
from survey.results.changes import Key, RowChanges, changes_for
from survey.results.compute import wave_by_id
from survey.results.formats import (
    LabelMode,
    label_mode,
    microdata_format,
    results_export,
)
from survey.results.microdata import (
    LEVEL_LABELS,
    MARGIN_COLUMNS,
    Microdata,
    Variable,
    load_microdata,
)
from survey.results.queries import (
    ResultRow,
    RunInfo,
    results_for_programme,
    results_for_wave,
    run_for_wave,
)

#: One sheet of a workbook: ``(title, columns, records)``.
Sheet = tuple[str, Sequence[str], Sequence[dict[str, Any]]]

#: A sanction's review state as exported (``SanctionRule.review`` and the decisions on it).
REVIEW_EXPORT = {
    "": "none",
    "flagged": "flagged",
    "held": "held",
    "confirmed": "confirmed",
    "withdrawn": "withdrawn",
    "appealed": "appealed",
    "changed": "changed",
}
STATUS_EXPORT = {"ranked": "ranked", "insufficient": "样本不足", "not_ranked": "不排名"}


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _change_fields(changes: RowChanges | None) -> dict[str, Any]:
    prev = changes.previous if changes else None
    ago = changes.year_ago if changes else None
    return {
        "change_from": prev.since if prev else None,
        "change": _round(prev.change, 4) if prev else None,
        "change_se": _round(prev.se, 4) if prev else None,
        "change_significant": prev.significant if prev else None,
        "yoy_from": ago.since if ago else None,
        "yoy_change": _round(ago.change, 4) if ago else None,
        "yoy_change_se": _round(ago.se, 4) if ago else None,
        "yoy_change_significant": ago.significant if ago else None,
    }


def result_records(
    rows: Sequence[ResultRow], changes: dict[Key, RowChanges] | None = None
) -> list[dict[str, Any]]:
    """Export records (lists stay lists; the CSV writer turns them into JSON text), with each
    row's change from the previous wave and the year-ago wave (``survey.results.changes``)."""
    changes = changes or {}
    return [
        {
            "index": r.index_id,
            "index_name": r.index_name,
            "level": r.level,
            "unit_code": r.unit_code,
            "unit_name": r.unit_name,
            "estimate": _round(r.estimate, 1),
            "se": _round(r.se, 4),
            "ci_lower": _round(r.ci_lower, 2),
            "ci_upper": _round(r.ci_upper, 2),
            "n": r.n,
            "n_eff": _round(r.n_eff, 1),
            "n_kish": _round(r.n_kish, 1),
            "dk_rate": _round(r.dk_rate, 2),
            "deff": _round(r.deff, 4),
            "rank": r.rank,
            "rank_lower": r.rank_lower,
            "rank_upper": r.rank_upper,
            "p_bottom_k": _round(r.p_bottom_k, 4),
            "distinguishable": r.distinguishable,
            "status": STATUS_EXPORT.get(r.status, r.status),
            "sanctions": [
                {
                    "level": s["level"],
                    "reason": s["reason"],
                    "review": REVIEW_EXPORT.get(s.get("review") or "", "none"),
                }
                for s in r.sanctions
            ],
            "praise": [{"level": p["level"], "reason": p["reason"]} for p in r.praises],
            "fh_estimate": _round(r.fh_estimate, 4),
            "fh_se": _round(r.fh_se, 4),
            "estimate_exact": r.estimate,
            "scale": r.scale,
            **_change_fields(changes.get((r.index_id, r.level, r.unit_code))),
        }
        for r in rows
    ]


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    return safe_cell(value)


def to_csv(columns: Sequence[str], records: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with a BOM (so spreadsheet programs read the Chinese correctly)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(c)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """An XLSX workbook with one sheet per ``(title, columns, records)``."""
    book = Workbook()
    first = True
    for title, columns, records in sheets:
        sheet = book.active if first else book.create_sheet()
        first = False
        assert sheet is not None
        sheet.title = title[:31]
        sheet.append(list(columns))
        for record in records:
            sheet.append([_cell(record.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


MODE_COLUMNS: tuple[str, ...] = ("level", "unit_code", "unit_name", "web", "phone", "import")


def mode_rows(run: RunInfo) -> list[dict[str, Any]]:
    """Interviews per unit and mode (web, phone, import), every level (the method's mode mix)."""
    mix = run.method.get("mode_mix") or {}
    return [
        {"level": level, **{c: row.get(c, 0) for c in MODE_COLUMNS[1:]}}
        for level, rows in mix.items()
        for row in rows
    ]


def _run_sheets(run: RunInfo) -> list[Sheet]:
    weighting_columns = list(run.weighting[0]) if run.weighting else ["scope"]
    flag_columns = ["kind", "index_id", "unit_code", "unit_name", "message"]
    return [
        ("加权诊断", weighting_columns, run.weighting),
        ("数据质量提示", flag_columns, run.flags),
        ("访问方式", MODE_COLUMNS, mode_rows(run)),
    ]


# ---------------------------------------------------------------------------------------------
# Readable tables: --labels codes|text|both

STATUS_NAMES_EXPORT = {**STATUS_NAMES, "not_ranked": "不排名"}

#: Every column of the readable results table with its Chinese meaning (the codebook); ``code``
#: columns are left out by ``--labels text``, ``label`` columns by ``--labels codes``.
RESULT_TABLE: tuple[tuple[str, str, str], ...] = (
    ("index", "code", "指标代码"),
    ("index_name", "label", "指标"),
    ("level", "code", "单位层级代码（station/street/district/department）"),
    ("level_name", "label", "单位层级"),
    ("unit_code", "code", "单位代码"),
    ("unit_name", "label", "单位名称"),
    ("estimate", "", "公布值（一位小数；比例为 %，满意度为分）"),
    ("se", "", "标准误（泰勒线性化，计入耙权）"),
    ("ci_lower", "", "95% 置信区间下限"),
    ("ci_upper", "", "95% 置信区间上限"),
    ("n", "", "有效回答数"),
    ("n_eff", "", "有效样本量（n / 设计效应；综合满意度不估计设计效应，此处为 Kish 值）"),
    ("n_kish", "", "按权重计算的有效样本量（Kish，(Σw)²/Σw²；是否样本不足按它和 n 判定）"),
    ("dk_rate", "", "不知道/拒答率（%）"),
    ("deff", "", "设计效应（由该指标的方差估计；综合满意度不估计，留空）"),
    ("rank", "", "名次（1 = 最好）"),
    ("rank_lower", "", "名次区间下限"),
    ("rank_upper", "", "名次区间上限"),
    ("p_bottom_k", "", "排在后 k 名的概率"),
    ("distinguishable", "", "与相邻名次是否可区分"),
    ("status", "code", "排名状态代码（ranked/insufficient/not_ranked）"),
    ("status_name", "label", "排名状态"),
    ("sanction_level", "code", "预警等级代码（criticism/yellow_card/veto；多项以「；」分隔）"),
    ("sanction_level_name", "label", "预警等级（通报批评/黄牌警告/一票否决）"),
    ("sanction_measure", "", "预警措施"),
    ("sanction_reason", "", "预警理由"),
    (
        "sanction_review",
        "",
        "复核状态（none 无 / flagged 提请复核 / held 待复核 / confirmed 经复核维持 / "
        "withdrawn 经复核撤销 / changed 经申诉变更 / appealed 申诉中）",
    ),
    ("praise_level", "code", "表扬代码（praise）"),
    ("praise_level_name", "label", "表扬（通报表扬）"),
    ("praise_measure", "", "表扬措施"),
    ("praise_reason", "", "表扬理由"),
    ("fh_estimate", "", "小区域（Fay–Herriot）估计"),
    ("fh_se", "", "小区域估计的标准误"),
    ("estimate_exact", "", "公布值（未舍入）"),
    ("scale", "", "单位（% 或 分）"),
    ("change_from", "", "上期（比较的测评期 YYYY-MM）"),
    ("change", "", "较上期变化（本期 − 上期，百分点或分）"),
    ("change_se", "", "变化的标准误 √(SE本期² + SE上期²)（两期独立样本）"),
    ("change_significant", "", "变化在 5% 水平上是否显著"),
    ("yoy_from", "", "去年同期（YYYY-MM）"),
    ("yoy_change", "", "较去年同期变化（百分点或分）"),
    ("yoy_change_se", "", "同比变化的标准误"),
    ("yoy_change_significant", "", "同比变化在 5% 水平上是否显著"),
)


def _kept(kind: str, labels: LabelMode) -> bool:
    return not (labels == "codes" and kind == "label") and not (labels == "text" and kind == "code")


def result_columns(labels: LabelMode = "both") -> tuple[str, ...]:
    """The readable results table's columns for ``--labels``."""
    return tuple(name for name, kind, _m in RESULT_TABLE if _kept(kind, labels))


#: The CSV/XLSX results columns of the default ``--labels both``.
RESULT_COLUMNS: tuple[str, ...] = result_columns("both")


def _joined(entries: Sequence[dict[str, Any]], key: str) -> str:
    return "；".join(str(e.get(key) or "") for e in entries)


def result_table_records(
    rows: Sequence[ResultRow], changes: dict[Key, RowChanges] | None = None
) -> list[dict[str, Any]]:
    """One record per index × unit with every column of ``RESULT_TABLE`` (sanctions and praise
    as level, measure and reason columns, several joined by 「；」)."""
    out: list[dict[str, Any]] = []
    for record, r in zip(result_records(rows, changes), rows, strict=True):
        record = {k: v for k, v in record.items() if k not in ("sanctions", "praise")}
        record.update(
            level_name=LEVEL_LABELS.get(r.level, r.level),
            status=r.status,
            status_name=STATUS_NAMES_EXPORT.get(r.status, r.status),
            sanction_level=_joined(r.sanctions, "level"),
            sanction_level_name="；".join(LEVEL_NAMES.get(s["level"], "") for s in r.sanctions),
            sanction_measure=_joined(r.sanctions, "measure"),
            sanction_reason=_joined(r.sanctions, "reason"),
            sanction_review="；".join(
                REVIEW_EXPORT.get(s.get("review") or "", "none") for s in r.sanctions
            ),
            praise_level=_joined(r.praises, "level"),
            praise_level_name="；".join(LEVEL_NAMES.get(p["level"], "") for p in r.praises),
            praise_measure=_joined(r.praises, "measure"),
            praise_reason=_joined(r.praises, "reason"),
        )
        out.append(record)
    return out


def result_codebook(labels: LabelMode = "both") -> list[dict[str, Any]]:
    """The codebook of the results table: one row per column with its meaning."""
    return [
        {"variable": name, "label": meaning}
        for name, kind, meaning in RESULT_TABLE
        if _kept(kind, labels)
    ]


RESULTS_SHEET = "指标结果"
CODEBOOK_SHEET = "变量说明"
CODEBOOK_COLUMNS: tuple[str, ...] = ("variable", "label", "type", "values", "missing")
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA = "text/csv; charset=utf-8"


async def export_results(
    wave_id: int,
    fmt: str,
    *,
    table: str = "results",
    district_code: str | None = None,
    labels: LabelMode = "both",
) -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of the results in ``json``/``csv``/``xlsx``.

    ``table`` picks the CSV's table: ``results`` (index × unit), ``weighting`` (diagnostics per
    district), ``flags`` (integrity flags) or ``modes`` (interviews per unit and mode); the XLSX
    holds all four as sheets plus the codebook. ``labels`` chooses code columns, label columns or
    both (CSV/XLSX; the JSON keeps both and the sanctions as lists). ``district_code`` limits
    everything to one district (district-limited users)."""
    label_mode(labels)
    results_export(fmt, table)
    wave = await wave_by_id(wave_id)
    run = await run_for_wave(wave.id)
    rows = await results_for_wave(wave.id)
    history = await results_for_programme(wave.programme_id, wave.month)
    if district_code is not None:
        rows = [r for r in rows if r.district_code == district_code]
        history = [r for r in history if r.district_code == district_code]
        if run is not None:
            codes = {r.unit_code for r in rows}
            run = replace(
                run,
                weighting=[w for w in run.weighting if w.get("district") == district_code],
                flags=[f for f in run.flags if f.get("unit_code") in codes],
            )
    changes = changes_for(rows, history)
    stem = f"results-{wave.programme_code}-{wave.month}"
    if fmt == "csv" and table != "results":
        chosen = (
            dict(zip(("weighting", "flags", "modes"), _run_sheets(run), strict=True)) if run else {}
        )
        if table not in chosen:
            return b"", CSV_MEDIA, f"{stem}-{table}.csv"
        _title, columns, data = chosen[table]
        return to_csv(columns, data), CSV_MEDIA, f"{stem}-{table}.csv"
    if fmt == "json":
        payload = {
            "wave": wave.month,
            "programme": wave.programme_code,
            "method_version": run.method_version if run else None,
            "policy": f"{run.policy_id} v{run.policy_version}" if run else None,
            "computed_at": run.computed_at if run else None,
            "mode_mix": mode_rows(run) if run else [],
            "mode_effect": run.method.get("mode_effect", []) if run else [],
            # interviews analysts left out after the integrity flags (reason, how many, by whom)
            "exclusions": run.method.get("exclusions", []) if run else [],
            "results": result_records(rows, changes),
        }
        content = json.dumps(payload, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        return content, "application/json", f"{stem}.json"
    records = result_table_records(rows, changes)
    columns = result_columns(labels)
    if fmt == "csv":
        return to_csv(columns, records), CSV_MEDIA, f"{stem}.csv"
    sheets: list[Sheet] = [(RESULTS_SHEET, columns, records)]  # xlsx
    if run is not None:
        sheets.extend(_run_sheets(run))
    sheets.append((CODEBOOK_SHEET, ("variable", "label"), result_codebook(labels)))
    return to_xlsx(sheets), XLSX_MEDIA, f"{stem}.xlsx"


async def export_results_codebook(labels: LabelMode = "both") -> tuple[bytes, str, str]:
    """The results table's codebook as CSV (written beside a CSV export)."""
    return to_csv(("variable", "label"), result_codebook(labels)), CSV_MEDIA, "codebook.csv"


# ---------------------------------------------------------------------------------------------
# Microdata: CSV/XLSX (readable, with --labels), SPSS .sav and Stata .dta (labelled)

#: Unit names beside their codes: left out by ``--labels codes``.
NAME_COLUMNS: frozenset[str] = frozenset(
    {"district_name", "street_name", "community_name", "station_name"}
)


def microdata_table(
    md: Microdata, labels: LabelMode = "both"
) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and records of the microdata for CSV/XLSX: a coded variable as its code
    (``codes``), its option label (``text``) or both (``both``: ``x`` and ``x_label``)."""
    columns: list[str] = []
    labelled: list[Variable] = []
    for v in md.variables:
        if labels == "codes" and v.name in NAME_COLUMNS:
            continue
        columns.append(v.name)
        if v.value_labels:
            labelled.append(v)
            if labels == "both":
                columns.append(f"{v.name}_label")
    records: list[dict[str, Any]] = []
    for source in md.records:
        record = dict(source)
        for v in labelled:
            code = source.get(v.name)
            text = v.value_labels.get(code, "") if code is not None else ""
            if labels == "both":
                record[f"{v.name}_label"] = text
            elif labels == "text":
                record[v.name] = text or code
        records.append(record)
    return columns, records


def microdata_codebook(md: Microdata) -> list[dict[str, Any]]:
    """One row per variable: name, Chinese label, type, value labels and missing codes."""
    return [
        {
            "variable": v.name,
            "label": v.label,
            "type": "文本" if v.kind == "text" else "数值",
            "values": "；".join(f"{code}={text}" for code, text in v.value_labels.items()),
            "missing": "、".join(str(c) for c in v.missing),
        }
        for v in md.variables
    ]


def _method_rows(md: Microdata) -> list[dict[str, Any]]:
    s = md.summary
    return [
        {"item": "加权方法", "value": s.method},
        {"item": "是否修剪", "value": "是" if s.trimmed else "否"},
        {"item": "说明", "value": s.note or "—"},
        {
            "item": "R survey",
            "value": "svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, data = 微观数据)"
            "；要让标准误计入耙权，请从 base_weight 出发按「加权边际」表用 rake() 对区县×性别、"
            "区县×年龄段校准（survey results export … --with-script r 写出完整脚本）",
        },
    ]


def _frame(md: Microdata) -> Any:
    import pandas as pd

    data: dict[str, Any] = {}
    for v in md.variables:
        values = [r.get(v.name) for r in md.records]
        if v.kind == "text":
            data[v.name] = pd.Series(["" if x is None else str(x) for x in values], dtype=object)
        else:
            data[v.name] = pd.Series(
                [np.nan if x is None else float(x) for x in values], dtype="float64"
            )
    return pd.DataFrame(data, columns=[v.name for v in md.variables])


SAV_LABEL_BYTES = 255
DTA_LABEL_CHARS = 80


def _clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def to_sav(md: Microdata) -> bytes:
    """SPSS system file (.sav, bytecode-compressed, UTF-8): variable labels (question text, cut
    to 255 bytes), value labels and don't-know/refused codes as user-missing values."""
    import pyreadstat

    labels: dict[str, str | None] = {
        v.name: _clip_bytes(v.label, SAV_LABEL_BYTES) for v in md.variables
    }
    value_labels = {v.name: dict(v.value_labels) for v in md.variables if v.value_labels}
    missing: dict[str, list[Any]] = {v.name: list(v.missing[:3]) for v in md.variables if v.missing}
    return _written(
        lambda path: pyreadstat.write_sav(
            _frame(md),
            path,
            file_label=_clip_bytes(f"{md.wave.programme_name} {md.wave.month} 微观数据", 64),
            column_labels=labels,
            row_compress=True,
            variable_value_labels=value_labels,  # type: ignore[arg-type]
            missing_ranges=missing,
        ),
        ".sav",
    )


def to_dta(md: Microdata) -> bytes:
    """Stata file (.dta format 118, Stata 14 and later, UTF-8): variable labels (cut to 80
    characters) and value labels; don't-know/refused keep their codes (labelled)."""
    import pyreadstat

    labels: dict[str, str | None] = {v.name: v.label[:DTA_LABEL_CHARS] for v in md.variables}
    value_labels = {v.name: dict(v.value_labels) for v in md.variables if v.value_labels}
    return _written(
        lambda path: pyreadstat.write_dta(
            _frame(md),
            path,
            file_label=f"{md.wave.programme_code} {md.wave.month}"[:80],
            column_labels=labels,
            version=14,
            variable_value_labels=value_labels,  # type: ignore[arg-type]
        ),
        ".dta",
    )


def _written(write: Any, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export{suffix}"
        write(str(path))
        return path.read_bytes()


async def export_microdata(
    wave_id: int,
    fmt: str,
    *,
    include_non_probability: bool = False,
    district_code: str | None = None,
    labels: LabelMode = "both",
) -> tuple[bytes, str, str]:
    """The weighted microdata of the wave (the rows and weights ``compute_wave`` uses) as
    ``csv``/``xlsx`` (readable, ``labels``), ``sav`` (SPSS) or ``dta`` (Stata);
    ``district_code`` keeps only that district's interviews."""
    microdata_format(fmt)
    md = await load_microdata(
        wave_id, include_non_probability=include_non_probability, district_code=district_code
    )
    return microdata_file(md, fmt, labels)


def microdata_file(md: Microdata, fmt: str, labels: LabelMode = "both") -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of loaded microdata in ``fmt``."""
    microdata_format(fmt)
    if fmt == "sav":
        return to_sav(md), "application/x-spss-sav", f"{md.stem}.sav"
    if fmt == "dta":
        return to_dta(md), "application/x-stata-dta", f"{md.stem}.dta"
    columns, records = microdata_table(md, labels)
    if fmt == "csv":
        return to_csv(columns, records), CSV_MEDIA, f"{md.stem}.csv"
    sheets: list[Sheet] = [  # xlsx
        ("微观数据", columns, records),
        ("加权边际", MARGIN_COLUMNS, md.margins),
        ("加权方法", ("item", "value"), _method_rows(md)),
        (CODEBOOK_SHEET, CODEBOOK_COLUMNS, microdata_codebook(md)),
    ]
    return to_xlsx(sheets), XLSX_MEDIA, f"{md.stem}.xlsx"


def margins_csv(md: Microdata) -> tuple[bytes, str, str]:
    """The raking margins as CSV (beside a CSV/SAV/DTA export; the XLSX has them as a sheet)."""
    return to_csv(MARGIN_COLUMNS, md.margins), CSV_MEDIA, f"{md.stem}-margins.csv"


def codebook_csv(md: Microdata) -> tuple[bytes, str, str]:
    """The microdata's codebook as CSV (beside a CSV export)."""
    return to_csv(CODEBOOK_COLUMNS, microdata_codebook(md)), CSV_MEDIA, f"{md.stem}-codebook.csv"
