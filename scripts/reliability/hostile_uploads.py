"""Hostile uploads against a live server: ``.venv/bin/python scripts/reliability/hostile_uploads.py``.

Builds a SQLite demo database (or uses ``--pg-url``), starts ``uvicorn survey.web.asgi:app``
(one worker, as the attack pass ran) and, as ``admin``, uploads each hostile file of
``tests/security/hostile.py`` to the registry import with curl (another process) while this
script fetches ``/health`` and a resident's survey page back to back. Prints, per file: its
size, the answer (status, seconds, the limit named) and the latency of both probes during the
upload (count, median, maximum). Bounded: five uploads, each refused in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import environment

from tests.reliability.live import CSRF, Server, free_port, prepare
from tests.security.hostile import (
    deep_xlsx,
    huge_cells_csv,
    wide_csv,
    zip_bomb_xlsx,
)

FILES = {
    "wide.csv (1,000,000 columns)": ("wide.csv", lambda: wide_csv(1_000_000)),
    "wide.csv (100,000 columns)": ("wider.csv", lambda: wide_csv(100_000)),
    "deep.xlsx (200,000 rows)": ("deep.xlsx", lambda: deep_xlsx(200_000)),
    "bomb.xlsx (1 GB unpacked)": ("bomb.xlsx", lambda: zip_bomb_xlsx(1_000)),
    "huge-cells.csv (4 × 2 MB cells)": ("huge.csv", lambda: huge_cells_csv(4, 2_000_000)),
}
LIMIT = re.compile(r"文件超出上限：[^<]*")


async def upload(base: str, cookies: str, token: str, path: Path) -> tuple[int, str, float]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H", f"Cookie: {cookies}",
        "-F", f"_csrf_token={token}", "-F", f"file=@{path}", f"{base}/admin/registry",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    body, _, status = out.decode("utf-8", "replace").rpartition("\n")
    found = LIMIT.search(body)
    return int(status), found.group(0) if found else body[:120], time.perf_counter() - started


async def run(base: str, resident_token: str, workdir: Path) -> None:
    async with (
        httpx.AsyncClient(base_url=base, timeout=120) as admin,
        httpx.AsyncClient(base_url=base, timeout=30) as prober,
    ):
        token = CSRF.search((await admin.get("/login")).text).group(1)  # type: ignore[union-attr]
        signed_in = await admin.post(
            "/login", data={"username": "admin", "password": "pingan2026", "_csrf_token": token}
        )
        assert signed_in.status_code == 303, signed_in.status_code
        cookies = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
        for _ in range(3):
            await prober.get("/health")
            await prober.get(f"/s/{resident_token}")
        print(f"{'file':<34}{'bytes':>11}{'status':>7}{'s':>7}  probe   n  p50 ms  max ms")
        for label, (name, make) in FILES.items():
            path = workdir / name
            path.write_bytes(make())
            task = asyncio.create_task(upload(base, cookies, token, path))
            probes: dict[str, list[float]] = {"/health": [], "resident": []}
            while not task.done():
                for what, url in (("/health", "/health"), ("resident", f"/s/{resident_token}")):
                    started = time.perf_counter()
                    response = await prober.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                    probes[what].append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
            status, limit, seconds = await task
            for i, (what, seen) in enumerate(probes.items()):
                head = (
                    f"{label:<34}{path.stat().st_size:>11,}{status:>7}{seconds:>7.2f}"
                    if i == 0
                    else " " * 59
                )
                print(
                    f"{head}  {what:<8}{len(seen):>3}{statistics.median(seen) * 1000:>8.1f}"
                    f"{max(seen) * 1000:>8.1f}"
                )
            print(f"{'':<34}→ {limit}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="a PostgreSQL database to use (its schema is replaced)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pingan-hostile-"))
    url = args.pg_url or f"sqlite:///{workdir / 'hostile.sqlite'}"
    env = {**environment(url, workdir), "PINGAN_RATE_SURVEY_TOKEN": "0"}
    ready = prepare(env, invitations=1, areas=["survey.collection.demo"])
    server = Server(env, free_port(), workers=1, log_path=workdir / "server.log")
    server.start()
    try:
        asyncio.run(run(server.base, ready["tokens"][0], workdir))
    finally:
        server.stop()
    log = (workdir / "server.log").read_text(errors="replace")
    print(f"server log: {('Traceback' in log and 'TRACEBACK FOUND') or 'no traceback'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
