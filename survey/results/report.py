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
latest decision on a sanction), the published correction, the time zone and a hash of the code
and templates that draw the report; a new revision replaces the wave's older files. Finding the
revision costs two small queries: a hit reads no results, draws no chart and imports no
WeasyPrint (docs/benchmarks.md, "Whole processes").
"""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
import tempfile
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from survey.results.dashboard import WaveView, view_revision, wave_view
from survey.results.records import REVIEW_NAMES
from survey.results.revisions import RevisionInfo, current_correction, revisions_for_wave
from survey.results.waves import wave_by_id
from survey.settings import cache_dir, database_url, installation_timezone, local_time

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.globals["REVIEW_NAMES"] = REVIEW_NAMES


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
    return _ENV.get_template("report/report.html").render(
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


def _cache_file(wave_id: int, district_code: str | None, fmt: str, key: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    # database and district as short hashes (a district code is not trusted as a file name)
    owner = hashlib.sha256(database_url().encode()).hexdigest()[:12]
    district = hashlib.sha256((district_code or "").encode()).hexdigest()[:8]
    return folder / "reports" / f"{owner}-w{wave_id}-{district}-{key}.{fmt}"


def _read_cached(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_cached(path: Path | None, content: bytes) -> None:
    """Keep ``content`` at ``path`` (written whole, then renamed) and drop the same report's
    files of other revisions. A cache that cannot be written is skipped silently."""
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        prefix = path.name.rsplit("-", 1)[0] + "-"
        for old in path.parent.glob(f"{prefix}*{path.suffix}"):
            if old != path:
                old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except OSError:
        return


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


async def render_report(
    wave_id: int, fmt: str, *, district_code: str | None = None
) -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of the wave's report in ``pdf`` or ``html``,
    rendered once per revision of the stored results (see the module doc)."""
    media = MEDIA.get(fmt)
    if media is None:
        raise ReportError(f"不支持的报告格式 {fmt}（pdf、html）")
    wave = await wave_by_id(wave_id)
    revision = await view_revision(wave, district_code)
    if revision is None:
        raise ReportError(f"测评期 {wave.month} 尚未计算结果，请先计算")
    name = f"report-{wave.programme_code}-{wave.month}.{fmt}"
    correction = current_correction(await revisions_for_wave(wave_id))
    key = _key(wave_id, district_code, fmt, revision, correction)
    content = _RENDERED.get(key)
    if content is None:
        path = _cache_file(wave_id, district_code, fmt, key)
        content = _read_cached(path)
        if content is None:
            if fmt == "pdf":
                check_pdf_backend()
            view = await wave_view(wave_id, district_code, unit_trends=False)
            if view.revision != revision:  # recomputed meanwhile: keep it under its own key
                key = _key(wave_id, district_code, fmt, view.revision, correction)
                path = _cache_file(wave_id, district_code, fmt, key)
            html = render_html(view, correction=correction)
            content = html.encode("utf-8") if fmt == "html" else html_to_pdf(html)
            _write_cached(path, content)
        _RENDERED[key] = content
        while len(_RENDERED) > _RENDERED_SIZE:
            _RENDERED.popitem(last=False)
    else:
        _RENDERED.move_to_end(key)
    return content, media, name
