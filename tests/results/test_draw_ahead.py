"""Reports drawn ahead (issue 17): a new revision of a wave's results starts a background
drawer of its report, so that the person who asks next finds it on disk; one drawer at a time per
report (a person who asks while it draws waits for it, nobody draws it twice); a drawer that dies
leaves no lock and no partial file; ``PINGAN_DRAW_AHEAD=off`` or no cache: nothing happens."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from survey.collection.tables import Response
from survey.db.tables import Wave
from survey.results import report as report_module
from survey.results.compute import compute_wave
from survey.results.report import draw_ahead, drawing_ahead, render_report, report_file
from tests.results.test_report_and_web import _waves

pytestmark = pytest.mark.anyio
WAIT = 300.0  # seconds: a PDF takes 2–15 s to draw here, more on a loaded 2-core machine

# A person running `survey report` in a process of its own: prints whether it imported
# WeasyPrint (whether it drew the PDF itself) and the modules it loaded.
PERSON = """
import contextlib, io, json, sys
import survey.cli
with contextlib.redirect_stdout(io.StringIO()):
    assert survey.cli.main(["report", sys.argv[1], "--format", sys.argv[2], "-o", sys.argv[3]]) == 0
print(json.dumps(sorted(sys.modules)))
"""


def person(month: str, fmt: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PERSON, month, fmt, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def modules_of(process: subprocess.Popen[str]) -> set[str]:
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    return set(json.loads(out.strip().splitlines()[-1]))


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def locked(path: Path) -> bool:
    """Whether another process holds the flock on ``path``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.fixture()
async def drawing_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Path]:
    """Drawing ahead switched on, into a cache folder of the test's own (yielded); the test
    ends only when the background drawer has (it must not outlive the test's database)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(cache))
    monkeypatch.setenv("PINGAN_DRAW_AHEAD", "on")
    report_module._RENDERED.clear()
    try:
        yield cache
    finally:
        deadline = time.monotonic() + WAIT
        while drawing_ahead() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        lock = next((cache / "draw-ahead").glob("*.lock"), None)
        if drawing_ahead() and lock is not None:  # stuck: stop it, and say so
            os.kill(int(lock.read_text()), signal.SIGKILL)
            pytest.fail("the background drawer did not finish")


def zombie_children() -> list[int]:
    """This process's children that have ended and were not reaped (state Z in /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def log_lines(cache: Path) -> list[str]:
    log = cache / "draw-ahead.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


async def test_a_recomputed_wave_is_drawn_ahead(drawing_on: Path, demo_city: None) -> None:
    cache = drawing_on
    wave_id = (await _waves())["2026-10"]

    async def counted() -> int:  # the reference: the completed probability answers stored
        return int(
            await Response.count().where(
                (Response.wave == wave_id)
                & (Response.status == "completed")
                & (Response.non_probability == False)  # noqa: E712
            )
        )

    before = await counted()
    old_html = (await render_report(wave_id, "html"))[0].decode("utf-8")
    assert f"有效问卷 {before} 份" in old_html
    # the wave reopened and a third of its answers gone (test set-up), then computed again
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave_id)
    ids = await Response.select(Response.id).where(Response.wave == wave_id)
    await Response.delete().where(Response.id.is_in([r["id"] for r in ids[::3]]))
    after = await counted()
    assert 0 < after < before

    started = time.monotonic()
    await compute_wave(wave_id, username="test")
    assert drawing_ahead()  # asked for, in the background: the computation did not wait for it
    pdf, html = await report_file(wave_id, "pdf"), await report_file(wave_id, "html")
    assert pdf is not None and html is not None
    # a person asks right away: either the drawer is at it and they wait for its file, or they
    # come first and draw it while the drawer waits — never both
    first = person("2026-10", "pdf", cache / "first.pdf")
    drew_first = "weasyprint" in modules_of(first)
    await until(lambda: not drawing_ahead(), "the background drawer")
    lines = log_lines(cache)
    drawn_ahead = [line for line in lines if f"wave {wave_id} pdf drawn" in line]
    assert len(drawn_ahead) + drew_first == 1, lines
    assert (cache / "first.pdf").read_bytes() == pdf.read_bytes()
    assert not any("failed" in line for line in lines), lines
    # the drawer, a child of this process, is reaped when it ends (no zombie in a long-running app)
    await until(lambda: not zombie_children(), "the ended drawer to be reaped")
    # the drawn report is the new revision's: its figures are from the remaining answers
    drawn_html = html.read_text(encoding="utf-8")
    assert f"有效问卷 {after} 份" in drawn_html and f"有效问卷 {before} 份" not in drawn_html
    # the next person finds it on disk and draws nothing
    later = modules_of(person("2026-10", "pdf", cache / "later.pdf"))
    assert "weasyprint" not in later and "survey.results.dashboard" not in later
    assert (cache / "later.pdf").read_bytes() == pdf.read_bytes()
    assert time.monotonic() - started < WAIT


async def test_an_asker_waits_for_the_drawer_and_does_not_draw_again(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))
    wave_id = (await _waves())["2026-10"]
    path = await report_file(wave_id, "pdf")
    assert path is not None
    lock = report_module._lock_file(path)
    lock.parent.mkdir(parents=True)
    # this test is the drawer: it holds the report's lock…
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        asker = person("2026-10", "pdf", tmp_path / "asked.pdf")
        # …until the asker, having found no file, waits on the lock
        await until(
            lambda: (
                any(
                    os.path.realpath(f"/proc/{asker.pid}/fd/{n}") == str(lock)
                    for n in os.listdir(f"/proc/{asker.pid}/fd")
                )
                or asker.poll() is not None
            ),
            "the asker to wait on the lock",
        )
        assert asker.poll() is None, asker.communicate()
        await asyncio.sleep(0.3)
        assert asker.poll() is None  # still waiting
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%PDF-1.7 drawn by the other process")
    finally:
        os.close(fd)
    modules = modules_of(asker)
    assert (tmp_path / "asked.pdf").read_bytes() == b"%PDF-1.7 drawn by the other process"
    assert "weasyprint" not in modules


async def test_two_askers_at_once_draw_the_report_once(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))
    report_module._RENDERED.clear()
    wave_id = (await _waves())["2026-10"]
    drawn: list[int] = []
    real = report_module.render_html

    def counting(*args: Any, **kwargs: Any) -> str:
        drawn.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(report_module, "render_html", counting)
    one, two = await asyncio.gather(render_report(wave_id, "html"), render_report(wave_id, "html"))
    assert one == two and len(drawn) == 1


async def test_a_killed_drawer_leaves_no_lock_and_no_partial_file(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))
    report_module._RENDERED.clear()
    wave_id = (await _waves())["2026-10"]
    pdf = await report_file(wave_id, "pdf")
    assert pdf is not None
    lock = report_module._lock_file(pdf)
    drawer = person("2026-10", "pdf", tmp_path / "never.pdf")
    await until(
        lambda: (lock.exists() and locked(lock)) or drawer.poll() is not None, "the drawer's lock"
    )
    drawer.send_signal(signal.SIGKILL)
    drawer.communicate(timeout=WAIT)
    assert drawer.returncode == -signal.SIGKILL  # killed while drawing, not finished
    assert not locked(lock)  # the kernel released its lock with the process
    assert not pdf.exists() and not (tmp_path / "never.pdf").exists()
    # a drawer killed while writing leaves only a hidden temporary file: the next drawer of
    # that report removes it
    html = await report_file(wave_id, "html")
    assert html is not None
    html.parent.mkdir(parents=True, exist_ok=True)
    dead = html.parent / f".{html.name.rsplit('-', 1)[0]}-x1y2z3.html.tmp"
    dead.write_bytes(b"<!doctype html><p>half a rep")
    content = (await render_report(wave_id, "html"))[0]
    assert html.read_bytes() == content and not dead.exists()
    assert sorted(p.name for p in html.parent.iterdir()) == [html.name]


def test_off_and_without_a_cache_nothing_is_drawn_ahead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[dict[str, Any]] = []

    class Popen:
        def __init__(self, argv: list[str], **kwargs: Any) -> None:
            started.append({"argv": argv, **kwargs})

        def wait(self) -> int:  # the reaper thread's call
            return 0

    monkeypatch.setattr(report_module.subprocess, "Popen", Popen)
    cache = tmp_path / "cache"
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(cache))
    monkeypatch.setenv("PINGAN_DRAW_AHEAD", "off")
    draw_ahead(7)
    assert started == [] and not cache.exists() and not drawing_ahead()
    monkeypatch.setenv("PINGAN_DRAW_AHEAD", "on")
    monkeypatch.setenv("PINGAN_CACHE_DIR", "off")
    draw_ahead(7)
    assert started == [] and not cache.exists() and not drawing_ahead()

    # on: a request file and one detached drawer, told where the database and the cache are
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(cache))
    draw_ahead(7)
    assert len(started) == 1
    call = started[0]
    assert call["argv"][1:] == ["-m", "survey.results.draw_ahead"]
    assert call["start_new_session"] is True
    assert call["stdin"] == call["stdout"] == subprocess.DEVNULL
    assert call["env"]["PINGAN_CACHE_DIR"] == str(cache.resolve())
    assert call["env"]["PINGAN_DATABASE_URL"] == os.environ["PINGAN_DATABASE_URL"]
    requests = sorted(p.name for p in (cache / "draw-ahead").glob("*-w*"))
    assert [r.rsplit("-", 1)[1] for r in requests] == ["w7"] and drawing_ahead()
    # while a drawer works, a new request is left to it: no second process
    fd = os.open(next((cache / "draw-ahead").glob("*.lock")), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        draw_ahead(8)
    finally:
        os.close(fd)
    assert len(started) == 1
    requests = sorted(p.name for p in (cache / "draw-ahead").glob("*-w*"))
    assert [r.rsplit("-", 1)[1] for r in requests] == ["w7", "w8"]


async def test_every_new_revision_asks_for_its_report(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 申诉 lodged and decided 维持 (a decision beside the stored sanction), a correction
    # published: each asks for the wave's report; a draft correction (nothing a reader sees) does not
    from survey.results.appeals import add_appeal, decide_appeal
    from survey.results.publishing import set_status
    from survey.results.revisions import revise_wave

    started: list[list[str]] = []

    class Popen:
        def __init__(self, argv: list[str], **kwargs: Any) -> None:
            started.append(argv)

        def wait(self) -> int:  # the reaper thread's call
            return 0

    monkeypatch.setattr(report_module.subprocess, "Popen", Popen)
    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PINGAN_DRAW_AHEAD", "on")
    waves = await _waves()

    def asked() -> list[int]:
        found = sorted(int(p.name.rsplit("-w", 1)[1]) for p in tmp_path.glob("draw-ahead/*-w*"))
        for request in tmp_path.glob("draw-ahead/*-w*"):
            request.unlink()
        return found

    appeal = await add_appeal(waves["2026-09"], "990102P06", grounds="理由", username="admin")
    assert asked() == [waves["2026-09"]]
    await decide_appeal(appeal.id, outcome="维持", reason="维持原处理", username="committee")
    assert asked() == [waves["2026-09"]]
    await revise_wave(waves["2026-10"], reason="更正", username="test")
    assert asked() == []
    await set_status(waves["2026-10"], "published", username="test")
    assert asked() == [waves["2026-10"]]
    assert len(started) == 3  # no drawer at work: each request started one
