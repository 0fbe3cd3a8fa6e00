"""XLSForm (ODK / KoboToolbox) → our instrument TOML, for the subset that maps onto our format.

A pure core (openpyxl and the stdlib; no database, no web): ``convert_xlsform(data, name)``
reads the workbook's ``survey``, ``choices`` and ``settings`` sheets (plus two optional
platform sheets/columns, below) and returns the TOML text with every *notice* (something
dropped that changes nothing we store, e.g. a translation), or raises ``XlsformError`` listing
every unsupported column, type or expression by sheet and row. The caller checks the TOML with
the questionnaire loader like any hand-written file.

What maps (docs/xlsform.md has the full table):

* ``settings``: ``form_id`` → ``id``, ``form_title`` → ``title``, ``version`` → ``version``
  (a positive integer), ``default_language`` picks the label column.
* ``survey`` types: ``select_one L`` → single, ``select_multiple L`` → multiple, ``integer`` with
  ``constraint`` ``. >= 0 and . <= 10`` → rating_0_10, ``text`` → text, ``begin group`` /
  ``end group`` → a page (a group named ``screening`` → the screening questions), ``note`` → the
  intro (before the first question), the outro (after the last) or, inside the screening group
  and named ``ask_other_adult`` / ``end``, the screening message; ``select_one_from_file
  street.csv`` / ``community.csv`` → the unit identification (picked from the registry).
* ``relevant``: ``${q} = 'c'``, ``!=``, ``selected(${q}, 'c')``, ``${q} != ''`` (answered),
  ``and``, ``or``, ``not(…)``, parentheses; a group's ``relevant`` applies to its questions.
* ``constraint``: the 0–10 range above, ``count-selected(.) <= N`` (select_multiple) and
  ``string-length(.) <= N`` (text); ``required``: yes/no (XLSForm's default is *not* required).
* ``choices``: ``name`` is the integer code; extra columns ``score``, ``dont_know``,
  ``refused``, ``exclusive`` (XLSForm tools ignore extra choice columns).
* Platform columns ``pingan::eligible`` (screening: codes that are eligible) and
  ``pingan::weighting`` (sex, age_group, …), and an optional sheet ``indices`` with the keys of
  ``[[indices]]`` (id, name, kind, item, positive, dk_policy, unit_level, target, pass_score,
  primary) — other XLSForm tools ignore both.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook

from questionnaires.conditions import AllOf, Answered, AnyOf, Condition, ItemIn, Not

#: Columns of the survey sheet we read; ``label``/``hint`` may carry ``::language``.
SURVEY_COLUMNS = frozenset(
    {"type", "name", "label", "hint", "required", "relevant", "constraint"}
    | {"pingan::eligible", "pingan::weighting"}
)
#: Columns we drop with a notice: display details that change nothing we store.
SURVEY_DROPPED = frozenset({"constraint_message", "required_message", "appearance"})
CHOICE_COLUMNS = frozenset(
    {"list_name", "name", "label", "score", "dont_know", "refused"} | {"exclusive"}
)
SETTINGS_COLUMNS = frozenset({"form_id", "form_title", "version", "default_language"})
SETTINGS_DROPPED = frozenset({"style", "instance_name"})
INDEX_COLUMNS = (
    "id",
    "name",
    "kind",
    "item",
    "positive",
    "dk_policy",
    "unit_level",
    "target",
    "pass_score",
    "primary",
)
METADATA_TYPES = frozenset(
    {"start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber"}
    | {"username", "email", "audit", "start-geopoint", "background-audio"}
)
UNIT_FILES = {"street.csv": "street", "community.csv": "community"}
SCREENING_GROUP = "screening"
SCREENING_MESSAGES = ("ask_other_adult", "end")
_YES = {"yes", "true", "1", "true()"}
_NO = {"no", "false", "0", "false()", ""}
_CHINESE = re.compile(r"chinese|中文|zh", re.IGNORECASE)
_RATING = re.compile(r"^\.\s*>=\s*0\s+and\s+\.\s*<=\s*10$|^\.\s*<=\s*10\s+and\s+\.\s*>=\s*0$")
_COUNT = re.compile(r"^count-selected\(\s*\.\s*\)\s*<=\s*(\d+)$")
_LENGTH = re.compile(r"^string-length\(\s*\.\s*\)\s*<=\s*(\d+)$")


@dataclass(frozen=True)
class XlsProblem:
    """Something in the workbook we cannot convert: where (sheet, 1-based row, column), what."""

    file: str
    sheet: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if not self.sheet:
            return f"{self.file}: {self.message}"
        where = f"{self.file}: {self.sheet} 表"
        if self.row is not None:
            where += f"第{self.row}行"
        if self.column:
            where += f", 列 {self.column}"
        return f"{where}: {self.message}"


class XlsformError(Exception):
    """The workbook cannot be converted; ``problems`` lists every reason, in sheet/row order."""

    def __init__(self, problems: list[XlsProblem]) -> None:
        self.problems = problems
        super().__init__(str(problems[0]) if problems else "无法转换的 XLSForm")


@dataclass(frozen=True)
class Conversion:
    """The TOML text, the notices (dropped translations or display columns) and the survey sheet
    row of each question and group (by its ``name``), to point the loader's problems back at the
    workbook."""

    toml: str
    notices: list[XlsProblem]
    rows: dict[str, int] = field(default_factory=dict)

    def locate(self, item: str | None) -> str:
        """``survey 表第N行`` for a question or group name, or ``""`` when unknown."""
        row = self.rows.get(item or "")
        return "" if row is None else f"survey 表第{row}行"


@dataclass
class _Row:
    number: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass
class _Sheet:
    title: str
    columns: list[str]
    rows: list[_Row]


@dataclass
class _Item:
    data: dict[str, Any]
    kind: str  # single / multiple / rating_0_10 / text
    condition: Condition | None = None


@dataclass
class _Page:
    id: str
    title: str
    items: list[_Item] = field(default_factory=list)


@dataclass
class _Ctx:
    file: str
    problems: list[XlsProblem] = field(default_factory=list)
    notices: list[XlsProblem] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, sheet: str, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(XlsProblem(self.file, sheet, row, column, message))

    def notice(self, sheet: str, row: int | None, column: str | None, message: str) -> None:
        self.notices.append(XlsProblem(self.file, sheet, row, column, message))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_sheet(book: Any, name: str) -> _Sheet | None:
    sheet = next((book[t] for t in book.sheetnames if t.strip().lower() == name), None)
    if sheet is None:
        return None
    rows = list(sheet.iter_rows(values_only=True))
    if not rows:
        return _Sheet(sheet.title, [], [])
    columns = [_text(c) for c in rows[0]]
    out: list[_Row] = []
    for number, values in enumerate(rows[1:], start=2):
        cells = {col: _text(v) for col, v in zip(columns, values, strict=False) if col and _text(v)}
        if cells:
            out.append(_Row(number, cells))
    return _Sheet(sheet.title, columns, out)


def _column_key(column: str) -> str:
    """``Label::Chinese (zh)`` → ``label::Chinese (zh)``: the base name is case-insensitive."""
    base, sep, rest = column.partition("::")
    return base.strip().lower() + (sep + rest.strip() if sep else "")


# ---------------------------------------------------------------------------------------------
# Languages


def _language(sheets: Iterable[_Sheet], default_language: str) -> str | None:
    """The label language to read: ``default_language`` if the form has it, else a Chinese one,
    else the plain ``label`` column (None)."""
    languages: list[str] = []
    for sheet in sheets:
        for column in sheet.columns:
            base, sep, lang = column.partition("::")
            if sep and base.strip().lower() in ("label", "hint") and lang.strip():
                languages.append(lang.strip())
    if default_language and default_language in languages:
        return default_language
    chinese = [lang for lang in languages if _CHINESE.search(lang)]
    if chinese:
        return chinese[0]
    return languages[0] if languages else None


def _labelled(
    row: _Row, base: str, language: str | None, sheet: str, ctx: _Ctx, dropped: set[str]
) -> str:
    """The row's ``label``/``hint`` in ``language``; other languages are noted as dropped."""
    wanted = f"{base}::{language}" if language else base
    found: dict[str, str] = {}
    for column, cell in row.cells.items():
        key_base, sep, lang = column.partition("::")
        if key_base.strip().lower() != base:
            continue
        name = f"{base}::{lang.strip()}" if sep else base
        found[name] = cell
        if name != wanted and name != base and column not in dropped:
            dropped.add(column)
            ctx.notice(sheet, None, column, "只保留一种语言，此列的译文不导入")
    return found.get(wanted) or found.get(base, "")


# ---------------------------------------------------------------------------------------------
# relevant expressions


_TOKEN = re.compile(
    r"\s*(?:(?P<ref>\$\{[A-Za-z_][A-Za-z0-9_\-.]*\})|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|=|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|(?P<other>\S+))"
)


class _ExprError(Exception):
    pass


class _Parser:
    """Recursive descent over the supported subset of XPath (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind)))
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _ExprError("表达式不完整")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _, got = self.take()
        if got != value:
            raise _ExprError(f"此处应为「{value}」，却是「{got}」")

    def parse(self) -> Condition:
        cond = self.or_expr()
        if self.peek() is not None:
            raise _ExprError(f"不支持「{self.peek()[1]}」")  # type: ignore[index]
        return cond

    def or_expr(self) -> Condition:
        parts = [self.and_expr()]
        while self.peek() == ("word", "or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _merge_any(parts)

    def and_expr(self) -> Condition:
        parts = [self.unary()]
        while self.peek() == ("word", "and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def unary(self) -> Condition:
        token = self.peek()
        if token == ("word", "not"):
            self.take()
            self.expect("(")
            inner = self.or_expr()
            self.expect(")")
            return Not(inner)
        if token == ("op", "("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        if token == ("word", "selected"):
            self.take()
            self.expect("(")
            item = self.ref()
            self.expect(",")
            code = self.literal()
            self.expect(")")
            if code == "":
                raise _ExprError("selected() 需要一个选项代码")
            return ItemIn(item, (_code(code),))
        item = self.ref()
        _, op = self.take()
        if op not in ("=", "!="):
            raise _ExprError(f"不支持比较符「{op}」（只支持 = 和 !=）")
        value = self.literal()
        if value == "":
            return Answered(item, op == "!=")
        test = ItemIn(item, (_code(value),))
        return test if op == "=" else Not(test)

    def ref(self) -> str:
        kind, value = self.take()
        if kind != "ref":
            raise _ExprError(f"此处应为题目引用 ${{…}}，却是「{value}」")
        return value[2:-1]

    def literal(self) -> str:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1]
        if kind == "num":
            return value
        raise _ExprError(f"此处应为选项代码，却是「{value}」")


def _code(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise _ExprError(f"选项代码「{text}」不是整数")
    return int(text)


def _merge_any(parts: list[Condition]) -> Condition:
    """``${q} = '4' or ${q} = '5'`` → ``{ item = "q", in = [4, 5] }``."""
    items = {p.item for p in parts if isinstance(p, ItemIn)}
    if len(items) == 1 and all(isinstance(p, ItemIn) for p in parts):
        codes: list[int] = []
        for p in parts:
            assert isinstance(p, ItemIn)
            codes.extend(c for c in p.codes if c not in codes)
        return ItemIn(items.pop(), tuple(codes))
    return AnyOf(tuple(parts))


def parse_relevant(text: str) -> Condition:
    """A ``relevant`` expression as a condition; raises ``ValueError`` (Chinese message) for
    anything outside the supported subset."""
    try:
        return _Parser(text).parse()
    except _ExprError as exc:
        raise ValueError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Conversion


def _flag(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    return None


def _choices(
    sheet: _Sheet | None, language: str | None, ctx: _Ctx
) -> dict[str, list[dict[str, Any]]]:
    lists: dict[str, list[dict[str, Any]]] = {}
    if sheet is None:
        return lists
    title = sheet.title
    dropped: set[str] = set()
    for column in sheet.columns:
        key = _column_key(column)
        used = any(row.get(column) for row in sheet.rows)
        if column and key.partition("::")[0] not in CHOICE_COLUMNS and used:
            first = next(r.number for r in sheet.rows if r.get(column))
            ctx.add(
                title,
                first,
                column,
                "不支持此列（选项只能有 list_name、name、label 及 score、dont_know、refused、exclusive）",
            )
    for row in sheet.rows:
        cells = {_column_key(k): v for k, v in row.cells.items()}
        list_name = cells.get("list_name", "")
        code_text = cells.get("name", "")
        if not list_name:
            ctx.add(title, row.number, "list_name", "缺少选项列表名 list_name")
            continue
        options = lists.setdefault(list_name, [])
        if not re.fullmatch(r"-?\d+", code_text):
            ctx.add(
                title,
                row.number,
                "name",
                f"选项代码「{code_text}」须为整数（本平台按整数代码存储答案）",
            )
            continue
        option: dict[str, Any] = {
            "code": int(code_text),
            "label": _labelled(row, "label", language, title, ctx, dropped),
        }
        score = cells.get("score", "")
        if score:
            try:
                number = float(score)
            except ValueError:
                ctx.add(title, row.number, "score", f"分值「{score}」不是数字")
            else:
                option["score"] = int(number) if number.is_integer() else number
        for flag in ("dont_know", "refused", "exclusive"):
            raw = cells.get(flag, "")
            value = _flag(raw)
            if value is None:
                ctx.add(title, row.number, flag, f"「{raw}」应为 yes 或 no")
            elif value:
                option[flag] = True
        options.append(option)
    return lists


def _settings(sheet: _Sheet | None, ctx: _Ctx) -> dict[str, str]:
    if sheet is None or not sheet.rows:
        ctx.add(
            "settings",
            None,
            None,
            "缺少 settings 表或其中没有数据行（需要 form_id、form_title、version）",
        )
        return {}
    row = sheet.rows[0]
    out: dict[str, str] = {}
    for column, value in row.cells.items():
        key = _column_key(column)
        if key in SETTINGS_COLUMNS:
            out[key] = value
        elif key in SETTINGS_DROPPED:
            ctx.notice(sheet.title, row.number, column, "本平台不使用此设置，未导入")
        else:
            ctx.add(sheet.title, row.number, column, "不支持此设置")
    for key in ("form_id", "form_title", "version"):
        if not out.get(key):
            ctx.add(sheet.title, row.number, key, f"缺少 {key}")
    version = out.get("version", "")
    if version and not re.fullmatch(r"[1-9]\d{0,8}", version):
        ctx.add(sheet.title, row.number, "version", f"版本号「{version}」须为正整数（如 1）")
    return out


def _check_survey_columns(sheet: _Sheet, ctx: _Ctx) -> None:
    for column in sheet.columns:
        if not column:
            continue
        key = _column_key(column)
        base = key.partition("::")[0]
        used = [r for r in sheet.rows if r.get(column)]
        if key in SURVEY_COLUMNS or base in ("label", "hint"):
            continue
        if not used:
            continue
        if key in SURVEY_DROPPED:
            ctx.notice(
                sheet.title,
                used[0].number,
                column,
                "仅影响显示，未导入（本平台使用自己的提示文字和版式）",
            )
            continue
        for row in used:
            ctx.add(sheet.title, row.number, column, f"不支持此列（值「{row.get(column)}」）")


def _type_error(kind: str) -> str:
    if kind in METADATA_TYPES:
        return f"不支持题型 {kind}：本平台自动记录时间、设备与访员，请删除此行"
    return f"不支持题型 {kind}（可用 select_one、select_multiple、integer、text、note、begin/end group）"


def convert_xlsform(data: bytes, name: str) -> Conversion:
    """Convert an XLSForm workbook (``data``; ``name`` used in problems) to instrument TOML.
    Raises ``XlsformError`` with every problem found."""
    ctx = _Ctx(name)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise XlsformError(
            [XlsProblem(name, "", None, None, f"不是可读取的 XLSX 工作簿（{type(exc).__name__}）")]
        ) from None
    survey = _read_sheet(book, "survey")
    choices_sheet = _read_sheet(book, "choices")
    settings_sheet = _read_sheet(book, "settings")
    indices_sheet = _read_sheet(book, "indices")
    known = {"survey", "choices", "settings", "indices"}
    for title in book.sheetnames:
        if title.strip().lower() not in known:
            ctx.add(
                title, None, None, "不支持此工作表（只读取 survey、choices、settings 和 indices）"
            )
    if survey is None:
        raise XlsformError([XlsProblem(name, "survey", None, None, "缺少 survey 工作表")])
    settings = _settings(settings_sheet, ctx)
    language = _language(
        [s for s in (survey, choices_sheet) if s is not None], settings.get("default_language", "")
    )
    lists = _choices(choices_sheet, language, ctx)
    _check_survey_columns(survey, ctx)
    doc = _convert_survey(survey, lists, language, ctx)
    doc["indices"] = _indices(indices_sheet, ctx)
    if ctx.problems:
        raise XlsformError(ctx.problems)
    header = {
        "id": settings.get("form_id", ""),
        "version": int(settings.get("version", "1")),
        "title": settings.get("form_title", ""),
    }
    return Conversion(_emit(name, header, doc), ctx.notices, ctx.rows)


def _convert_survey(
    sheet: _Sheet, lists: dict[str, list[dict[str, Any]]], language: str | None, ctx: _Ctx
) -> dict[str, Any]:
    title = sheet.title
    pages: list[_Page] = []
    screening: list[tuple[_Item, list[int]]] = []
    messages: dict[str, str] = {}
    unit: list[dict[str, str]] = []
    intro: list[str] = []
    outro: list[str] = []
    pending_notes: list[tuple[int, str]] = []
    group: _Page | None = None
    group_condition: Condition | None = None
    in_screening = False
    nested = 0  # depth inside an unsupported (reported) nested group or repeat
    seen_question = False
    loose = 0
    dropped: set[str] = set()

    for row in sheet.rows:
        cells = {_column_key(k): v for k, v in row.cells.items()}
        kind_text = re.sub(r"\s+", " ", cells.get("type", "")).strip()
        kind, _, argument = kind_text.partition(" ")
        kind = kind.lower()
        ident = cells.get("name", "")
        label = _labelled(row, "label", language, title, ctx, dropped)
        hint = _labelled(row, "hint", language, title, ctx, dropped)
        lowered = kind_text.lower().replace("_", " ")
        if lowered == "begin repeat":
            ctx.add(
                title,
                row.number,
                "type",
                "不支持题型 begin repeat（重复组）：本平台每份问卷只记录一位受访者",
            )
            nested += 1
            continue
        if lowered in ("begin group", "end group", "end repeat") and nested:
            nested += 1 if lowered == "begin group" else -1
            continue
        if lowered == "begin group":
            if group is not None or in_screening:
                ctx.add(title, row.number, "type", "不支持嵌套的组（本平台的页面不能再分组）")
                nested += 1
                continue
            relevant = cells.get("relevant", "")
            group_condition = _relevant(relevant, title, row.number, ctx) if relevant else None
            if ident == SCREENING_GROUP:
                in_screening = True
                if relevant:
                    ctx.add(title, row.number, "relevant", "筛选组不能有显示条件")
                continue
            group = _Page(ident, label)
            ctx.rows.setdefault(ident, row.number)
            continue
        if lowered == "end group":
            if group is not None:
                pages.append(group)
            elif not in_screening:
                ctx.add(title, row.number, "type", "end group 之前没有 begin group")
            group, group_condition, in_screening = None, None, False
            continue
        if kind == "note":
            if in_screening and ident in SCREENING_MESSAGES:
                messages[ident] = label
            elif not seen_question:
                intro.append(label)
            else:
                pending_notes.append((row.number, label))
            continue
        if kind == "select_one_from_file" and argument.strip().lower() in UNIT_FILES:
            unit.append(
                {"id": ident, "level": UNIT_FILES[argument.strip().lower()], "prompt": label}
            )
            continue
        item = _question(row, cells, kind, argument, ident, label, hint, lists, title, ctx)
        if item is None:
            continue
        ctx.rows.setdefault(ident, row.number)
        for number, _ in pending_notes:
            ctx.add(
                title,
                number,
                "type",
                "题目之间的说明（note）不支持：只有开头（欢迎语）和结尾（结束语）的说明可以导入",
            )
        pending_notes = []
        seen_question = True
        if in_screening:
            eligible_text = cells.get("pingan::eligible", "")
            codes = [c for c in re.split(r"[,\s，]+", eligible_text) if c]
            if not codes or not all(re.fullmatch(r"-?\d+", c) for c in codes):
                ctx.add(
                    title,
                    row.number,
                    "pingan::eligible",
                    "筛选题需要 pingan::eligible（符合条件的选项代码，如 1）",
                )
            if item.condition is not None:
                ctx.add(title, row.number, "relevant", "筛选题不能有显示条件")
            screening.append((item, [int(c) for c in codes if re.fullmatch(r"-?\d+", c)]))
            continue
        if group_condition is not None:
            item.condition = (
                group_condition
                if item.condition is None
                else AllOf((group_condition, item.condition))
            )
        if group is None:
            loose += 1
            pages.append(_Page(f"page_{loose}", "", [item]))
        else:
            group.items.append(item)
    if group is not None or in_screening:
        ctx.add(title, None, "type", "begin group 没有对应的 end group")
        if group is not None:
            pages.append(group)
    outro.extend(text for _, text in pending_notes)
    return {
        "intro": "".join(intro),
        "outro": "".join(outro),
        "screening": screening,
        "messages": messages,
        "unit": unit,
        "pages": pages,
    }


def _relevant(text: str, sheet: str, row: int, ctx: _Ctx) -> Condition | None:
    try:
        return parse_relevant(text)
    except ValueError as exc:
        ctx.add(sheet, row, "relevant", f"不支持的表达式「{text}」：{exc}")
        return None


def _question(
    row: _Row,
    cells: dict[str, str],
    kind: str,
    argument: str,
    ident: str,
    label: str,
    hint: str,
    lists: dict[str, list[dict[str, Any]]],
    sheet: str,
    ctx: _Ctx,
) -> _Item | None:
    constraint = cells.get("constraint", "").strip()
    data: dict[str, Any] = {"id": ident}
    if kind in ("select_one", "select_multiple"):
        list_name = argument.strip()
        if " or_other" in f" {list_name}" or not list_name:
            ctx.add(
                sheet,
                row.number,
                "type",
                f"不支持「{kind} {argument}」（需要一个选项列表名，不支持 or_other）",
            )
            return None
        options = lists.get(list_name)
        if options is None:
            ctx.add(sheet, row.number, "type", f"choices 表中没有选项列表「{list_name}」")
            return None
        our_kind = "single" if kind == "select_one" else "multiple"
        data["options"] = options
        if constraint:
            match = _COUNT.match(constraint)
            if kind == "select_multiple" and match:
                data["max_choices"] = int(match.group(1))
            else:
                ctx.add(
                    sheet,
                    row.number,
                    "constraint",
                    f"不支持的约束「{constraint}」（多选题只支持 count-selected(.) <= N）",
                )
    elif kind == "integer":
        our_kind = "rating_0_10"
        if not _RATING.match(constraint):
            ctx.add(
                sheet,
                row.number,
                "constraint",
                f"整数题只支持 0–10 评分（constraint 须为 . >= 0 and . <= 10），此处为「{constraint or '空'}」",
            )
            return None
    elif kind == "text":
        our_kind = "text"
        if constraint:
            match = _LENGTH.match(constraint)
            if match:
                data["max_length"] = int(match.group(1))
            else:
                ctx.add(
                    sheet,
                    row.number,
                    "constraint",
                    f"不支持的约束「{constraint}」（文字题只支持 string-length(.) <= N）",
                )
    else:
        ctx.add(sheet, row.number, "type", _type_error(kind or "（空）"))
        return None
    data["type"] = our_kind
    data["text"] = label
    if hint:
        data["note"] = hint
    required = _flag(cells.get("required", ""))
    if required is None:
        ctx.add(
            sheet,
            row.number,
            "required",
            f"「{cells.get('required')}」应为 yes 或 no（不支持表达式）",
        )
    data["required"] = bool(required)
    weighting = cells.get("pingan::weighting", "")
    if weighting:
        data["weighting"] = weighting
    relevant = cells.get("relevant", "")
    condition = _relevant(relevant, sheet, row.number, ctx) if relevant else None
    return _Item(data, our_kind, condition)


def _indices(sheet: _Sheet | None, ctx: _Ctx) -> list[dict[str, Any]]:
    if sheet is None:
        return []
    out: list[dict[str, Any]] = []
    for column in sheet.columns:
        if column and _column_key(column) not in INDEX_COLUMNS:
            ctx.add(sheet.title, 1, column, f"不支持此列（可用: {', '.join(INDEX_COLUMNS)}）")
    for row in sheet.rows:
        cells = {_column_key(k): v for k, v in row.cells.items()}
        index: dict[str, Any] = {}
        for key in INDEX_COLUMNS:
            value = cells.get(key, "")
            if not value:
                continue
            if key == "positive":
                codes = [c for c in re.split(r"[,\s，]+", value) if c]
                if not all(re.fullmatch(r"-?\d+", c) for c in codes):
                    ctx.add(sheet.title, row.number, key, f"「{value}」应为整数代码列表，如 1,2,3")
                    continue
                index[key] = [int(c) for c in codes]
            elif key in ("target", "pass_score"):
                try:
                    index[key] = float(value)
                except ValueError:
                    ctx.add(sheet.title, row.number, key, f"「{value}」不是数字")
            elif key == "primary":
                flag = _flag(value)
                if flag is None:
                    ctx.add(sheet.title, row.number, key, f"「{value}」应为 yes 或 no")
                elif flag:
                    index[key] = True
            else:
                index[key] = value
        out.append(index)
    return out


# ---------------------------------------------------------------------------------------------
# TOML output


def _s(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _s(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(value)


def condition_toml(condition: Condition) -> str:
    """A condition as the inline table of our TOML (``show_if = …``)."""
    if isinstance(condition, ItemIn):
        return f"{{ item = {_s(condition.item)}, in = {_value(list(condition.codes))} }}"
    if isinstance(condition, Answered):
        return f"{{ item = {_s(condition.item)}, answered = {_value(condition.answered)} }}"
    if isinstance(condition, AllOf | AnyOf):
        key = "all" if isinstance(condition, AllOf) else "any"
        return f"{{ {key} = [" + ", ".join(condition_toml(c) for c in condition.conditions) + "] }"
    return f"{{ not = {condition_toml(condition.condition)} }}"


def _item_lines(item: _Item, extra: dict[str, Any] | None = None) -> list[str]:
    lines = []
    for key in ("id", "type", "text", "note", "required", "max_choices", "max_length", "weighting"):
        if key in item.data:
            lines.append(f"{key} = {_value(item.data[key])}")
    if item.condition is not None:
        lines.append(f"show_if = {condition_toml(item.condition)}")
    for key, value in (extra or {}).items():
        lines.append(f"{key} = {_value(value)}")
    options = item.data.get("options")
    if options:
        lines.append("options = [")
        for option in options:
            parts = [f"{k} = {_value(v)}" for k, v in option.items()]
            lines.append("  { " + ", ".join(parts) + " },")
        lines.append("]")
    return lines


def _emit(name: str, header: dict[str, Any], doc: dict[str, Any]) -> str:
    out = [f"# 由 XLSForm 转换（survey questionnaire import-xlsform {name}）。", ""]
    for key, value in header.items():
        out.append(f"{key} = {_value(value)}")
    for key in ("intro", "outro"):
        if doc[key]:
            out.append(f"{key} = {_s(doc[key])}")
    if doc["screening"]:
        on_fail = "ask_other_adult" if "ask_other_adult" in doc["messages"] else "end"
        out += ["", "[screening]", f"on_fail = {_s(on_fail)}"]
        if doc["messages"]:
            out += ["", "[screening.messages]"]
            out += [f"{k} = {_s(v)}" for k, v in doc["messages"].items()]
        for item, eligible in doc["screening"]:
            out += ["", "[[screening.items]]", *_item_lines(item, {"eligible": eligible})]
    for level in doc["unit"]:
        out += ["", "[[unit.levels]]"] + [f"{k} = {_s(v)}" for k, v in level.items()]
    for page in doc["pages"]:
        out += ["", "[[pages]]", f"id = {_s(page.id)}", f"title = {_s(page.title)}"]
        for item in page.items:
            out += ["", "[[pages.items]]", *_item_lines(item)]
    for index in doc["indices"]:
        out += ["", "[[indices]]"] + [f"{k} = {_value(v)}" for k, v in index.items()]
    return "\n".join(out) + "\n"
