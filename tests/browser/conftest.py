"""Real-browser fixtures: the app under uvicorn on a free port, Debian chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Browser contexts of the page tests: a phone (the residents' and committee's main device) and a
# desktop.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
VIEWPORTS: dict[str, dict[str, Any]] = {"phone": PHONE, "desktop": DESKTOP}


def watch_external(page: Any, base_url: str) -> list[str]:
    """The URLs ``page`` requests outside ``base_url`` (and data: URIs), collected as it loads:
    a test asserts the list is empty — everything is served locally."""
    external: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((base_url, "data:")) else external.append(r.url),
    )
    return external


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def demo_db(db: None) -> None:
    """The demo city in the test database (built in this process, served by the live server)."""
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo(None))


@pytest.fixture(scope="session")
def live_server(_migrated_database: object) -> Iterator[str]:
    """Base URL of the app served by uvicorn in a subprocess against the test database."""
    port = _free_port()
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "survey.web.asgi:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        out = proc.stdout.read().decode() if proc.stdout else ""
        raise RuntimeError(f"server did not start: {out}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in the main
    # thread while it is open, which would break every later test that runs a loop.
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail(
            "Debian chromium is not installed: run `make test` (it installs it) or apt-get install chromium"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    engine = (
        "postgres" if os.environ.get("PINGAN_DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    return ARTIFACTS / f"{name}-{engine}.png"
