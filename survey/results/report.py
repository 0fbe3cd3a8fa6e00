"""The monthly report (月度通报) as HTML and PDF.

HTML comes from ``templates/report/report.html`` (self-contained: its CSS inline, charts as
``<img>`` data-URI SVGs drawn by ``survey.results.charts``, text as text in the embedded font); the PDF is WeasyPrint's rendering of the same HTML with Noto Sans CJK SC
(regular and real bold) embedded. WeasyPrint subsets fonts with HarfBuzz when Debian's
``libharfbuzz-subset0`` is present and otherwise silently falls back to fontTools, ten times
slower (12 s instead of 1 s per report): ``check_pdf_backend`` refuses to run in that state.
"""

from __future__ import annotations

import datetime
from collections import OrderedDict
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from survey.results.dashboard import WaveView, wave_view
from survey.results.revisions import RevisionInfo, current_correction, revisions_for_wave
from survey.settings import installation_timezone, local_time

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


# Rendered reports by (wave, district, format, revision of the stored results): the app renders
# a report once per revision and answers again from memory (docs/benchmarks.md, "Report PDF").
_RENDERED: OrderedDict[tuple[int, str | None, str, str], bytes] = OrderedDict()
_RENDERED_SIZE = 16


class ReportError(Exception):
    """The report cannot be produced (no results yet, PDF backend missing)."""


def check_pdf_backend() -> None:
    """Fail loudly unless WeasyPrint can subset fonts with HarfBuzz (see the module doc)."""
    try:
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


async def render_report(
    wave_id: int, fmt: str, *, district_code: str | None = None
) -> tuple[bytes, str, str]:
    """``(content, media type, file name)`` of the wave's report in ``pdf`` or ``html``."""
    if fmt == "pdf":
        check_pdf_backend()
    view = await wave_view(wave_id, district_code, unit_trends=False)
    if view.run is None:
        raise ReportError(f"测评期 {view.wave.month} 尚未计算结果，请先计算")
    stem = f"report-{view.wave.programme_code}-{view.wave.month}"
    media = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}.get(fmt)
    if media is None:
        raise ReportError(f"不支持的报告格式 {fmt}（pdf、html）")
    key = (wave_id, district_code, fmt, view.revision)
    content = _RENDERED.get(key)
    if content is None:
        correction = current_correction(await revisions_for_wave(wave_id))
        html = render_html(view, correction=correction)
        content = html.encode("utf-8") if fmt == "html" else html_to_pdf(html)
        _RENDERED[key] = content
        while len(_RENDERED) > _RENDERED_SIZE:
            _RENDERED.popitem(last=False)
    else:
        _RENDERED.move_to_end(key)
    return content, media, f"{stem}.{fmt}"
