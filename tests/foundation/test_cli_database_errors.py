"""A command that cannot open the installation's database says so in one line (the path it
tried, how a relative path is read), instead of a driver's traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_sqlite_file_in_a_missing_directory_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "PINGAN_DATABASE_URL": "sqlite:///no-such-dir/walk.sqlite"}
    done = subprocess.run(
        [sys.executable, "-m", "survey.cli", "wave", "create", "x", "2027-01"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    expected = f"错误: 无法打开 SQLite 数据库文件 {tmp_path.resolve() / 'no-such-dir/walk.sqlite'}"
    assert expected in done.stderr
    assert "sqlite3.OperationalError" not in done.stderr
