"""``survey serve`` in a subprocess on a loopback port, for tests of what the CLI starts
(forwarded headers, limits shared by workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.reliability.live import BIN, REPO, free_port


@contextlib.contextmanager
def survey_serve(
    env: dict[str, str], *args: str, log: Path | None = None, timeout: float = 60
) -> Iterator[str]:
    """Run ``survey serve --port <free> *args`` with ``env``; yields the base URL."""
    port = free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(BIN / "survey"), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"survey serve {' '.join(args)} did not come up")
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
