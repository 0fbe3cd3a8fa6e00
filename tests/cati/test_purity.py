"""The pure parts of the CATI package import no web framework, ORM or template engine."""

from __future__ import annotations

import subprocess
import sys

PURE = (
    "survey.cati.outcomes",
    "survey.cati.selection",
    "survey.estimation.aapor",
    "survey.cati.metrics",
)
FORBIDDEN = ("piccolo", "litestar", "jinja2", "asyncpg", "aiosqlite")


def test_pure_modules_import_no_framework() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
