"""Checks of frames and number-block lists given as rows of strings, before anything is imported.

Every function returns a list of :class:`Problem` (empty = valid) and never stops at the first
one, so a user can fix a file in one pass. Rows are numbered as a spreadsheet shows them: the
header is row 1 and the first data row is ``first_row`` (2 by default). Messages are 简体中文.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sampling.numbers import Block, block_problem, normalize_number, number_problem, parse_block


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: ``row`` (None for the file or a whole stratum), column, why."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = "全表" if self.row is None else f"第 {self.row} 行"
        return f"{where}, {self.column}: {self.message}"


def _columns(
    header: Sequence[str], required: Sequence[str], optional: Sequence[str | None] = ()
) -> tuple[dict[str, int], list[Problem]]:
    index: dict[str, int] = {}
    problems = []
    for i, name in enumerate(header):
        name = name.strip()
        if name in index:
            problems.append(Problem(1, name, f"列名「{name}」重复"))
        index.setdefault(name, i)
    for name in [*required, *(c for c in optional if c is not None)]:
        if name not in index:
            problems.append(Problem(1, name, f"缺少列「{name}」"))
    return index, problems


def validate_design(
    population_sizes: Mapping[str, int],
    requested: Mapping[str, int],
    *,
    column: str = "stratum",
) -> list[Problem]:
    """Stratum-level problems: a designed stratum with no frame rows, N_h < n_h, a frame
    stratum with no requested size. ``population_sizes`` are frame counts N_h per stratum."""
    problems = []
    for stratum in sorted(requested):
        big_n, n = population_sizes.get(stratum, 0), requested[stratum]
        if big_n == 0:
            problems.append(Problem(None, column, f"层「{stratum}」在抽样框中没有记录（空层）"))
        elif big_n < n:
            problems.append(
                Problem(None, column, f"层「{stratum}」只有 {big_n} 条记录，少于要求的样本量 {n}")
            )
    for stratum in sorted(set(population_sizes) - set(requested)):
        problems.append(
            Problem(None, column, f"层「{stratum}」在抽样框中有记录，但设计中没有它的样本量")
        )
    return problems


def validate_frame(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    stratum_column: str = "stratum",
    unit_column: str = "unit",
    known_units: Collection[str] | None = None,
    phone_column: str | None = None,
    id_column: str | None = None,
    requested: Mapping[str, int] | None = None,
    first_row: int = 2,
) -> list[Problem]:
    """Problems of a frame (households or phone numbers with their unit), row by row.

    Per row: wrong number of fields, empty stratum or unit, a unit code not in ``known_units``,
    a bad phone number (``phone_column``), a phone or id repeated from an earlier row. Then, with
    ``requested`` ({stratum: n_h}), the stratum checks of :func:`validate_design`.
    """
    index, problems = _columns(header, [stratum_column, unit_column], [phone_column, id_column])
    if problems and any(p.message.startswith("缺少列") for p in problems):
        return problems
    known = None if known_units is None else set(known_units)
    counts: Counter[str] = Counter()
    seen_phone: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    for offset, row in enumerate(rows):
        line = first_row + offset
        if len(row) != len(header):
            problems.append(Problem(line, "", f"有 {len(row)} 个字段，表头有 {len(header)} 个"))
            continue
        stratum = row[index[stratum_column]].strip()
        unit = row[index[unit_column]].strip()
        if not stratum:
            problems.append(Problem(line, stratum_column, "层为空"))
        else:
            counts[stratum] += 1
        if not unit:
            problems.append(Problem(line, unit_column, "单位代码为空"))
        elif known is not None and unit not in known:
            problems.append(Problem(line, unit_column, f"未知的单位代码「{unit}」"))
        if phone_column is not None:
            text = row[index[phone_column]].strip()
            problem = number_problem(text) if text else "号码为空"
            if problem is not None:
                problems.append(Problem(line, phone_column, problem))
            else:
                digits = normalize_number(text)
                if digits in seen_phone:
                    problems.append(
                        Problem(line, phone_column, f"号码与第 {seen_phone[digits]} 行重复")
                    )
                seen_phone.setdefault(digits, line)
        if id_column is not None:
            key = row[index[id_column]].strip()
            if not key:
                problems.append(Problem(line, id_column, "编号为空"))
            elif key in seen_id:
                problems.append(
                    Problem(line, id_column, f"编号「{key}」与第 {seen_id[key]} 行重复")
                )
            seen_id.setdefault(key, line)
    if requested is not None:
        problems.extend(validate_design(counts, requested, column=stratum_column))
    return problems


def read_number_blocks(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    prefix_column: str = "prefix",
    carrier_column: str = "carrier",
    district_column: str = "district",
    known_districts: Collection[str] | None = None,
    first_row: int = 2,
) -> tuple[list[Block], list[Problem]]:
    """Parse a block list (号段表: prefix, carrier, district per row) and report its problems.

    A prefix is a mobile block ``1380013`` or a landline block ``0571-8765`` (see
    ``sampling.numbers``). Problems: malformed prefix, empty carrier or district, a district not
    in ``known_districts``, a block listed twice. The blocks are returned only when there is
    no problem (nothing half-read).
    """
    index, problems = _columns(header, [prefix_column, carrier_column, district_column])
    if problems and any(p.message.startswith("缺少列") for p in problems):
        return [], problems
    known = None if known_districts is None else set(known_districts)
    blocks: list[Block] = []
    seen: dict[str, int] = {}
    for offset, row in enumerate(rows):
        line = first_row + offset
        if len(row) != len(header):
            problems.append(Problem(line, "", f"有 {len(row)} 个字段，表头有 {len(header)} 个"))
            continue
        text = row[index[prefix_column]].strip()
        carrier = row[index[carrier_column]].strip()
        district = row[index[district_column]].strip()
        bad = block_problem(text) if text else "号段为空"
        if bad is not None:
            problems.append(Problem(line, prefix_column, bad))
        elif text in seen:
            problems.append(Problem(line, prefix_column, f"号段「{text}」与第 {seen[text]} 行重复"))
        else:
            seen[text] = line
            blocks.append(parse_block(text, carrier=carrier, district=district))
        if not carrier:
            problems.append(Problem(line, carrier_column, "运营商为空"))
        if not district:
            problems.append(Problem(line, district_column, "区县为空"))
        elif known is not None and district not in known:
            problems.append(Problem(line, district_column, f"未知的区县「{district}」"))
    return ([] if problems else blocks), problems


def validate_number_blocks(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    known_districts: Collection[str] | None = None,
    first_row: int = 2,
) -> list[Problem]:
    """The problems of a block list with the default columns (see :func:`read_number_blocks`)."""
    return read_number_blocks(header, rows, known_districts=known_districts, first_row=first_row)[1]
