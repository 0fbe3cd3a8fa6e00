"""The upload worker pool (``survey.tabular.read_upload``: a forkserver, its workers and
multiprocessing's resource tracker) leaves no process behind when the process that used it ends
— by exiting, or killed without running its exit handlers (SIGKILL: a crashed server, the OOM
killer), when before the worker waited on its queue for ever and kept the forkserver and the
tracker alive with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

USER = textwrap.dedent(
    """
    import asyncio, sys, time

    async def main() -> None:
        from survey.tabular import read_upload

        table = await read_upload("x.csv", b"a,b\\n1,2\\n")
        assert table.header == ("a", "b"), table.header
        print("read", flush=True)
        if sys.argv[1] == "stay":
            time.sleep(120)

    if __name__ == "__main__":  # the forkserver imports this module as __main__ too
        asyncio.run(main())
    """
)


def _alive_in_group(group: int) -> list[str]:
    """The live (not zombie) processes of process group ``group``: ``pid command``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # pid (comm) state ppid pgrp …: comm may hold spaces, so split after its ")"
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == group and state != "Z":
            out.append(f"{entry.name} {cmdline[:100]}")
    return out


def _left_after(ending: str, tmp_path: Path) -> list[str]:
    script = tmp_path / "use_upload.py"
    script.write_text(USER)
    user = subprocess.Popen(
        [sys.executable, str(script), "stay" if ending == "killed" else "exit"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the pool's processes join it
    )
    group = user.pid
    try:
        assert user.stdout is not None and user.stdout.readline().strip() == "read"
        if ending == "killed":
            assert len(_alive_in_group(group)) >= 3  # the user, the forkserver, a worker…
            os.kill(user.pid, signal.SIGKILL)
        assert user.wait(timeout=60) == (-signal.SIGKILL if ending == "killed" else 0)
        deadline = time.monotonic() + 10
        while (left := _alive_in_group(group)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left
    finally:
        user.stdout.close()  # type: ignore[union-attr]
        for line in _alive_in_group(group):  # only what this test started
            os.kill(int(line.split()[0]), signal.SIGKILL)


@pytest.mark.parametrize("ending", ["exited", "killed"])
def test_no_upload_process_outlives_its_user(ending: str, tmp_path: Path) -> None:
    assert _left_after(ending, tmp_path) == []
