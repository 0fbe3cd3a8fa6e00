"""Cells of every CSV and XLSX file the platform writes, made safe to open in a spreadsheet.

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, WPS and LibreOffice as a formula (``=HYPERLINK("http://…","城关所")`` becomes a live
link; other formulas can run commands or send the sheet's contents away). Such text — a unit
name from a registry import, a stratum label from a frame — gets a leading apostrophe, the
convention spreadsheet programs themselves use for "this is text" (OWASP, "CSV injection").
Numbers stay numbers: a ``float`` or ``int`` is returned unchanged, and so is text that is a
plain decimal number (``-0.25``, ``1e-05``: what ``repr`` of a float writes), which a
spreadsheet reads as a number, never as a formula. Every writer calls :func:`safe_cell` on
each value it writes (``survey.results.export``, ``survey.design.queries``,
``survey.collection.sms``, ``survey estimate``).
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """``value`` as a cell that a spreadsheet shows as written and never evaluates."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if _PLAIN_NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value
