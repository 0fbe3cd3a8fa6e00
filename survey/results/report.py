"""The monthly report (月度通报) as HTML and PDF.

HTML comes from ``templates/report/report.html`` (self-contained: its CSS inline, charts as
``<img>`` data-URI SVGs drawn by ``survey.results.charts``, text as text in the embedded font); the PDF is WeasyPrint's rendering of the same HTML with Noto Sans CJK SC
(regular and real bold) embedded. WeasyPrint subsets fonts with HarfBuzz when Debian's
``libharfbuzz-subset0`` is present and otherwise silently falls back to fontTools, ten times
slower (12 s instead of 1 s per report): ``check_pdf_backend`` refuses to run in that state.

A rendered report is kept per revision of the stored results: in memory (the app answers a
second request at once) and on disk under ``survey.settings.cache_dir()`` (a later process, the
command line included, reads the file instead of rendering again). The key holds the database,
the wave, the district, the format, the view's revision (its programme's result runs and the
latest decision on a sanction: ``survey.results.stamps``), the published correction, the time
zone and a hash of the code and templates that draw the report; a new revision replaces the
wave's older files. Finding the revision costs three small queries, and a report on disk is
answered without importing the dashboard, its charts, Jinja, numpy or WeasyPrint (they are
imported by ``_draw``, on a miss only; docs/benchmarks.md, "Whole processes").

Drawing a PDF takes seconds (WeasyPrint), so nobody should be the first to ask for a new
revision's report: whatever makes one (computing a wave, publishing a correction, a decision on
a sanction) calls :func:`draw_ahead` after its transaction, which starts a detached process
(``survey.results.draw_ahead``) that draws the wave's whole-programme PDF and HTML, and those of
the programme's later computed waves, into the disk cache, while the command or request returns.
One drawer at a time per report: whoever draws (the app, the command line, the background
drawer) holds the report's lock (``locks/`` in the cache folder, ``flock``), and an asker who
finds no file waits on that lock (``LOCK_TIMEOUT``), then reads the file the drawer wrote
instead of drawing a second copy. A drawer that dies leaves no lock (``flock`` ends with its
process) and no partial report (files are written whole, then renamed). ``PINGAN_DRAW_AHEAD=off``
(or no cache) switches drawing ahead off: the first asker draws, as before.
"""

from __future__ import annotations

import asyncio
import datetime
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from survey.results.revisions import RevisionInfo, current_correction, revisions_for_wave
from survey.results.stamps import view_revision
from survey.results.waves import wave_by_id
from survey.settings import (
    cache_dir,
    database_url,
    draw_ahead_on,
    installation_timezone,
    local_time,
)

if TYPE_CHECKING:
    from jinja2 import Environment

    from survey.results.dashboard import WaveView

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@lru_cache(maxsize=1)
def _env() -> Environment:
    """The report's Jinja environment (built on first use: a report on disk needs none)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from survey.results.records import REVIEW_NAMES

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["REVIEW_NAMES"] = REVIEW_NAMES
    return env


# Rendered reports by (wave, district, format, revision of the stored results): the app renders
# a report once per revision and answers again from memory (docs/benchmarks.md, "Report PDF").
_RENDERED: OrderedDict[str, bytes] = OrderedDict()
_RENDERED_SIZE = 16
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
#: What draws the report: a change to any of these files is a new key for every cached report.
CODE_FILES = (
    Path(__file__),
    Path(__file__).with_name("dashboard.py"),
    Path(__file__).with_name("charts.py"),
    Path(__file__).with_name("changes.py"),
    Path(__file__).with_name("records.py"),  # the review states' words
    TEMPLATES / "report" / "report.html",
    TEMPLATES / "results" / "_change.html",
    TEMPLATES / "results" / "_review.html",
)
#: Reports this process has drawn, by format (the background drawer's log tells drawn from found).
DRAWN: Counter[str] = Counter()
#: How long an asker waits for another process drawing the same report before drawing it too.
LOCK_TIMEOUT = 120.0
_LOCK_POLL = 0.02


class ReportError(Exception):
    """The report cannot be produced (no results yet, PDF backend missing)."""


def _import_weasyprint() -> None:
    """Import WeasyPrint without its library search.

    WeasyPrint opens Pango, HarfBuzz and fontconfig by trying each library's Windows and macOS
    names before the Linux one (``libpango-1.0.so.0``); for every name that is not a file, cffi
    asks ``ctypes.util.find_library``, which on Linux runs ``ldconfig``, ``gcc`` and ``ld``: 54
    subprocesses, 0.14 s of CPU and 0.3–1 s of wall clock in every process that prints a PDF
    (measured here, docs/benchmarks.md). The names that do exist load directly by name, so the
    search is switched off while WeasyPrint is imported; a missing library still fails, with
    WeasyPrint's own message."""
    if "weasyprint.text.ffi" in sys.modules:
        return
    import ctypes.util

    search = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        import weasyprint.text.ffi  # noqa: F401
    finally:
        ctypes.util.find_library = search


def check_pdf_backend() -> None:
    """Fail loudly unless WeasyPrint can subset fonts with HarfBuzz (see the module doc)."""
    try:
        _import_weasyprint()
        from weasyprint.text import ffi
    except ImportError as exc:  # pragma: no cover - weasyprint is a pinned dependency
        raise ReportError(f"无法加载 WeasyPrint：{exc}") from exc
    if getattr(ffi, "harfbuzz_subset", None) is None:
        raise ReportError(
            "WeasyPrint 找不到 HarfBuzz 字体子集库（Debian 包 libharfbuzz-subset0），"
            "生成 PDF 会慢十倍：请运行 scripts/setup-system.sh 安装后重试"
        )


def render_html(
    view: WaveView,
    *,
    generated: datetime.datetime | None = None,
    correction: RevisionInfo | None = None,
) -> str:
    """The report's HTML for a wave view (``correction``: the published correction it shows,
    printed under the title as 「更正」 with its date and reason)."""
    when = generated or datetime.datetime.now(tz=datetime.UTC)
    template = _env().get_template("report/report.html")
    return template.render(
        view=view,
        generated=f"{local_time(when)}（{installation_timezone().key}）",
        correction=correction,
    )


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of ``html`` (WeasyPrint, fonts embedded and subset)."""
    check_pdf_backend()
    from weasyprint import HTML

    pdf = HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the files that draw the report (``CODE_FILES``)."""
    digest = hashlib.sha256()
    for path in CODE_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def database_owner() -> str:
    """The database, as a short hash (reports of two databases never share a file)."""
    return hashlib.sha256(database_url().encode()).hexdigest()[:12]


def _cache_file(wave_id: int, district_code: str | None, fmt: str, key: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    # database and district as short hashes (a district code is not trusted as a file name)
    district = hashlib.sha256((district_code or "").encode()).hexdigest()[:8]
    return folder / "reports" / f"{database_owner()}-w{wave_id}-{district}-{key}.{fmt}"


def _report_name(path: Path) -> str:
    """The report a cache file is a revision of: its name without the key
    (``owner-wWAVE-district``)."""
    return path.name.rsplit("-", 1)[0]


def _read_cached(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_cached(path: Path | None, content: bytes) -> None:
    """Keep ``content`` at ``path`` (written whole to a temporary file, then renamed: a reader
    never sees part of a report) and drop the same report's files of other revisions, and the
    temporary files of a drawer that died (called under the report's lock: no other drawer of
    it is writing). A cache that cannot be written is skipped silently."""
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        prefix = _report_name(path) + "-"
        for old in path.parent.glob(f"{prefix}*{path.suffix}"):
            if old != path:
                old.unlink(missing_ok=True)
        for dead in path.parent.glob(f".{prefix}*{path.suffix}.tmp"):
            dead.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{prefix}", suffix=f"{path.suffix}.tmp"
        )
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def _lock_file(path: Path) -> Path:
    """The lock of the report ``path`` is a revision of (one per database, wave, district and
    format; never deleted — a lock file removed while another process waits on it would let
    two drawers in)."""
    return path.parent.parent / "locks" / f"{_report_name(path)}{path.suffix}.lock"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@asynccontextmanager
async def _drawing(path: Path | None) -> AsyncIterator[bool]:
    """Hold the lock of the report at ``path`` for the block: whoever draws it (the app, the
    command line, the background drawer) draws it alone, and an asker that comes meanwhile
    waits here (up to ``LOCK_TIMEOUT``, polling, so the app's event loop runs on) and then finds
    the file. Yields whether the lock is held (False: no cache, the lock file cannot be made, or
    the wait timed out — the caller draws anyway). ``flock`` belongs to the open file: a drawer
    that dies releases it with its process, and no stale lock is left behind."""
    if path is None:
        yield False
        return
    try:
        lock = _lock_file(path)
        lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield False
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        held = _try_lock(fd)
        while not held and time.monotonic() < deadline:
            await asyncio.sleep(_LOCK_POLL)
            held = _try_lock(fd)
        yield held
    finally:
        os.close(fd)  # releases the lock


def _key(
    wave_id: int,
    district_code: str | None,
    fmt: str,
    revision: str,
    correction: RevisionInfo | None,
) -> str:
    shown = None if correction is None else (correction.number, str(correction.published_at))
    parts = (wave_id, district_code, fmt, revision, shown, installation_timezone().key)
    text = repr((*parts, code_version()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


async def _wanted(
    wave_id: int, fmt: str, district_code: str | None
) -> tuple[str, str, RevisionInfo | None]:
    """The file name a person gets, the key of the current revision's report and the published
    correction it shows: three small queries."""
    if fmt not in MEDIA:
        raise ReportError(f"不支持的报告格式 {fmt}（pdf、html）")
    wave = await wave_by_id(wave_id)
    revision = await view_revision(wave, district_code)
    if revision is None:
        raise ReportError(f"测评期 {wave.month} 尚未计算结果，请先计算")
    correction = current_correction(await revisions_for_wave(wave_id))
    key = _key(wave_id, district_code, fmt, revision, correction)
    return f"report-{wave.programme_code}-{wave.month}.{fmt}", key, correction


async def report_file(wave_id: int, fmt: str, *, district_code: str | None = None) -> Path | None:
    """Where the report of the results' current revision is kept on disk (whether or not it
    is drawn yet); None when the cache is off."""
    _name, key, _correction = await _wanted(wave_id, fmt, district_code)
    return _cache_file(wave_id, district_code, fmt, key)


async def render_report(
    wave_id: int, fmt: str, *, district_code: str | None = None
) -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of the wave's report in ``pdf`` or ``html``,
    rendered once per revision of the stored results (see the module doc)."""
    name, key, correction = await _wanted(wave_id, fmt, district_code)
    content = _RENDERED.get(key)
    if content is None:
        path = _cache_file(wave_id, district_code, fmt, key)
        content = _read_cached(path)
        if content is None:
            async with _drawing(path):
                content = _read_cached(path)  # drawn by whoever held the lock before us
                if content is None:
                    content, key = await _draw(wave_id, district_code, fmt, key, correction)
        _RENDERED[key] = content
        while len(_RENDERED) > _RENDERED_SIZE:
            _RENDERED.popitem(last=False)
    else:
        _RENDERED.move_to_end(key)
    return content, MEDIA[fmt], name


async def _draw(
    wave_id: int,
    district_code: str | None,
    fmt: str,
    key: str,
    correction: RevisionInfo | None,
) -> tuple[bytes, str]:
    """Draw the report (the view, its charts, the template, WeasyPrint: imported here, on a
    miss only) and keep it on disk; returns it with its key (another one when the wave was
    recomputed meanwhile: the report is then kept under the revision it shows)."""
    from survey.results.dashboard import wave_view

    if fmt == "pdf":
        check_pdf_backend()
    view = await wave_view(wave_id, district_code, unit_trends=False)
    key = _key(wave_id, district_code, fmt, view.revision, correction)
    html = render_html(view, correction=correction)
    content = html.encode("utf-8") if fmt == "html" else html_to_pdf(html)
    _write_cached(_cache_file(wave_id, district_code, fmt, key), content)
    DRAWN[fmt] += 1
    return content, key


# --- drawing ahead ----------------------------------------------------------------------------


def draw_ahead_folder() -> Path | None:
    """Where requests to draw ahead wait (``draw-ahead/`` in the cache folder); None when drawing
    ahead is off (``PINGAN_DRAW_AHEAD=off``) or there is no cache."""
    folder = cache_dir()
    return None if folder is None or not draw_ahead_on() else folder / "draw-ahead"


def waiting_requests(folder: Path) -> list[Path]:
    """This database's requests waiting in ``folder`` (files ``<database>-w<wave>``)."""
    return list(folder.glob(f"{database_owner()}-w*"))


def open_drawer_lock(folder: Path) -> int:
    """A descriptor of this database's drawer lock (``<database>.lock`` in ``folder``), which
    the drawer holds while it works (``flock``)."""
    return os.open(folder / f"{database_owner()}.lock", os.O_RDWR | os.O_CREAT, 0o600)


def _drawer_idle(folder: Path) -> bool:
    """Whether no drawer of this database is at work (its lock is free)."""
    fd = open_drawer_lock(folder)
    try:
        return _try_lock(fd)
    finally:
        os.close(fd)  # releases it again


def draw_ahead(wave_id: int) -> None:
    """Have the whole-programme report of wave ``wave_id`` (PDF, then HTML) and of the
    programme's later computed waves drawn into the disk cache now, by a detached background
    process (``python -m survey.results.draw_ahead``), so that nobody is the first to ask for
    a new revision's report. The one way to ask for it: called by whatever makes a new revision
    of the stored results — computing a wave, publishing a correction, a decision on a sanction
    — **after** its transaction has committed (the drawer reads the database as it is then).
    Returns at once; nothing happens when drawing ahead or the cache is off.

    Requests are files ``draw-ahead/<database>-w<wave>``; one drawer per database works through
    them, holding ``draw-ahead/<database>.lock``. A request made while a drawer works is taken
    up by it (it looks again before it exits); otherwise a new drawer is started. The drawer's
    errors go to ``draw-ahead.log`` in the cache folder."""
    folder = draw_ahead_folder()
    if folder is None:
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        (folder / f"{database_owner()}-w{int(wave_id)}").touch()
        if not _drawer_idle(folder):  # a drawer at work sees the request; else start one
            return
        with open_log(folder.parent) as log:
            drawer = subprocess.Popen(
                [sys.executable, "-m", "survey.results.draw_ahead"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,  # what the drawer cannot log itself (a crash at start-up)
                start_new_session=True,  # outlives the command or request that asked
                env=dict(
                    os.environ,
                    PINGAN_DATABASE_URL=database_url(),
                    PINGAN_CACHE_DIR=str(folder.parent.resolve()),
                ),
            )
        # Reaped when it ends (a long-running app would otherwise keep it as a zombie until
        # its next subprocess); a daemon thread does not keep a command from exiting.
        threading.Thread(target=drawer.wait, name="draw-ahead-reaper", daemon=True).start()
    except OSError as exc:  # no drawing ahead: the first asker draws, as without it
        print(f"无法在后台预先生成报告：{exc}", file=sys.stderr)


def open_log(folder: Path) -> BinaryIO:
    """``draw-ahead.log`` in the cache folder ``folder``, to append to (readable by its owner
    only, as the reports are)."""
    return os.fdopen(
        os.open(folder / "draw-ahead.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab"
    )


def drawing_ahead() -> bool:
    """Whether a drawer is at work or a request waits for one (benchmarks and tests wait on
    this; False when drawing ahead is off)."""
    folder = draw_ahead_folder()
    if folder is None or not folder.is_dir():
        return False
    if waiting_requests(folder):
        return True
    try:
        return not _drawer_idle(folder)
    except OSError:
        return False
