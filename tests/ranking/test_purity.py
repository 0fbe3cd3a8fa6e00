"""The ranking core is pure: importing it pulls in no web framework, ORM or template engine."""

from __future__ import annotations

import subprocess
import sys


def test_imports_numpy_scipy_and_stdlib_only() -> None:
    code = (
        "import sys, survey.ranking\n"
        "bad = [m for m in ('litestar', 'piccolo', 'jinja2', 'pandas', 'asyncpg', 'aiosqlite',"
        " 'httpx', 'weasyprint', 'matplotlib', 'openpyxl', 'survey.db', 'survey.web')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
