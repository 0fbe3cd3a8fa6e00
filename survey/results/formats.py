"""What a results download may ask for — the report's format, the results export's format and
table, the microdata's format, the label mode — checked in one place for the results pages
(``survey.web.controllers.results``: a refused request is a 404 with the message), the command
line (``survey.results.cli``: the choices of its options, and a refused combination is one line
and exit 1) and the exports themselves (``survey.results.export``).

No imports beyond the standard library: the command line builds its options from these tuples on
every ``survey`` run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

REPORT_FORMATS: tuple[str, ...] = ("pdf", "html")
RESULT_FORMATS: tuple[str, ...] = ("json", "csv", "xlsx")
#: The CSV's table; the XLSX holds them all as sheets.
RESULT_TABLES: tuple[str, ...] = ("results", "weighting", "flags", "modes")
MICRODATA_FORMATS: tuple[str, ...] = ("csv", "xlsx", "sav", "dta")
#: The program a labelled microdata format is read by (named in the messages).
MICRODATA_PROGRAMS: dict[str, str] = {"sav": "SPSS", "dta": "Stata"}
#: Every format the command line's ``results export --format`` takes (results or microdata).
EXPORT_FORMATS: tuple[str, ...] = tuple(dict.fromkeys((*RESULT_FORMATS, *MICRODATA_FORMATS)))
LabelMode = Literal["codes", "text", "both"]
LABEL_MODES: tuple[LabelMode, ...] = ("codes", "text", "both")


class FormatError(ValueError):
    """A results download asked for something there is none of; the message (Chinese) lists
    what there is."""


def _listed(words: Sequence[str], last: str) -> str:
    """``a、b 和 c`` (``last`` = 和) or ``a、b 或 c``; no space after a full-width character."""
    if len(words) == 1:
        return words[0]
    head = "、".join(words[:-1])
    return f"{head}{' ' if head[-1].isascii() else ''}{last} {words[-1]}"


def report_format(fmt: str) -> str:
    """``fmt`` if the report is made in it."""
    if fmt not in REPORT_FORMATS:
        raise FormatError(f"报告格式只有 {_listed(REPORT_FORMATS, '和')}")
    return fmt


def results_export(fmt: str, table: str = "results") -> tuple[str, str]:
    """``(fmt, table)`` if the results are exported in ``fmt`` and ``table`` is one of theirs."""
    if fmt not in RESULT_FORMATS:
        raise FormatError(f"导出格式只有 {_listed(RESULT_FORMATS, '和')}")
    if table not in RESULT_TABLES:
        raise FormatError(f"结果表只有 {_listed(RESULT_TABLES, '和')}")
    return fmt, table


def microdata_format(fmt: str) -> str:
    """``fmt`` if the weighted microdata are exported in it."""
    if fmt not in MICRODATA_FORMATS:
        named = [
            f"{f}（{MICRODATA_PROGRAMS[f]}）" if f in MICRODATA_PROGRAMS else f
            for f in MICRODATA_FORMATS
        ]
        raise FormatError(f"微观数据只能导出为 {_listed(named, '或')}")
    return fmt


def label_mode(labels: str) -> LabelMode:
    """``labels`` if it is a label mode of the CSV/XLSX exports."""
    for mode in LABEL_MODES:
        if labels == mode:
            return mode
    raise FormatError(f"--labels 只能是 {'、'.join(LABEL_MODES)}")
