"""TOML file → validated ``Instrument``: the loading pipeline and its entry points.

The stages are pyxform's, one module each:

1. read — ``questionnaires.toml_check``: the file's UTF-8 text and its TOML tables, and the
   located, typed field access every stage uses (shared with the ranking policies);
2. check each table on its own — ``questionnaires.sections``: options, conditions, items,
   scales, departments, screening, unit identification, pages → model pieces;
3. cross-check — ``questionnaires.references``: unique ids, condition references, page order
   and cycles, index definitions against their items;
4. build — here: the frozen ``Instrument`` and its content hash, or ``InstrumentError`` with
   every problem of stages 1–3 in file order.

The accepted keys and limits are in ``questionnaires.schema``. The names this module had before
the stages were split out (``read_source``, ``DEFAULT_TEXT_MAX_LENGTH``, …) stay importable here.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from questionnaires.model import MODES, Instrument, InstrumentError, Mode, Problem
from questionnaires.references import check_conditions, check_ids, parse_indices
from questionnaires.schema import (
    DEFAULT_TEXT_MAX_LENGTH,
    DEPARTMENT_PLACEHOLDER,
    MAX_TEXT_MAX_LENGTH,
    TOP_KEYS,
)
from questionnaires.sections import (
    RawItem,
    parse_departments,
    parse_pages,
    parse_scales,
    parse_screening,
    parse_unit,
)
from questionnaires.toml_check import (
    FileCheck,
    Lines,
    check_top_keys,
    get_id,
    get_str,
    get_version,
    parse_toml,
    read_source,
    sorted_problems,
)

HASH_PREFIX = b"pingan-instrument/1\n"


def _hash(instrument: Instrument) -> str:
    canonical = json.dumps(
        instrument.canonical(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(HASH_PREFIX + canonical.encode("utf-8")).hexdigest()


def build_instrument(
    text: str, name: str, *, departments: Sequence[tuple[str, str]] | None = None
) -> Instrument:
    """Parse and validate instrument ``text`` (``name`` is the file name used in problems).

    ``departments`` replaces the file's default department list. Raises ``InstrumentError``
    with every problem found.
    """
    data, problems = parse_toml(text, name)
    if problems:
        raise InstrumentError(problems)
    ctx = FileCheck(name, Lines(text))
    check_top_keys(data, TOP_KEYS, ctx)
    instrument_id = get_id(data, ctx, "问卷", ctx.lines.top_key("id") or 1)
    version = get_version(data, ctx, "问卷")
    title = get_str(data, "title", ctx, None, ctx.lines.top_key("title") or 1, required=True)
    intro = get_str(data, "intro", ctx, None, ctx.lines.top_key("intro"), required=False)
    outro = get_str(data, "outro", ctx, None, ctx.lines.top_key("outro"), required=False)
    modes_raw = data.get("modes", list(MODES))
    if not isinstance(modes_raw, list) or not modes_raw or any(m not in MODES for m in modes_raw):
        ctx.add(f"modes 应为 {list(MODES)} 的非空子集", line=ctx.lines.top_key("modes"))
        modes_raw = list(MODES)

    scales = parse_scales(data, ctx)
    departments_model = parse_departments(data, ctx, departments)
    raw_items: list[RawItem] = []
    templates: dict[str, tuple[str, ...]] = {}
    screening = parse_screening(data, ctx, scales, raw_items)
    unit = parse_unit(data, ctx)
    pages = parse_pages(data, ctx, scales, departments_model, raw_items, templates)
    check_ids(raw_items, unit, ctx)
    check_conditions(raw_items, ctx)
    indices = parse_indices(data, ctx, raw_items, templates, departments_model)
    if ctx.problems:
        raise InstrumentError(sorted_problems(ctx.problems))
    instrument = Instrument(
        id=instrument_id,
        version=version,
        title=title,
        intro=intro,
        outro=outro,
        modes=tuple(cast(list[Mode], list(dict.fromkeys(modes_raw)))),
        screening=screening,
        unit=unit,
        pages=pages,
        indices=indices,
        departments=departments_model,
        source_name=name,
        source_text=text,
    )
    return replace(instrument, content_hash=_hash(instrument))


@functools.lru_cache(maxsize=128)
def _build_cached(text: str, name: str, departments: tuple[tuple[str, str], ...]) -> Instrument:
    return build_instrument(text, name, departments=departments)


def build_with_departments(
    text: str, name: str, departments: Sequence[tuple[str, str]]
) -> Instrument:
    """``build_instrument`` with a department list, cached on (text, name, departments)."""
    try:
        key = tuple((code, dept_name) for code, dept_name in departments)
        hash(key)
    except (TypeError, ValueError):
        # Not a list of (code, name) pairs: let the validator describe what is wrong.
        return build_instrument(text, name, departments=departments)
    return _build_cached(text, name, key)


def load_instrument_text(text: str, name: str = "<text>") -> Instrument:
    """Load an instrument from TOML ``text`` (``name`` labels problems); raises InstrumentError."""
    return build_instrument(text, name)


def load_instrument(path: str | Path) -> Instrument:
    """Load an instrument file (UTF-8 TOML). Raises ``InstrumentError`` with every problem found."""
    text, problems = read_source(path)
    if problems:
        raise InstrumentError(problems)
    return build_instrument(text, str(path))


def check_files(paths: Iterable[str | Path]) -> list[Problem]:
    """Every problem in every file (empty when all load)."""
    problems: list[Problem] = []
    for path in paths:
        try:
            load_instrument(path)
        except InstrumentError as exc:
            problems.extend(exc.problems)
    return problems


__all__ = [
    "DEFAULT_TEXT_MAX_LENGTH",
    "DEPARTMENT_PLACEHOLDER",
    "HASH_PREFIX",
    "MAX_TEXT_MAX_LENGTH",
    "build_instrument",
    "build_with_departments",
    "check_files",
    "load_instrument",
    "load_instrument_text",
    "read_source",
]
