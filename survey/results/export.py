"""Exports of a computed wave: results (JSON/CSV/XLSX) and weighted microdata (CSV/XLSX).

Results: one row per index × unit with ``index``, ``unit_code``, ``unit_name``, ``estimate``
(the published figure, one decimal), ``se``, ``ci_lower``, ``ci_upper``, ``n``, ``n_eff``,
``dk_rate``, ``rank``, ``p_bottom_k``, ``status`` (ranked / 样本不足 / 不排名), ``sanctions`` and
``praise`` (lists of ``{level, reason}``), plus the level, the rank interval, the
distinguishability flag, the Fay–Herriot estimate and the unrounded estimate. The XLSX has a
sheet per result table (results, weighting diagnostics, integrity flags).

Microdata: one row per interview used, with the design variables (district as stratum, the
sample's stratum, PSU = response id), the base and final weights, the units and the index values
— so the figures can be reproduced in R (``svydesign(ids=~1, strata=~stratum, weights=~weight)``)
or Stata. The XLSX adds the raking margins (adults by district × sex and district × age group from
the registry, beside the weighted totals) and the weighting method, so that the calibration can be
redone. No phone numbers exist in responses; none are exported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from openpyxl import Workbook

from survey.cells import safe_cell
from survey.db.tables import AGE_GROUPS, SEXES
from survey.results.compute import (
    ComputeError,
    load_registry,
    load_responses,
    prepare_wave,
    wave_by_id,
)
from survey.results.queries import ResultRow, RunInfo, results_for_wave, run_for_wave
from survey.results.statistics import WaveInput, build_weights

RESULT_COLUMNS: tuple[str, ...] = (
    "index",
    "index_name",
    "level",
    "unit_code",
    "unit_name",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "n",
    "n_eff",
    "dk_rate",
    "deff",
    "rank",
    "rank_lower",
    "rank_upper",
    "p_bottom_k",
    "distinguishable",
    "status",
    "sanctions",
    "praise",
    "fh_estimate",
    "fh_se",
    "estimate_exact",
    "scale",
)
STATUS_EXPORT = {"ranked": "ranked", "insufficient": "样本不足", "not_ranked": "不排名"}


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def result_records(rows: Sequence[ResultRow]) -> list[dict[str, Any]]:
    """Export records (lists stay lists; the CSV writer turns them into JSON text)."""
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
            "dk_rate": _round(r.dk_rate, 2),
            "deff": _round(r.deff, 4),
            "rank": r.rank,
            "rank_lower": r.rank_lower,
            "rank_upper": r.rank_upper,
            "p_bottom_k": _round(r.p_bottom_k, 4),
            "distinguishable": r.distinguishable,
            "status": STATUS_EXPORT.get(r.status, r.status),
            "sanctions": [{"level": s["level"], "reason": s["reason"]} for s in r.sanctions],
            "praise": [{"level": p["level"], "reason": p["reason"]} for p in r.praises],
            "fh_estimate": _round(r.fh_estimate, 4),
            "fh_se": _round(r.fh_se, 4),
            "estimate_exact": r.estimate,
            "scale": r.scale,
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


def to_xlsx(sheets: Sequence[tuple[str, Sequence[str], Sequence[dict[str, Any]]]]) -> bytes:
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


def _run_sheets(run: RunInfo) -> list[tuple[str, Sequence[str], Sequence[dict[str, Any]]]]:
    weighting_columns = list(run.weighting[0]) if run.weighting else ["scope"]
    flag_columns = ["kind", "index_id", "unit_code", "unit_name", "message"]
    return [
        ("加权诊断", weighting_columns, run.weighting),
        ("数据质量提示", flag_columns, run.flags),
    ]


RESULT_TABLES: tuple[str, ...] = ("results", "weighting", "flags")


async def export_results(
    wave_id: int, fmt: str, *, table: str = "results", district_code: str | None = None
) -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of the results in ``json``/``csv``/``xlsx``.

    ``table`` picks the CSV's table: ``results`` (index × unit), ``weighting`` (diagnostics per
    district) or ``flags`` (integrity flags); the XLSX always holds all three as sheets.
    ``district_code`` limits everything to one district (district-limited users)."""
    wave = await wave_by_id(wave_id)
    run = await run_for_wave(wave.id)
    rows = await results_for_wave(wave.id)
    if district_code is not None:
        rows = [r for r in rows if r.district_code == district_code]
        if run is not None:
            codes = {r.unit_code for r in rows}
            run = replace(
                run,
                weighting=[w for w in run.weighting if w.get("district") == district_code],
                flags=[f for f in run.flags if f.get("unit_code") in codes],
            )
    records = result_records(rows)
    stem = f"results-{wave.programme_code}-{wave.month}"
    if table not in RESULT_TABLES:
        raise ValueError(f"未知的结果表 {table}（{'、'.join(RESULT_TABLES)}）")
    if fmt == "csv" and table != "results":
        chosen = dict(zip(("weighting", "flags"), _run_sheets(run), strict=True)) if run else {}
        if table not in chosen:
            return b"", "text/csv; charset=utf-8", f"{stem}-{table}.csv"
        _title, columns, data = chosen[table]
        return to_csv(columns, data), "text/csv; charset=utf-8", f"{stem}-{table}.csv"
    if fmt == "json":
        payload = {
            "wave": wave.month,
            "programme": wave.programme_code,
            "method_version": run.method_version if run else None,
            "policy": f"{run.policy_id} v{run.policy_version}" if run else None,
            "computed_at": run.computed_at if run else None,
            "results": records,
        }
        content = json.dumps(payload, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        return content, "application/json", f"{stem}.json"
    if fmt == "csv":
        return to_csv(RESULT_COLUMNS, records), "text/csv; charset=utf-8", f"{stem}.csv"
    if fmt == "xlsx":
        sheets: list[tuple[str, Sequence[str], Sequence[dict[str, Any]]]] = [
            ("指标结果", RESULT_COLUMNS, records)
        ]
        if run is not None:
            sheets.extend(_run_sheets(run))
        return (
            to_xlsx(sheets),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"{stem}.xlsx",
        )
    raise ValueError(f"不支持的导出格式 {fmt}（json、csv、xlsx）")


MARGIN_COLUMNS: tuple[str, ...] = (
    "margin", "district", "sex", "age_group", "population", "weighted_total",
)  # fmt: skip


def _margin_rows(
    data: WaveInput, weights: np.ndarray, district_code: str | None
) -> list[dict[str, Any]]:
    """The raking margins (adults by district × sex and district × age group, from the registry)
    beside the sum of the final weights in each cell — equal where calibration converged."""
    rows: list[dict[str, Any]] = []
    for d, code in enumerate(data.districts):
        in_district = data.district == d
        if (district_code is not None and code != district_code) or not in_district.any():
            continue
        for s, sex in enumerate(SEXES):
            rows.append({
                "margin": "区县×性别", "district": code, "sex": sex, "age_group": "",
                "population": float(data.population[d, s, :].sum()),
                "weighted_total": float(weights[in_district & (data.sex == s)].sum()),
            })  # fmt: skip
        for a, age in enumerate(AGE_GROUPS):
            rows.append({
                "margin": "区县×年龄段", "district": code, "sex": "", "age_group": age,
                "population": float(data.population[d, :, a].sum()),
                "weighted_total": float(weights[in_district & (data.age == a)].sum()),
            })  # fmt: skip
    return rows


async def export_microdata(
    wave_id: int,
    fmt: str,
    *,
    include_non_probability: bool = False,
    district_code: str | None = None,
) -> tuple[bytes, str, str]:
    """The weighted microdata of the wave (the rows and weights ``compute_wave`` uses);
    ``district_code`` keeps only that district's interviews."""
    wave = await wave_by_id(wave_id)
    registry = await load_registry(wave.region_id)
    responses = await load_responses(wave.id, include_non_probability=include_non_probability)
    try:
        prepared = prepare_wave(registry, responses)
        design, summary = build_weights(prepared.data)
    except ValueError as exc:  # EstimationError (an empty weighting cell…) or a bad stored code
        raise ComputeError(f"加权失败，无法导出微观数据：{exc}") from exc
    data = prepared.data
    weights = np.asarray(design.weights)
    base = np.where(np.isfinite(data.base_weight), data.base_weight, 1.0)
    levels = data.levels
    by_id = {r["id"]: r for r in responses}
    index_columns: list[tuple[str, np.ndarray]] = []
    for index in data.indices:
        if index.values is not None:
            index_columns.append((index.id, index.values))
        for code, values in index.department_values.items():
            index_columns.append((f"{index.id}_{code}", values))
    columns = [
        "response_id",
        "district",
        "stratum",
        "psu",
        "street",
        "station",
        "community_id",
        "mode",
        "sex",
        "age_group",
        "design_weight",
        "weight",
        *[name for name, _ in index_columns],
    ]
    records: list[dict[str, Any]] = []
    for i, response_id in enumerate(prepared.response_ids):
        if (
            district_code is not None
            and levels["district"].codes[data.district[i]] != district_code
        ):
            continue
        source = by_id[response_id]
        row: dict[str, Any] = {
            "response_id": response_id,
            "district": levels["district"].codes[data.district[i]],
            "stratum": source["stratum"] or levels["district"].codes[data.district[i]],
            "psu": response_id,
            "street": levels["street"].codes[levels["street"].row_unit[i]],
            "station": (
                levels["station"].codes[levels["station"].row_unit[i]]
                if levels["station"].row_unit[i] >= 0
                else ""
            ),
            "community_id": source["community"],
            "mode": source["mode"],
            "sex": source["sex"],
            "age_group": source["age_group"],
            "design_weight": float(base[i]) if source["design_weight"] is not None else "",
            "weight": float(weights[i]),
        }
        for name, values in index_columns:
            value = float(values[i])
            row[name] = "" if not np.isfinite(value) else value
        records.append(row)
    stem = f"microdata-{wave.programme_code}-{wave.month}"
    if fmt == "csv":
        return to_csv(columns, records), "text/csv; charset=utf-8", f"{stem}.csv"
    if fmt == "xlsx":
        margins = _margin_rows(data, weights, district_code)
        method = [
            {"item": "加权方法", "value": summary.method},
            {"item": "是否修剪", "value": "是" if summary.trimmed else "否"},
            {"item": "说明", "value": summary.note or "—"},
            {
                "item": "R survey",
                "value": "svydesign(ids = ~1, strata = ~stratum, weights = ~weight, data = 微观数据)"
                "；标准误若要计入耙权，请按「加权边际」表用 rake() 对区县×性别、区县×年龄段校准",
            },
        ]
        return (
            to_xlsx(
                [
                    ("微观数据", columns, records),
                    ("加权边际", list(MARGIN_COLUMNS), margins),
                    ("加权方法", ["item", "value"], method),
                ]
            ),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"{stem}.xlsx",
        )
    raise ValueError(f"不支持的微观数据格式 {fmt}（csv、xlsx）")
