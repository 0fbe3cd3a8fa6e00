"""Delivered interviews (第三方测评机构的数据文件): CSV/XLSX → completed responses of a wave.

``import_responses(wave_id, path, instrument_id, mapping_path=None, username=…)`` validates the
whole file first and writes nothing when any row is wrong; every problem is reported as
``第N行, 列 X: problem`` (unknown unit code, code not in the item's options, duplicate respondent
id, …). Each row becomes a ``Response`` with mode ``import`` (or the file's mode column), status
``completed``, ``source_respondent_id`` from the file and ``import_batch`` = SHA-256 of the file,
the instrument and the mapping: importing the same file again changes nothing, and the unique
index on (wave, source_respondent_id) keeps a respondent once per wave even under concurrent
imports.

Mapping file (TOML, same style as the instruments; all tables optional — without a mapping the
columns carry the field names and item ids themselves)::

    [columns]                  # field → column of the file
    respondent_id = "问卷编号"   # required field
    community = "社区代码"       # required: registry code of the community (社区/村)
    street = "街道代码"          # optional: checked against the community's street
    sex = "性别"                 # required: M/F, 男/女 or the instrument's codes
    age_group = "年龄段"         # required: 18-29/30-44/45-59/60+ or the instrument's codes 1–4
    design_weight = "权重"       # optional, > 0
    mode = "访问方式"             # optional: web/phone/import or 网页/电话/导入
    stratum = "层"               # optional
    duration_seconds = "时长"    # optional, whole seconds
    [items]                    # item id → column (default: the column named like the item)
    q_anquan = "Q1"
    [values.q_anquan]          # text in the file → option code (default: the code itself)
    "很安全" = 1
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import sqlite3
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from questionnaires import Instrument, default_instruments, drop_hidden, validate_answers
from survey.collection.tables import Response
from survey.db import write_transaction
from survey.db.tables import AGE_GROUPS, SEXES, AuditLog, Unit
from survey.results.compute import ComputeError, Registry, load_registry, wave_by_id
from survey.tabular import ImportRejected, Problem, Table, read_table

FIELDS: tuple[str, ...] = (
    "respondent_id",
    "community",
    "street",
    "sex",
    "age_group",
    "design_weight",
    "mode",
    "stratum",
    "duration_seconds",
)
REQUIRED_FIELDS: tuple[str, ...] = ("respondent_id", "community", "sex", "age_group")
MODE_VALUES = {
    "web": "web",
    "网页": "web",
    "phone": "phone",
    "电话": "phone",
    "import": "import",
    "导入": "import",
    "": "import",
}
SEX_VALUES = {"m": "M", "f": "F", "男": "M", "女": "F", "1": "M", "2": "F"}


@dataclass(frozen=True)
class ColumnMapping:
    """A parsed mapping: field → column, item → column, per-column value → code."""

    columns: dict[str, str]
    items: dict[str, str]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: ``created`` responses, or ``unchanged`` for a file already imported."""

    wave_id: int
    batch: str
    created: int
    unchanged: bool

    def describe(self) -> str:
        if self.unchanged:
            return f"该文件已导入过（批次 {self.batch[:12]}），没有任何改变。"
        return f"已导入 {self.created} 份问卷（批次 {self.batch[:12]}）。"


def load_mapping(
    path: str | Path | None, instrument: Instrument, *, content: bytes | None = None
) -> ColumnMapping:
    """The mapping file (``content`` for uploads, else read from ``path``), or the identity
    mapping when there is none; ``ImportRejected`` naming every bad key."""
    identity_items = {it.id: it.id for it in instrument.iter_items()}
    if path is None:
        return ColumnMapping({f: f for f in FIELDS}, identity_items)
    name = str(path)
    try:
        text = (
            content.decode("utf-8")
            if content is not None
            else Path(name).read_text(encoding="utf-8")
        )
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ImportRejected(name, [Problem(0, "", "对照文件必须是 UTF-8 编码")]) from exc
    except OSError as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取对照文件: {exc.strerror}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ImportRejected(name, [Problem(0, "", f"对照文件不是有效的 TOML: {exc}")]) from exc
    problems: list[Problem] = []
    for key in data:
        if key not in ("columns", "items", "values"):
            problems.append(Problem(0, key, "未知的表（可用 columns、items、values）"))
    columns = {f: f for f in FIELDS}
    for key, value in dict(data.get("columns", {})).items():
        if key not in FIELDS:
            problems.append(Problem(0, f"columns.{key}", f"未知字段（可用: {', '.join(FIELDS)}）"))
        elif not isinstance(value, str):
            problems.append(Problem(0, f"columns.{key}", "列名必须是字符串"))
        else:
            columns[key] = value
    items = dict(identity_items)
    for key, value in dict(data.get("items", {})).items():
        if key not in identity_items:
            problems.append(Problem(0, f"items.{key}", f"问卷 {instrument.id} 没有这道题"))
        elif not isinstance(value, str):
            problems.append(Problem(0, f"items.{key}", "列名必须是字符串"))
        else:
            items[key] = value
    values: dict[str, dict[str, Any]] = {}
    for key, table in dict(data.get("values", {})).items():
        if key not in identity_items and key not in ("sex", "age_group", "mode"):
            problems.append(Problem(0, f"values.{key}", "不是问卷的题目或 sex/age_group/mode"))
        elif not isinstance(table, dict):
            problems.append(Problem(0, f"values.{key}", "应为 “原值 = 代码” 的表"))
        else:
            values[key] = {str(k).strip(): v for k, v in table.items()}
    if problems:
        raise ImportRejected(name, problems)
    return ColumnMapping(columns, items, values, text)


def _int(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _parse_row(
    number: int,
    raw: Mapping[str, str],
    instrument: Instrument,
    mapping: ColumnMapping,
    registry: Registry,
    community_ids: Mapping[str, int],
    street_ids: Mapping[str, int],
    problems: list[Problem],
) -> dict[str, Any] | None:
    start = len(problems)

    def cell(field_name: str) -> tuple[str, str]:
        column = mapping.columns[field_name]
        return column, raw.get(column, "").strip()

    record: dict[str, Any] = {}
    column, rid = cell("respondent_id")
    if not rid:
        problems.append(Problem(number, column, "缺少受访者编号"))
    record["respondent_id"] = rid
    column, community = cell("community")
    community_id = community_ids.get(community)
    if not community:
        problems.append(Problem(number, column, "缺少社区代码"))
    elif community_id is None:
        problems.append(
            Problem(number, column, f"未知的社区代码 {community}（不在本方案的区划中）")
        )
    record["community"] = community_id
    street_column, street = cell("street")
    if street and community_id is not None:
        street_id = registry.communities[community_id][0]
        if street_ids.get(street) != street_id:
            problems.append(
                Problem(number, street_column, f"街道代码 {street} 与社区 {community} 不符")
            )
    column, sex_text = cell("sex")
    sex_value = mapping.values.get("sex", {}).get(sex_text, sex_text)
    sex = SEX_VALUES.get(str(sex_value).strip().lower(), "")
    if sex not in SEXES:
        problems.append(
            Problem(number, column, f"性别 {sex_text!r} 无效（应为 M/F、男/女 或 1/2）")
        )
    record["sex"] = sex
    column, age_text = cell("age_group")
    age_value = str(mapping.values.get("age_group", {}).get(age_text, age_text)).strip()
    age = age_value if age_value in AGE_GROUPS else ""
    code = _int(age_value)
    if not age and code is not None and 1 <= code <= len(AGE_GROUPS):
        age = AGE_GROUPS[code - 1]
    if not age:
        problems.append(
            Problem(
                number, column, f"年龄段 {age_text!r} 无效（应为 {'/'.join(AGE_GROUPS)} 或 1–4）"
            )
        )
    record["age_group"] = age
    column, weight_text = cell("design_weight")
    record["design_weight"] = None
    if weight_text:
        try:
            weight = float(weight_text)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            problems.append(Problem(number, column, f"设计权重 {weight_text!r} 必须是正数"))
        record["design_weight"] = weight
    column, mode_text = cell("mode")
    mode_value = str(mapping.values.get("mode", {}).get(mode_text, mode_text)).strip().lower()
    if mode_value not in MODE_VALUES:
        problems.append(Problem(number, column, f"访问方式 {mode_text!r} 无效（网页/电话/导入）"))
    record["mode"] = MODE_VALUES.get(mode_value, "import")
    record["stratum"] = cell("stratum")[1][:60]
    column, duration_text = cell("duration_seconds")
    record["duration_seconds"] = None
    if duration_text:
        seconds = _int(duration_text)
        if seconds is None or seconds < 0:
            problems.append(Problem(number, column, f"时长 {duration_text!r} 必须是非负整数（秒）"))
        record["duration_seconds"] = seconds

    answers: dict[str, Any] = {}
    if community_id is not None:
        street_id = registry.communities[community_id][0]
        for level in instrument.unit.levels:
            answers[level.id] = (
                community if level.level == "community" else registry.streets[street_id][0]
            )
    item_columns: dict[str, str] = {}
    for item in instrument.iter_items():
        column = mapping.items.get(item.id, item.id)
        item_columns[item.id] = column
        text = raw.get(column, "").strip()
        if not text:
            continue
        mapped = mapping.values.get(item.id, {}).get(text, text)
        if item.type == "text":
            answers[item.id] = str(mapped)
            continue
        if item.type == "multiple":
            codes = [
                _int(part) for part in str(mapped).replace("，", ",").split(",") if part.strip()
            ]
            if any(c is None or item.option(c) is None for c in codes):
                problems.append(
                    Problem(
                        number,
                        column,
                        f"{text!r} 不是题目 {item.id} 的选项代码（可用: {_codes(item)}）",
                    )
                )
                continue
            answers[item.id] = codes
            continue
        value = mapped if isinstance(mapped, int) else _int(str(mapped))
        valid = value is not None and (
            item.option(value) is not None or (item.type == "rating_0_10" and 0 <= value <= 10)
        )
        if not valid:
            problems.append(
                Problem(
                    number,
                    column,
                    f"{text!r} 不是题目 {item.id} 的选项代码（可用: {_codes(item)}）",
                )
            )
            continue
        answers[item.id] = value
    for demographic in instrument.demographics:
        # The weighting fields are required columns: when the file has no column for the
        # instrument's own sex / age item, its answer is the same fact in the item's codes.
        if demographic.item in answers or item_columns[demographic.item] in raw:
            continue
        code = _demographic_code(instrument, demographic.variable, demographic.item, record)
        if code is not None:
            answers[demographic.item] = code
    if len(problems) == start:
        # The polling company screened its respondents: a delivered complete without screening
        # answers is not incomplete (but screening answers it does carry are checked).
        screening = {it.id for it in instrument.screening.items}
        for error in validate_answers(instrument, answers, partial=False):
            if error.item in screening and error.item not in answers:
                continue
            problems.append(
                Problem(number, item_columns.get(error.item, error.item), error.message_zh)
            )
    if len(problems) > start:
        return None
    # Stored like a web or phone interview: answers to items the skip logic hides are dropped.
    record["answers"] = drop_hidden(instrument, answers)
    return record


def _demographic_code(
    instrument: Instrument, variable: str, item_id: str, record: Mapping[str, Any]
) -> int | None:
    """The option code of the instrument's sex / age item for the row's sex / age group."""
    item = instrument.item(item_id)
    substantive = [o for o in item.options if o.substantive]
    if variable == "sex" and record.get("sex") in SEXES:
        label = {"M": "男", "F": "女"}[record["sex"]]
        return next((o.code for o in substantive if o.label.startswith(label)), None)
    if (
        variable == "age_group"
        and record.get("age_group") in AGE_GROUPS
        and len(substantive) == len(AGE_GROUPS)
    ):
        return substantive[AGE_GROUPS.index(record["age_group"])].code
    return None


def _codes(item: Any) -> str:
    """The item's valid codes with their labels, and how to recode another code."""
    codes = [f"{o.code} {o.label}" for o in item.options]
    if item.type == "rating_0_10":
        codes = ["0–10", *codes]
    return (
        "、".join(codes)
        + f"；文件用其他代码时，请在映射文件的 [values.{item.id}] 中把它改成上列代码"
    )


async def import_responses(
    wave_ref: int,
    path: str | Path,
    instrument_id: str,
    mapping_path: str | Path | None = None,
    *,
    username: str,
    data: bytes | None = None,
    mapping_data: bytes | None = None,
) -> ImportSummary:
    """Validate and import a delivered file into wave ``wave_ref`` (all rows or none).

    Raises ``ImportRejected`` listing every problem, ``ComputeError`` for a wave that cannot
    take imports (unknown, or already published)."""
    wave = await wave_by_id(wave_ref)
    if wave.status == "published":
        raise ComputeError(f"测评期 {wave.month} 已发布，不能再导入问卷")
    instruments = default_instruments()
    if instrument_id not in instruments:
        raise ComputeError(f"未知的问卷 {instrument_id}（可用: {', '.join(sorted(instruments))}）")
    registry = await load_registry(wave.region_id)
    instrument = instruments[instrument_id]
    if registry.departments and any(ind.departments for ind in instrument.indices):
        instrument = instrument.with_departments(list(registry.departments))
    raw = data if data is not None else Path(path).read_bytes() if Path(path).exists() else None
    table: Table = read_table(path, raw)
    mapping = load_mapping(mapping_path, instrument, content=mapping_data)
    batch = hashlib.sha256(
        b"\n".join([raw or b"", instrument.content_hash.encode(), mapping.text.encode("utf-8")])
    ).hexdigest()
    if await Response.exists().where((Response.wave == wave.id) & (Response.import_batch == batch)):
        return ImportSummary(wave.id, batch, 0, True)
    problems: list[Problem] = [
        Problem(1, mapping.columns[f], "缺少必需的列")
        for f in REQUIRED_FIELDS
        if mapping.columns[f] not in table.header
    ]
    screening = {it.id for it in instrument.screening.items}
    demographic_items = {d.item for d in instrument.demographics}
    for item in instrument.iter_items():
        column = mapping.items.get(item.id, item.id)
        if (
            item.required
            and item.condition is None
            and item.id not in screening | demographic_items
            and column not in table.header
        ):
            problems.append(Problem(1, column, f"缺少必答题 {item.id}（{item.text}）的列"))
    if problems:
        raise ImportRejected(table.source, problems)
    codes = await Unit.select(Unit.id, Unit.code).where(
        Unit.id.is_in(list(registry.communities) + list(registry.streets) or [-1])
    )
    community_ids = {r["code"]: r["id"] for r in codes if r["id"] in registry.communities}
    street_ids = {r["code"]: r["id"] for r in codes if r["id"] in registry.streets}
    existing = {
        r["source_respondent_id"]
        for r in await Response.select(Response.source_respondent_id).where(
            (Response.wave == wave.id) & Response.source_respondent_id.is_not_null()
        )
    }
    seen: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    id_column = mapping.columns["respondent_id"]
    for number, row in table.rows:
        record = _parse_row(
            number, row, instrument, mapping, registry, community_ids, street_ids, problems
        )
        rid = row.get(id_column, "").strip()
        if rid:
            if rid in seen:
                problems.append(
                    Problem(number, id_column, f"受访者编号 {rid} 重复（第{seen[rid]}行已出现）")
                )
                record = None
            elif rid in existing:
                problems.append(
                    Problem(number, id_column, f"受访者编号 {rid} 已在本测评期中（另一批导入）")
                )
                record = None
            seen.setdefault(rid, number)
        if record is not None:
            records.append(record)
    if not table.rows:
        problems.append(Problem(2, "", "文件没有数据行"))
    if problems:
        raise ImportRejected(table.source, problems)
    now = datetime.datetime.now(tz=datetime.UTC)
    rows = [
        Response(
            wave=wave.id,
            instrument_id=instrument.id,
            instrument_version=str(instrument.version),
            instrument_hash=instrument.content_hash,
            mode=r["mode"],
            source_respondent_id=r["respondent_id"],
            import_batch=batch,
            status="completed",
            community=r["community"],
            sex=r["sex"],
            age_group=r["age_group"],
            answers=json.dumps(r["answers"], ensure_ascii=False),
            design_weight=r["design_weight"],
            stratum=r["stratum"],
            non_probability=False,
            started_at=now,
            completed_at=now,
            duration_seconds=r["duration_seconds"],
            updated_at=now,
        )
        for r in records
    ]
    try:
        async with write_transaction():
            if await Response.exists().where(
                (Response.wave == wave.id) & (Response.import_batch == batch)
            ):
                return ImportSummary(wave.id, batch, 0, True)
            for start in range(0, len(rows), 500):
                await Response.insert(*rows[start : start + 500])
            await AuditLog.insert(
                AuditLog(
                    username=username,
                    action="responses.import",
                    detail=(
                        f"wave={wave.id} file={Path(str(path)).name} rows={len(rows)} "
                        f"batch={batch[:12]}"
                    ),
                )
            )
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError) as exc:
        # A concurrent import stored one of these respondent ids first: the unique index on
        # (wave, source_respondent_id) rolled this whole file back.
        raise ImportRejected(
            table.source,
            [Problem(0, id_column, f"与同时进行的另一次导入冲突，未导入任何行：{exc}")],
        ) from exc
    return ImportSummary(wave.id, batch, len(rows), False)
