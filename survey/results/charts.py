"""Server-side charts as lean SVG written for the purpose (no plotting library).

Each chart is a few dozen elements — lines, circles, polylines and ``<text>`` in Noto Sans CJK SC
(the font the report embeds and the pages name) — so WeasyPrint draws the monthly report's
seven charts in a fraction of what matplotlib's SVG (every glyph an outline path: 868 path nodes)
cost it, and no plotting library is imported at all. docs/benchmarks.md ("PDF charts") has the
measurements against matplotlib SVG and PNG at print resolution. The look follows the earlier
matplotlib charts: same sizes (6.4 in wide at 100 px per inch), colours, tick steps and labels.

Every function returns SVG text; ``data_uri`` wraps it for ``<img src=…>`` (the report embeds
charts that way; the dashboard links them as separately cached resources).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

RED = "#b3261e"
GREEN = "#1e7b34"
BLUE = "#1f5fa8"
GREY = "#777777"
NEUTRAL = "#8a8a8a"
AMBER = "#b26a00"
GRID = "#dddddd"
INK = "#222222"
# matplotlib's default colour cycle (the trend lines keep their colours)
CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
FONT = "Noto Sans CJK SC, Noto Sans CJK, DejaVu Sans, sans-serif"
WIDTH = 640
TICK = 12  # px: tick labels (matplotlib's 9 pt at 100 dpi)
SMALL = 10  # px: legends and point labels
TITLE = 14


def data_uri(svg: str) -> str:
    """``data:image/svg+xml;base64,…`` for an ``<img>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Point:
    """One unit on a chart: label, estimate, interval (None = no interval), n_eff, whether it
    is under a warning (``flagged``) or praised (``praised``)."""

    label: str
    estimate: float
    lower: float | None
    upper: float | None
    n_eff: float = 0.0
    flagged: bool = False
    praised: bool = False


# One colour meaning on every chart of units (forest and funnel alike):
#: red — under a warning, or its 95 % interval lies below the reference (target or mean);
#: green — praised, or its interval lies above the reference; grey — not distinguishable.
TONES = {"low": RED, "high": GREEN, "neutral": NEUTRAL}
TONE_LEGEND = (
    ("预警或显著低于", RED),
    ("表扬或显著高于", GREEN),
    ("无显著差异", NEUTRAL),
)


def tone(p: Point, reference: float | None) -> str:
    """``low`` / ``high`` / ``neutral`` for ``p`` against ``reference`` (see ``TONES``)."""
    if p.flagged:
        return "low"
    if p.praised:
        return "high"
    if reference is not None and p.upper is not None and p.upper < reference:
        return "low"
    if reference is not None and p.lower is not None and p.lower > reference:
        return "high"
    return "neutral"


def _tone_legend(svg: _Svg, x: float, y: float, what: str, *, stacked: bool = False) -> None:
    """The colour key from (x, y): in one row, or ``stacked`` one entry a line."""
    for label, color in TONE_LEGEND:
        text = label + (what if color != NEUTRAL else "")
        if stacked:  # the narrow key beside the funnel: short words
            text = {RED: "预警或偏低", GREEN: "表扬或偏高"}.get(color, label)
        svg.circle(x + 4, y - 4, 4, color)
        svg.text(x + 11, y, text, size=SMALL)
        if stacked:
            y += 15
        else:
            x += 11 + text_width(text, SMALL) + 12


def _covers(
    markers: Sequence[tuple[float, float]],
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    own: tuple[float, float],
) -> bool:
    """Whether the box [x0, x1] × [y0, y1] touches a marker (radius 4.5) other than ``own``."""
    return any(
        (mx, my) != own and x0 - 4.5 <= mx <= x1 + 4.5 and y0 - 4.5 <= my <= y1 + 4.5
        for mx, my in markers
    )


def spread_labels(ys: Sequence[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label positions for points at ``ys`` (pixels), moved apart to at least ``gap`` and kept
    within [lo, hi], each as close to its point as the others allow (order kept)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    placed = [ys[i] for i in order]
    for k in range(1, len(placed)):  # push down
        placed[k] = max(placed[k], placed[k - 1] + gap)
    if placed and placed[-1] > hi:  # then back up from the bottom edge
        placed[-1] = hi
        for k in range(len(placed) - 2, -1, -1):
            placed[k] = min(placed[k], placed[k + 1] - gap)
    placed = [max(v, lo) for v in placed]
    out = [0.0] * len(ys)
    for k, i in enumerate(order):
        out[i] = placed[k]
    return out


def text_width(text: str, size: float) -> float:
    """Approximate rendered width: CJK glyphs are one em, Latin about 0.55 em."""
    return sum(size if ord(c) > 0x2E7F else 0.55 * size for c in text)


def nice_ticks(lo: float, hi: float, count: int = 8) -> list[float]:
    """Round tick values covering [lo, hi] with steps of 1, 2, 2.5 or 5 × 10^k (as matplotlib)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    """A tick label: whole numbers in full (``1000000``, never ``1e+06``), others as ``%g``."""
    if math.isfinite(value) and abs(value) < 1e15 and value == int(value):
        return str(int(value))
    return f"{value:g}"


class _Svg:
    """A tiny SVG writer: elements appended as text, coordinates rounded to 0.1 px."""

    def __init__(self, width: float, height: float) -> None:
        self.width = width
        self.height = height
        self.parts: list[str] = []

    def line(
        self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.0,
        dash: str = "", opacity: float = 1.0,
    ) -> None:  # fmt: skip
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        if opacity < 1:
            extra += f' stroke-opacity="{opacity:g}"'
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{color}" stroke-width="{width:g}"{extra}/>'
        )

    def polyline(
        self, points: Sequence[tuple[float, float]], color: str, width: float = 1.0, dash: str = ""
    ) -> None:
        if len(points) < 2:
            return
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="{width:g}"{extra}/>'
        )

    def circle(self, x: float, y: float, r: float, color: str, opacity: float = 1.0) -> None:
        extra = f' fill-opacity="{opacity:g}"' if opacity < 1 else ""
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:g}" fill="{color}"{extra}/>')

    def text(
        self, x: float, y: float, content: str, *, size: float = TICK, anchor: str = "start",
        color: str = INK, rotate: bool = False,
    ) -> None:  # fmt: skip
        transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}" '
            f'fill="{color}"{transform}>{escape(content)}</text>'
        )

    def render(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:g}" '
            f'height="{self.height:g}" viewBox="0 0 {self.width:g} {self.height:g}" '
            f'font-family="{FONT}">'
            f'<rect width="100%" height="100%" fill="#ffffff"/>' + "".join(self.parts) + "</svg>"
        )


@dataclass(frozen=True)
class _Axis:
    """A linear map from data to pixels."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.start + (value - self.lo) / span * (self.end - self.start)


def _padded(lo: float, hi: float, margin: float = 0.05) -> tuple[float, float]:
    if hi <= lo:
        return lo - 1.0, hi + 1.0
    pad = (hi - lo) * margin
    return lo - pad, hi + pad


def _x_axis(svg: _Svg, axis: _Axis, y: float, top: float, ticks: list[float], grid: bool) -> None:
    svg.line(axis.start, y, axis.end, y, INK, 0.8)
    for t in ticks:
        if not axis.lo - 1e-9 <= t <= axis.hi + 1e-9:
            continue
        x = axis(t)
        if grid:
            svg.line(x, top, x, y, GRID, 0.6)
        svg.line(x, y, x, y + 4, INK, 0.8)
        svg.text(x, y + 17, _fmt(t), anchor="middle")


def _y_axis(svg: _Svg, axis: _Axis, x: float, right: float, ticks: list[float], grid: bool) -> None:
    svg.line(x, axis.start, x, axis.end, INK, 0.8)
    for t in ticks:
        if not min(axis.lo, axis.hi) - 1e-9 <= t <= max(axis.lo, axis.hi) + 1e-9:
            continue
        y = axis(t)
        if grid:
            svg.line(x, y, right, y, GRID, 0.6)
        svg.line(x - 4, y, x, y, INK, 0.8)
        svg.text(x - 7, y + 4, _fmt(t), anchor="end")


def _legend(svg: _Svg, x: float, y: float, entries: Sequence[tuple[str, str, str, bool]]) -> None:
    """Entries (label, colour, dash, marker) stacked from (x, y)."""
    for i, (label, color, dash, marker) in enumerate(entries):
        cy = y + i * 15
        svg.line(x, cy, x + 20, cy, color, 1.2, dash)
        if marker:
            svg.circle(x + 10, cy, 2.5, color)
        svg.text(x + 26, cy + 3.5, label, size=SMALL)


def forest(
    points: Sequence[Point],
    *,
    target: float | None,
    unit: str,
    title: str,
    reference: float | None = None,
) -> str:
    """Estimates with their 95 % intervals, best at the top; the target as a dashed line.
    Colours: ``TONES`` against the target (else ``reference``, e.g. the units' mean — the
    funnel plot's centre, so both charts colour a unit alike)."""
    reference = target if target is not None else reference
    row = 37.0
    top = 64.0
    height = top + row * max(len(points), 1) + 46
    label_w = max((text_width(p.label, TICK) for p in points), default=40.0)
    left = max(label_w + 18, 50.0)
    right = WIDTH - 16
    svg = _Svg(WIDTH, height)
    bottom = height - 46
    values = [v for p in points for v in (p.estimate, p.lower, p.upper) if v is not None]
    if target is not None:
        values.append(target)
    lo, hi = _padded(min(values, default=0.0), max(values, default=1.0))
    ticks = nice_ticks(lo, hi)
    x = _Axis(lo, hi, left, right)
    _x_axis(svg, x, bottom, top - 10, ticks, grid=True)
    svg.line(left, top - 10, left, bottom, INK, 0.8)
    for i, p in enumerate(points):
        y = top + row * i + row / 2 - 10
        color = TONES[tone(p, reference)]
        if p.lower is not None and p.upper is not None:
            svg.line(x(p.lower), y, x(p.upper), y, color, 3, opacity=0.6)
        svg.circle(x(p.estimate), y, 4.5, color)
        svg.line(left - 4, y, left, y, INK, 0.8)
        svg.text(left - 7, y + 4, p.label, anchor="end")
    if target is not None:
        tx = x(target)
        svg.line(tx, top - 10, tx, bottom, AMBER, 1, "5,3")
        svg.text(
            tx, top - 14, f"目标 {target:g}{unit}", size=SMALL + 1, anchor="middle", color=AMBER
        )
    svg.text((left + right) / 2, bottom + 36, f"估计值与95%置信区间（{unit}）", anchor="middle")
    svg.text(left, 18, title, size=TITLE)
    _tone_legend(svg, left, 38, "目标" if target is not None else "均值")
    return svg.render()


def funnel(
    points: Sequence[Point],
    *,
    target: float,
    unit: str,
    title: str,
    share: bool = True,
    centre: str = "目标",
) -> str:
    """Funnel plot: estimate against effective n with 95 % and 99.8 % control limits around the
    target (binomial for shares: target ± z·√(p(1−p)/n)·100; for scores the limits use the
    units' pooled standard deviation). Colours as on the forest plot (``TONES``: warned or
    below the target red, praised or above green, else grey); only the units outside the 95 %
    limits or under a warning or praise are named, the names moved apart with a leader line
    where they would overlap. ``centre`` names the line the limits are drawn around: the
    target, or 均值 (the units' mean) for an index without one."""
    height = 360.0
    left, right, top, bottom = 58.0, 520.0, 34.0, height - 50
    svg = _Svg(WIDTH, height)
    svg.text(left, 18, title, size=TITLE)
    if not points:
        svg.text((left + right) / 2, height / 2, "无数据", anchor="middle")
        return svg.render()
    n_max = max(max(p.n_eff for p in points) * 1.15, 20.0)
    ns = [n_max * i / 60 for i in range(1, 61)]
    if share:
        p0 = min(max(target / 100.0, 1e-6), 1 - 1e-6)
        sd = math.sqrt(p0 * (1 - p0)) * 100.0
    else:
        spreads = [
            (p.upper - p.lower) / 3.92 * math.sqrt(max(p.n_eff, 1.0))
            for p in points
            if p.lower is not None and p.upper is not None
        ]
        sd = sum(spreads) / len(spreads) if spreads else 20.0
    top_value = 100.0 if share else math.inf
    limits = []
    for z, dash in ((1.96, "5,3"), (3.09, "1.5,2")):
        upper = [(n, min(target + z * sd / math.sqrt(n), top_value)) for n in ns]
        lower = [(n, max(target - z * sd / math.sqrt(n), 0.0)) for n in ns]
        limits.append((upper, lower, dash))
    ys = [v for upper, lower, _ in limits for _, v in upper + lower]
    ys += [p.estimate for p in points] + [target]
    lo, hi = _padded(min(ys), max(ys))
    y = _Axis(lo, hi, bottom, top)
    x_lo, x_hi = _padded(0.0, n_max)
    x = _Axis(x_lo, x_hi, left, right)
    _x_axis(svg, x, bottom, top, nice_ticks(0.0, n_max), grid=False)
    _y_axis(svg, y, left, right, nice_ticks(lo, hi), grid=False)
    for upper, lower, dash in limits:
        svg.polyline([(x(n), y(v)) for n, v in upper], GREY, 1, dash)
        svg.polyline([(x(n), y(v)) for n, v in lower], GREY, 1, dash)
    svg.line(left, y(target), right, y(target), AMBER, 1)
    named: list[tuple[float, float, str]] = []
    for p in points:
        spread = sd / math.sqrt(max(p.n_eff, 1.0))
        px, py = x(p.n_eff), y(p.estimate)
        svg.circle(px, py, 4.5, TONES[tone(p, target)], 0.85)
        # Name only the units that stand out: labels inside the funnel would pile up.
        if p.flagged or p.praised or abs(p.estimate - target) > 1.96 * spread:
            named.append((px, py, p.label))
    label_ys = spread_labels([py - 3 for _px, py, _l in named], SMALL + 3, top + SMALL, bottom - 4)
    markers = [(x(p.n_eff), y(p.estimate)) for p in points]
    for (px, py, label), ly in zip(named, label_ys, strict=True):
        moved = abs(ly - (py - 3)) > 2  # moved away from its point: a leader line back to it
        gap = 16 if moved else 6
        width = text_width(label, SMALL)
        # Right of the point unless that covers another unit's marker (or leaves the plot).
        left_side = px + gap + width > WIDTH - 4 or _covers(
            markers, px + gap, px + gap + width, ly - SMALL, ly + 2, (px, py)
        )
        sign = -1 if left_side else 1
        if moved:
            svg.line(px + 4 * sign, py, px + 14 * sign, ly - 3, GREY, 0.6)
        anchor = "end" if left_side else "start"
        svg.text(px + gap * sign, ly, label, size=SMALL, anchor=anchor)
    svg.text((left + right) / 2, bottom + 36, "有效样本量", anchor="middle")
    svg.text(16, (top + bottom) / 2, unit, anchor="middle", rotate=True)
    _legend(
        svg,
        right + 12,
        top + 6,
        [
            ("95%控制限", GREY, "5,3", False),
            ("99.8%控制限", GREY, "1.5,2", False),
            (f"{centre} {round(target, 1):g}{unit}", AMBER, "", False),
        ],
    )
    _tone_legend(svg, right + 12, top + 60, "", stacked=True)
    return svg.render()


def trend(
    series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]],
    *,
    target: float | None,
    unit: str,
    title: str,
) -> str:
    """Lines over waves: ``series`` = (label, [(month, value)]) ; the target dashed."""
    months = sorted({m for _label, values in series for m, _v in values})
    legend = [(label, CYCLE[i % len(CYCLE)], "", True) for i, (label, _v) in enumerate(series)]
    if target is not None:
        legend.append((f"目标 {target:g}{unit}", AMBER, "5,3", False))
    legend_w = max((text_width(e[0], SMALL) for e in legend), default=0.0) + 34
    height = max(260.0, 90 + 15 * len(legend))
    left, top, bottom = 58.0, 34.0, height - 40
    right = WIDTH - legend_w - 12
    svg = _Svg(WIDTH, height)
    svg.text(left, 18, title, size=TITLE)
    values = [float(v) for _label, vs in series for _m, v in vs if v is not None]
    if target is not None:
        values.append(target)
    lo, hi = _padded(min(values, default=0.0), max(values, default=1.0))
    y = _Axis(lo, hi, bottom, top)
    last = max(len(months) - 1, 1)
    x = _Axis(-0.05 * last, 1.05 * last, left, right)
    _y_axis(svg, y, left, right, nice_ticks(lo, hi), grid=True)
    svg.line(left, bottom, right, bottom, INK, 0.8)
    for i, month in enumerate(months):
        svg.line(x(i), bottom, x(i), bottom + 4, INK, 0.8)
        svg.text(x(i), bottom + 17, month, anchor="middle")
    for (_label, values_of), (_l, color, _d, _m) in zip(series, legend, strict=False):
        lookup = dict(values_of)
        pts = [
            (x(i), y(float(v))) for i, m in enumerate(months) if (v := lookup.get(m)) is not None
        ]
        svg.polyline(pts, color, 1.4)
        for px, py in pts:
            svg.circle(px, py, 2.5, color)
    if target is not None:
        svg.line(left, y(target), right, y(target), AMBER, 1, "5,3")
    svg.text(16, (top + bottom) / 2, unit, anchor="middle", rotate=True)
    _legend(svg, right + 12, (top + bottom) / 2 - 7.5 * (len(legend) - 1), legend)
    return svg.render()
