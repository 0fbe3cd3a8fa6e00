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
    sex = "性别"                 # required: M/F, 男/女 or the codes of the instrument's sex item
    age_group = "年龄段"         # required: 18-29/30-44/45-59/60+, or its age item's labels/codes
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from questionnaires import Instrument, default_instruments, drop_hidden, validate_answers
from questionnaires.conditions import referenced_items
from questionnaires.demographics import demographic_answer, weighting_code
from questionnaires.toml_check import parse_toml
from survey import audit
from survey.collection.responses import InstrumentChanged, ensure_instrument_frozen
from survey.collection.tables import Response
from survey.db import UNIQUE_VIOLATION, is_postgres, write_transaction
from survey.db.tables import AGE_GROUPS, SEXES, Unit
from survey.results.compute import ComputeError, Registry, load_registry, wave_by_id
from survey.tabular import ColumnTable, ImportRejected, Problem, read_upload_columns

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
SEX_VALUES = {"m": "M", "f": "F", "男": "M", "女": "F"}
#: Numeric codes of the ``sex`` / ``age_group`` fields when the instrument asks neither.
_FALLBACK_CODES: dict[str, tuple[str, ...]] = {"sex": SEXES, "age_group": AGE_GROUPS}
_FIELD_NAMES = {"sex": "性别", "age_group": "年龄段"}


def _shown(code: str) -> str:
    """A weighting code as people read it (男/女, 18-29 …)."""
    return {"M": "男", "F": "女"}.get(code, code)


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
    except UnicodeDecodeError as exc:
        raise ImportRejected(name, [Problem(0, "", "对照文件必须是 UTF-8 编码")]) from exc
    except OSError as exc:
        raise ImportRejected(name, [Problem(0, "", f"无法读取对照文件: {exc.strerror}")]) from exc
    data, syntax = parse_toml(text, name)  # the shared TOML checker: the line of a syntax error
    if syntax:
        raise ImportRejected(
            name, [Problem(0, "", f"对照文件第 {p.line} 行: {p.message}") for p in syntax]
        )
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


def _demographic_check(
    instrument: Instrument, variable: str, values: Mapping[str, Any]
) -> Callable[[str], tuple[str, str | None]]:
    """The check of one cell of the ``sex`` or ``age_group`` field: its weighting code
    (``"M"``, ``"30-44"``) or a problem. A cell is a weighting code (``M``/``F``, ``18-29``…),
    男/女, an option label of the instrument's own item for the variable (``18～29岁``) or one of
    that item's option codes (``1``, also ``1.0``) — through the one demographic coding
    (``questionnaires.demographics``), so a file coded like the questionnaire means what the
    questionnaire means. An instrument without such an item takes 1/2 and 1–4 in the order of
    the weighting codes."""
    item = next(
        (instrument.item(d.item) for d in instrument.demographics if d.variable == variable), None
    )
    fixed = _FALLBACK_CODES[variable]
    by_text: dict[str, str] = {code.lower(): code for code in fixed}
    if variable == "sex":
        by_text.update(SEX_VALUES)
    if item is not None:
        numbered = []
        labels = []
        for option in item.options:
            code = weighting_code(item, variable, option.code)
            if code:
                by_text.setdefault(option.label.strip().lower(), code)
                numbered.append((option.code, code))
                labels.append(f"{option.code} = {option.label}")
        accepted = f"问卷题 {item.id} 的代码 " + "、".join(labels)
    else:
        numbered = [(k + 1, code) for k, code in enumerate(fixed)]
        accepted = "、".join(f"{c} = {w}" for c, w in numbered)
    by_code = dict(numbered)
    names = "M/F、男/女" if variable == "sex" else "/".join(fixed)
    name = _FIELD_NAMES[variable]

    def check(text: str) -> tuple[str, str | None]:
        value = str(values.get(text, text)).strip()
        found = by_text.get(value.lower(), "")
        number = None if found else _int(value)
        if number is not None:
            found = by_code.get(number, "")
        if found:
            return found, None
        return "", f"{name} {text!r} 无效（应为 {names}，或{accepted}）"

    return check


def _int(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


# Order of a row's problems: the fields, then the items, then the answers' checks, then duplicates.
_FIELD_ORDER = {name: k for k, name in enumerate(FIELDS)}
_ITEMS_ORDER = len(FIELDS)
_ANSWERS_ORDER = 10_000
_DUPLICATE_ORDER = 20_000


class _Checked:
    """Problems found column by column: ``(row position, order, Problem)``, sorted at the end so
    they read row by row as before; ``bad`` marks the rows that have one."""

    def __init__(self, numbers: Sequence[int]) -> None:
        self.numbers = numbers
        self.found: list[tuple[int, int, Problem]] = []
        self.bad = np.zeros(len(numbers), dtype=bool)

    def add(self, rows: Iterable[int], order: int, column: str, message: Any) -> None:
        """``message``: the text, or a function of the row position giving it."""
        for i in rows:
            text = message(i) if callable(message) else message
            self.found.append((int(i), order, Problem(self.numbers[i], column, text)))
            self.bad[i] = True

    def problems(self) -> list[Problem]:
        return [p for _i, _o, p in sorted(self.found, key=lambda x: (x[0], x[1]))]


def _by_distinct(
    cells: Sequence[Any], check: Callable[[Any], tuple[Any, str | None]]
) -> tuple[list[Any], dict[str, np.ndarray]]:
    """``check`` once per distinct cell of a column → (the value per row, rows by problem)."""
    results = {cell: check(cell) for cell in set(cells)}
    values = [results[cell][0] for cell in cells]
    messages = sorted({m for _v, m in results.values() if m is not None})
    if not messages:
        return values, {}
    slot = {m: k for k, m in enumerate(messages)}
    slot_of = {c: -1 if m is None else slot[m] for c, (_v, m) in results.items()}
    codes = np.fromiter(map(slot_of.__getitem__, cells), dtype=np.int64, count=len(cells))
    return values, {m: np.flatnonzero(codes == slot[m]) for m in messages}


def _validate(
    table: ColumnTable,
    instrument: Instrument,
    mapping: ColumnMapping,
    registry: Registry,
    community_ids: Mapping[str, int],
    street_ids: Mapping[str, int],
    existing: set[str],
) -> tuple[Accepted | None, list[Problem]]:
    """Every row of ``table`` checked column by column (each distinct cell once), then the
    answers of the rows without a problem checked as a whole (skip logic, required items; once
    per distinct combination of answers). Returns every problem or, when there is none, the
    rows to store."""
    numbers = list(table.numbers)
    n = len(numbers)
    checked = _Checked(numbers)
    header = set(table.header)

    def column_cells(column: str) -> list[str]:
        found = table.columns.get(column)
        return [""] * n if found is None else found

    def cells(field_name: str) -> tuple[str, list[str]]:
        column = mapping.columns[field_name]
        return column, column_cells(column)

    def report(field_name: str, column: str, by_problem: Mapping[str, np.ndarray]) -> None:
        for message, rows in by_problem.items():
            checked.add(rows, _FIELD_ORDER[field_name], column, message)

    id_column, rids = cells("respondent_id")
    checked.add((i for i, rid in enumerate(rids) if not rid), 0, id_column, "缺少受访者编号")
    column, community_cells = cells("community")

    def community_check(code: str) -> tuple[int | None, str | None]:
        if not code:
            return None, "缺少社区代码"
        cid = community_ids.get(code)
        return cid, None if cid is not None else f"未知的社区代码 {code}（不在本方案的区划中）"

    community, problems = _by_distinct(community_cells, community_check)
    report("community", column, problems)
    street_column, street_cells = cells("street")
    pairs = list(zip(street_cells, community_cells, strict=True))

    def street_check(pair: tuple[str, str]) -> tuple[None, str | None]:
        street, code = pair
        cid = community_ids.get(code)
        if not street or cid is None:
            return None, None
        if street_ids.get(street) != registry.communities[cid][0]:
            return None, f"街道代码 {street} 与社区 {code} 不符"
        return None, None

    report("street", street_column, _by_distinct(pairs, street_check)[1])
    column, sex_cells = cells("sex")
    sex_check = _demographic_check(instrument, "sex", mapping.values.get("sex", {}))
    sex, problems = _by_distinct(sex_cells, sex_check)
    report("sex", column, problems)
    column, age_cells = cells("age_group")
    age_check = _demographic_check(instrument, "age_group", mapping.values.get("age_group", {}))
    age, problems = _by_distinct(age_cells, age_check)
    report("age_group", column, problems)
    column, weight_cells = cells("design_weight")

    def weight_check(text: str) -> tuple[float | None, str | None]:
        if not text:
            return None, None
        try:
            weight = float(text)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            return weight, f"设计权重 {text!r} 必须是正数"
        return weight, None

    weight, problems = _by_distinct(weight_cells, weight_check)
    report("design_weight", column, problems)
    column, mode_cells = cells("mode")
    mode_values = mapping.values.get("mode", {})

    def mode_check(text: str) -> tuple[str, str | None]:
        value = str(mode_values.get(text, text)).strip().lower()
        if value not in MODE_VALUES:
            return "import", f"访问方式 {text!r} 无效（网页/电话/导入）"
        return MODE_VALUES[value], None

    mode, problems = _by_distinct(mode_cells, mode_check)
    report("mode", column, problems)
    stratum = [text[:60] for text in cells("stratum")[1]]
    column, duration_cells = cells("duration_seconds")

    def duration_check(text: str) -> tuple[int | None, str | None]:
        if not text:
            return None, None
        seconds = _int(text)
        if seconds is None or seconds < 0:
            return seconds, f"时长 {text!r} 必须是非负整数（秒）"
        return seconds, None

    duration, problems = _by_distinct(duration_cells, duration_check)
    report("duration_seconds", column, problems)

    # Items, column by column; _MISSING: no answer in the file. Each answer column is kept
    # factorised: its distinct cells' values and one code per row.
    item_columns: dict[str, str] = {}
    answer_parts: list[tuple[str, list[Any], np.ndarray, bool]] = []  # key, values, codes, exact
    screening = {it.id for it in instrument.screening.items}
    conditioned = {
        ref
        for other in instrument.iter_items()
        if other.condition is not None
        for ref in referenced_items(other.condition)
    }
    # The answers' checks depend on which items are answered and, for these, on the value
    # (skip logic, screening, selections and texts); a single or 0–10 code was already checked
    # against its item above, so its value does not change the verdict.
    exact = screening | {
        it.id
        for it in instrument.iter_items()
        if it.type not in ("single", "rating_0_10") or it.id in conditioned
    }
    for k, item in enumerate(instrument.iter_items()):
        column = mapping.items.get(item.id, item.id)
        item_columns[item.id] = column
        if column not in header:
            continue
        distinct, codes = _factorise(column_cells(column))
        check = _item_check(item, mapping)
        results = [check(cell) for cell in distinct]
        for message, rows in _rows_by_problem(results, codes).items():
            checked.add(rows, _ITEMS_ORDER + k, column, message)
        answer_parts.append((item.id, [v for v, _m in results], codes, item.id in exact))
        demographic = next((d for d in instrument.demographics if d.item == item.id), None)
        if demographic is not None and demographic.variable in ("sex", "age_group"):
            # The item's answer and the field say the same thing, or the row is refused.
            field_codes = sex if demographic.variable == "sex" else age
            said = [weighting_code(item, demographic.variable, v) for v, _m in results]
            name = _FIELD_NAMES[demographic.variable]
            field_column = mapping.columns[demographic.variable]
            checked.add(
                (
                    i
                    for i, c in enumerate(codes)
                    if said[c] and field_codes[i] and said[c] != field_codes[i]
                ),
                _ITEMS_ORDER + k,
                column,
                lambda i, said=said, codes=codes, fc=field_codes, nm=name, col=field_column: (
                    f"{nm}（{_shown(said[codes[i]])}）与列 {col}（{_shown(fc[i])}）不一致"
                ),
            )

    # Demographic items the file has no column for: the same fact in the item's codes.
    for d in instrument.demographics:
        if item_columns[d.item] in header:
            continue
        labels = SEXES if d.variable == "sex" else AGE_GROUPS
        known = sex if d.variable == "sex" else age
        filled: list[Any] = [
            demographic_answer(instrument, d.item, d.variable, value) for value in labels
        ]
        position = {value: k for k, value in enumerate(labels)}
        codes = _codes_of(known, position, len(labels))
        values = [_MISSING if v is None else v for v in filled] + [_MISSING]
        answer_parts.append((d.item, values, codes, d.item in exact))

    # The unit identification: the community's code and its street's, per distinct community.
    levels = [(lv.id, lv.level == "community") for lv in instrument.unit.levels]
    unit_ids = frozenset(instrument.unit.ids)
    community_distinct, community_codes = _factorise(community_cells)
    unit_values: list[tuple[str, list[Any]]] = []
    for level_id, is_community in levels:
        level_values: list[Any] = []
        for code in community_distinct:
            cid = community_ids.get(code)
            if cid is None:
                level_values.append(_MISSING)
            else:
                level_values.append(
                    code if is_community else registry.streets[registry.communities[cid][0]][0]
                )
        unit_values.append((level_id, level_values))

    def answers_of(i: int) -> dict[str, Any]:
        """Row ``i``'s answers as a web or phone interview's (units, items, demographics)."""
        out: dict[str, Any] = {}
        for level_id, level_values in unit_values:
            value = level_values[community_codes[i]]
            if value is not _MISSING:
                out[level_id] = value
        for key, values, codes, _exact in answer_parts:
            value = values[codes[i]]
            if value is not _MISSING:
                out[key] = value
        return out

    # The rows without a problem so far, grouped by what the answers' checks depend on: per
    # answer column, the distinct cell (exact items) or whether it is answered; each group is
    # checked once, on its first row.
    good = np.flatnonzero(~checked.bad)
    keys = [k for k, _v, _c, _e in answer_parts]
    if good.size:
        components = []
        for key, values, codes, is_exact in answer_parts:
            answered = np.array([v is not _MISSING for v in values], dtype=np.int64)
            components.append(
                codes[good] if is_exact and key not in unit_ids else answered[codes[good]]
            )
        group, first = _groups(components, good.size)
        keep_rows = np.zeros((len(first), len(keys)), dtype=bool)
        for g, row in enumerate(good[first].tolist()):
            answers = answers_of(row)
            errors = [
                (item_columns.get(e.item, e.item), e.message_zh)
                for e in validate_answers(instrument, answers, partial=False)
                # The polling company screened its respondents: a delivered complete without
                # screening answers is not incomplete (screening answers it carries are checked).
                if not (e.item in screening and e.item not in answers)
            ]
            if errors:
                rows = good[group == g]
                for column, message in errors:
                    checked.add(rows, _ANSWERS_ORDER, column, message)
            kept = drop_hidden(instrument, answers)
            keep_rows[g] = [key in kept for key in keys]
    seen: dict[str, int] = {}
    for i, rid in enumerate(rids):
        if not rid:
            continue
        if rid in seen:
            checked.add(
                (i,), _DUPLICATE_ORDER, id_column, f"受访者编号 {rid} 重复（第{seen[rid]}行已出现）"
            )
        elif rid in existing:
            checked.add(
                (i,), _DUPLICATE_ORDER, id_column, f"受访者编号 {rid} 已在本测评期中（另一批导入）"
            )
        seen.setdefault(rid, numbers[i])
    problems_found = checked.problems()
    if problems_found or not n:
        return None, problems_found
    # Every row is good (good = all rows): the stored answers as JSON text, built from one
    # fragment per distinct value of each column — the text json.dumps gives the row's dict
    # (units, items, demographics, answers to hidden items dropped).
    fragments: list[list[str]] = []
    for level_id, level_values in unit_values:
        fragments.append(_fragments(level_id, level_values, community_codes, None))
    for j, (key, values, codes, _exact) in enumerate(answer_parts):
        fragments.append(_fragments(key, values, codes, keep_rows[group, j]))
    texts = ["{" + s[2:] + "}" for s in map("".join, zip(*fragments, strict=True))]
    return (
        Accepted(
            respondent_id=rids,
            community=community,
            sex=sex,
            age_group=age,
            design_weight=weight,
            mode=mode,
            stratum=stratum,
            duration_seconds=duration,
            answers=texts,
        ),
        [],
    )


@dataclass(frozen=True)
class Accepted:
    """The validated rows of a file, column by column, ready to store (``answers``: JSON)."""

    respondent_id: Sequence[str]
    community: Sequence[int | None]
    sex: Sequence[str]
    age_group: Sequence[str]
    design_weight: Sequence[float | None]
    mode: Sequence[str]
    stratum: Sequence[str]
    duration_seconds: Sequence[int | None]
    answers: Sequence[str]


def _factorise(cells: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The distinct cells in order of first appearance and each row's index into them."""
    distinct = list(dict.fromkeys(cells))
    position = {cell: k for k, cell in enumerate(distinct)}
    return distinct, np.fromiter(map(position.__getitem__, cells), dtype=np.intp, count=len(cells))


def _codes_of(values: Sequence[Any], position: Mapping[Any, int], missing: int) -> np.ndarray:
    """``position[value]`` per row, ``missing`` for a value not in ``position``."""
    return np.fromiter(map(position.get, values, repeat(missing)), dtype=np.intp, count=len(values))


def _rows_by_problem(
    results: Sequence[tuple[Any, str | None]], codes: np.ndarray
) -> dict[str, np.ndarray]:
    """Rows by problem message, from the check of each distinct cell."""
    messages = sorted({m for _v, m in results if m is not None})
    if not messages:
        return {}
    slot = {m: k for k, m in enumerate(messages)}
    of_distinct = np.array([-1 if m is None else slot[m] for _v, m in results], dtype=np.intp)
    per_row = of_distinct[codes]
    return {m: np.flatnonzero(per_row == slot[m]) for m in messages}


def _groups(components: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with equal components in every column share a group: (group per row, first row
    of each group), groups numbered in order of their first row."""
    if not components:
        return np.zeros(n, dtype=np.intp), np.zeros(1, dtype=np.intp)
    matrix = np.stack([np.asarray(c, dtype=np.int64) for c in components], axis=1)
    _unique, first, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # renumber by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)], first[order]


def _fragments(
    key: str, values: Sequence[Any], codes: np.ndarray, kept: np.ndarray | None
) -> list[str]:
    """Per row, ``, "key": value`` as json.dumps writes it (empty when the row has no value
    for ``key`` or ``kept`` drops it)."""
    name = json.dumps(key, ensure_ascii=False)
    table = np.array(
        ["" if v is _MISSING else f", {name}: {json.dumps(v, ensure_ascii=False)}" for v in values]
        + [""],
        dtype=object,
    )
    slots = codes if kept is None else np.where(kept, codes, len(values))
    return list(table[slots].tolist())


_MISSING = object()


def _item_check(item: Any, mapping: ColumnMapping) -> Callable[[str], tuple[Any, str | None]]:
    """The check of one cell of an item's column: (answer or ``_MISSING``, problem)."""
    values = mapping.values.get(item.id, {})

    def check(text: str) -> tuple[Any, str | None]:
        if not text:
            return _MISSING, None
        bad = f"{text!r} 不是题目 {item.id} 的选项代码（可用: {_codes(item)}）"
        mapped = values.get(text, text)
        if item.type == "text":
            return str(mapped), None
        if item.type == "multiple":
            codes = [
                _int(part) for part in str(mapped).replace("，", ",").split(",") if part.strip()
            ]
            if any(c is None or item.option(c) is None for c in codes):
                return _MISSING, bad
            return codes, None
        value = mapped if isinstance(mapped, int) else _int(str(mapped))
        valid = value is not None and (
            item.option(value) is not None or (item.type == "rating_0_10" and 0 <= value <= 10)
        )
        return (value, None) if valid else (_MISSING, bad)

    return check


#: The columns ``_bulk_insert`` writes, in the order of its tuples.
BULK_COLUMNS: tuple[str, ...] = (
    "wave",
    "instrument_id",
    "instrument_version",
    "instrument_hash",
    "mode",
    "source_respondent_id",
    "import_batch",
    "status",
    "community",
    "sex",
    "age_group",
    "answers",
    "current_page",
    "design_weight",
    "stratum",
    "non_probability",
    "started_at",
    "completed_at",
    "duration_seconds",
    "updated_at",
)


async def _bulk_insert(rows: Sequence[tuple[Any, ...]]) -> None:
    """Inside the import's ``write_transaction``: the rows into ``response`` in one statement
    stream — ``COPY`` on PostgreSQL (asyncpg's ``copy_records_to_table`` on the transaction's
    connection), one ``executemany`` on SQLite. Both run in the open transaction, so a unique
    violation rolls the whole file back."""
    engine = Response._meta.db
    transaction = engine.current_transaction.get()
    assert transaction is not None, "_bulk_insert runs inside write_transaction()"
    table = Response._meta.tablename
    if is_postgres():
        await transaction.connection.copy_records_to_table(
            table, records=rows, columns=list(BULK_COLUMNS)
        )
        return
    names = ", ".join(f'"{c}"' for c in BULK_COLUMNS)
    marks = ", ".join("?" for _c in BULK_COLUMNS)
    await transaction.connection.executemany(
        f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows
    )


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
    # Stored with every response, and checked like the web pages and the console check it: the
    # hash of the instrument file, not of its copy made for the district's departments.
    file_hash = instrument.content_hash
    try:
        await ensure_instrument_frozen(wave.id, instrument)
    except InstrumentChanged as exc:
        raise ComputeError(str(exc)) from exc
    if registry.departments and any(ind.departments for ind in instrument.indices):
        instrument = instrument.with_departments(list(registry.departments))
    raw = data if data is not None else Path(path).read_bytes() if Path(path).exists() else None
    table = await read_upload_columns(path, raw)
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
    accepted, problems = _validate(
        table, instrument, mapping, registry, community_ids, street_ids, existing
    )
    id_column = mapping.columns["respondent_id"]
    if not table.numbers:
        problems.append(Problem(2, "", "文件没有数据行"))
    if problems or accepted is None:
        raise ImportRejected(table.source, problems)
    now = datetime.datetime.now(tz=datetime.UTC)
    a = accepted
    # BULK_COLUMNS' order; the columns of the file zipped with the constants (in C).
    rows = list(
        zip(
            repeat(wave.id),
            repeat(instrument.id),
            repeat(str(instrument.version)),
            repeat(file_hash),
            a.mode,
            a.respondent_id,
            repeat(batch),
            repeat("completed"),
            a.community,
            a.sex,
            a.age_group,
            a.answers,
            repeat(0),
            a.design_weight,
            a.stratum,
            repeat(False),
            repeat(now),
            repeat(now),
            a.duration_seconds,
            repeat(now),
        )
    )
    try:
        async with write_transaction():
            if await Response.exists().where(
                (Response.wave == wave.id) & (Response.import_batch == batch)
            ):
                return ImportSummary(wave.id, batch, 0, True)
            await _bulk_insert(rows)
            await audit.record(
                username,
                "responses.import",
                f"wave={wave.id} file={Path(str(path)).name} rows={len(rows)} batch={batch[:12]}",
            )
    except UNIQUE_VIOLATION as exc:
        # A concurrent import stored one of these respondent ids first: the unique index on
        # (wave, source_respondent_id) rolled this whole file back.
        raise ImportRejected(
            table.source,
            [Problem(0, id_column, f"与同时进行的另一次导入冲突，未导入任何行：{exc}")],
        ) from exc
    return ImportSummary(wave.id, batch, len(rows), False)
