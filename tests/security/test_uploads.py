"""Finding 2: a hostile upload (wide CSV, deep XLSX, zip bomb, huge cells) is read in linear
time, off the event loop, and refused at the first cap it passes with a message naming the
limit; meanwhile ``/health`` and a resident's page keep answering in < 200 ms."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import ModuleType

import anyio.to_thread
import httpx
import pytest

import survey.collection.demo
from survey.collection.tables import Contact
from survey.tabular import ImportRejected, UploadLimits, read_table
from tests.helpers import CSRF_INPUT
from tests.reliability.live import NO_LIMITS, Server, free_port
from tests.security.hostile import deep_xlsx, huge_cells_csv, wide_csv, zip_bomb_xlsx

pytestmark = pytest.mark.anyio
UNCAPPED = UploadLimits(max_columns=10**7, max_rows=10**7, max_cells=10**8)


def _refusal(name: str, data: bytes, limits: UploadLimits | None = None) -> tuple[str, float]:
    """The refusal's message and the CPU seconds the read took (this process's CPU time, not
    the wall clock: other processes on a loaded machine do not lengthen it)."""
    started = time.process_time()
    with pytest.raises(ImportRejected) as info:
        read_table(name, data, limits)
    return str(info.value), time.process_time() - started


def test_the_duplicate_header_check_is_linear() -> None:
    # 40,000 columns took 14 s with the quadratic check; linear it is milliseconds (CPU time).
    started = time.process_time()
    table = read_table("wide.csv", wide_csv(40_000), UNCAPPED)
    assert len(table.header) == 40_000
    assert time.process_time() - started < 1.0
    duplicated = (",".join([*(f"c{i}" for i in range(40_000)), "c7"]) + "\n").encode()
    message, seconds = _refusal("dup.csv", duplicated, UNCAPPED)
    assert "第1行, 列 c7: 表头中列名重复" in message and seconds < 1.0


@pytest.mark.parametrize(
    ("name", "make", "setting"),
    [
        ("wide.csv", lambda: wide_csv(1_000_000), "PINGAN_UPLOAD_MAX_LINE_CHARS"),
        ("wide.csv", lambda: wide_csv(100_000), "PINGAN_UPLOAD_MAX_COLUMNS"),
        ("deep.xlsx", lambda: deep_xlsx(200_000), "PINGAN_UPLOAD_MAX_ROWS"),
        ("bomb.xlsx", lambda: zip_bomb_xlsx(200), "PINGAN_UPLOAD_MAX_XLSX_BYTES"),
        ("huge.csv", lambda: huge_cells_csv(4, 2_000_000), "PINGAN_UPLOAD_MAX_LINE_CHARS"),
        ("huge.csv", lambda: huge_cells_csv(1, 200_000), "PINGAN_UPLOAD_MAX_CELL_CHARS"),
        ("cell.csv", lambda: huge_cells_csv(2, 20_000), "PINGAN_UPLOAD_MAX_CELL_CHARS"),
    ],
)
def test_each_hostile_file_is_refused_naming_its_limit(name: str, make, setting: str) -> None:  # type: ignore[no-untyped-def]
    message, seconds = _refusal(name, make())
    assert setting in message and "文件超出上限" in message, message
    assert seconds < 15  # deep.xlsx is read up to its 100,001st row; the others stop at once


def test_the_cells_cap_and_the_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = "a,b,c\n" + "1,2,3\n" * 5
    message, _ = _refusal("t.csv", rows.encode(), UploadLimits(max_cells=10))
    assert "最多 10 个单元格" in message and "PINGAN_UPLOAD_MAX_CELLS" in message
    monkeypatch.setenv("PINGAN_UPLOAD_MAX_ROWS", "4")
    message, _ = _refusal("t.csv", rows.encode())
    assert "最多 4 行数据" in message and "第6行" in message
    monkeypatch.setenv("PINGAN_UPLOAD_MAX_ROWS", "5")
    assert len(read_table("t.csv", rows.encode()).rows) == 5  # at the cap: accepted
    monkeypatch.setenv("PINGAN_UPLOAD_MAX_ROWS", "many")
    with pytest.raises(ValueError, match="PINGAN_UPLOAD_MAX_ROWS"):
        UploadLimits.from_env()


def test_an_xlsx_claiming_a_huge_dimension_is_read_by_its_cells() -> None:
    table = read_table("deep.xlsx", deep_xlsx(3))  # <dimension ref="A1:XFD1048576"/>
    assert table.header == ("x",) and [n for n, _ in table.rows] == [2, 3]


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    return (survey.collection.demo,)


async def _curl_upload(
    base: str, client: httpx.AsyncClient, token: str, path: Path
) -> tuple[int, str]:
    """POST ``path`` to the registry import as ``client``'s signed-in user, from a curl process."""
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H", f"Cookie: {cookies}",
        "-F", f"_csrf_token={token}", "-F", f"file=@{path}", f"{base}/admin/registry",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    body, _, status = out.decode("utf-8", "replace").rpartition("\n")
    return int(status), body


async def _probe(client: httpx.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return time.perf_counter() - started


async def test_health_and_a_residents_page_answer_while_hostile_uploads_are_read(
    demo_city: None, tmp_path: Path
) -> None:
    contact = await Contact.select(Contact.token).where(Contact.token != "").first()
    assert contact is not None
    resident_page = f"/s/{contact['token']}"
    server = Server(
        {**os.environ, **NO_LIMITS, "PINGAN_RATE_SURVEY_TOKEN": "0"}, free_port(), workers=1
    )
    await anyio.to_thread.run_sync(server.start)
    files = {
        "wide.csv": wide_csv(1_000_000),
        "wider.csv": wide_csv(100_000),
        "deep.xlsx": deep_xlsx(200_000),
        "bomb.xlsx": zip_bomb_xlsx(200),
        "huge.csv": huge_cells_csv(4, 2_000_000),
    }
    try:
        async with (
            httpx.AsyncClient(base_url=server.base, timeout=120) as admin,
            httpx.AsyncClient(base_url=server.base, timeout=10) as prober,
        ):
            page = await admin.get("/login")
            token = CSRF_INPUT.search(page.text).group(1)  # type: ignore[union-attr]
            signed_in = await admin.post(
                "/login",
                data={"username": "admin", "password": "pingan2026", "_csrf_token": token},
            )
            assert signed_in.status_code == 303
            for _ in range(3):  # warm-up: templates compiled, connections open
                await _probe(prober, "/health")
                await _probe(prober, resident_page)
            for name, content in files.items():
                # The same probes with no upload, just before it: what this machine's load
                # alone does to them now (the bounds below scale with it).
                idle: dict[str, list[float]] = {"/health": [], "resident": []}
                for _ in range(5):
                    idle["/health"].append(await _probe(prober, "/health"))
                    idle["resident"].append(await _probe(prober, resident_page))
                # Sent by curl, another process: the probes time the server, not this loop.
                path = tmp_path / name
                path.write_bytes(content)
                upload = asyncio.create_task(_curl_upload(server.base, admin, token, path))
                latencies: dict[str, list[float]] = {"/health": [], "resident": []}
                while not upload.done():
                    latencies["/health"].append(await _probe(prober, "/health"))
                    latencies["resident"].append(await _probe(prober, resident_page))
                    await asyncio.sleep(0.02)
                status, text = await upload
                assert status == 422, (name, status)
                assert "文件超出上限" in text and "PINGAN_UPLOAD_MAX_" in text
                for what, seen in latencies.items():
                    assert seen, (name, what)
                    # A server reading the upload on its event loop answers nothing until the
                    # read ends (seconds for these files); one probe delayed by the scheduler of a
                    # busy 2-core machine (0.6 s was seen once) is not that. On a quiet machine
                    # the bounds are 0.2 s and 1 s; a loaded one, which slows the idle probes
                    # too, widens them in proportion.
                    ordered = sorted(seen)
                    baseline = sorted(idle[what])[len(idle[what]) // 2]
                    median_bound = max(0.2, 4 * baseline)
                    max_bound = max(1.0, 20 * baseline)
                    assert ordered[len(ordered) // 2] < median_bound, (name, what, ordered[-5:])
                    assert ordered[-1] < max_bound, (name, what, baseline, ordered[-5:])
    finally:
        await anyio.to_thread.run_sync(server.stop)
