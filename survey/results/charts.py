"""Server-side charts as SVG (matplotlib, glyphs as paths so the SVG needs no font).

Every function returns SVG text; ``data_uri`` wraps it for ``<img src=…>`` (the report and the
dashboard embed charts that way: no inline SVG ids clash and no JavaScript is needed).
Noto Sans CJK SC is registered from its file at first use, because matplotlib's font cache
goes stale when fonts are installed after its first import and would silently fall back to
DejaVu (tofu for Chinese).
"""

from __future__ import annotations

import base64
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.figure import Figure

FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
_LOCK = threading.Lock()
_READY = False
RED = "#b3261e"
BLUE = "#1f5fa8"
GREY = "#777777"
AMBER = "#b26a00"


def _setup() -> None:
    global _READY
    with _LOCK:
        if _READY:
            return
        for path in FONT_FILES:
            if path.exists():
                font_manager.fontManager.addfont(str(path))
        matplotlib.rcParams.update(
            {
                "font.family": ["Noto Sans CJK SC", "DejaVu Sans"],
                "axes.unicode_minus": False,
                "svg.fonttype": "path",
                "svg.hashsalt": "pingan",
                "font.size": 9,
            }
        )
        _READY = True


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def data_uri(svg: str) -> str:
    """``data:image/svg+xml;base64,…`` for an ``<img>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Point:
    """One unit on a chart: label, estimate, interval (None = no interval), n_eff, highlight."""

    label: str
    estimate: float
    lower: float | None
    upper: float | None
    n_eff: float = 0.0
    flagged: bool = False


def forest(points: Sequence[Point], *, target: float | None, unit: str, title: str) -> str:
    """Estimates with their 95 % intervals, best at the top; the target as a dashed line."""
    _setup()
    height = 0.9 + 0.32 * max(len(points), 1)
    fig, ax = plt.subplots(figsize=(6.4, height))
    ys = list(range(len(points)))[::-1]
    for y, p in zip(ys, points, strict=True):
        color = RED if p.flagged else BLUE
        if p.lower is not None and p.upper is not None:
            ax.plot([p.lower, p.upper], [y, y], color=color, linewidth=2, alpha=0.6)
        ax.plot([p.estimate], [y], "o", color=color, markersize=5)
    ax.set_yticks(ys)
    ax.set_yticklabels([p.label for p in points])
    if target is not None:
        ax.axvline(target, color=AMBER, linestyle="--", linewidth=1)
        ax.annotate(
            f"目标 {target:g}{unit}",
            (target, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            color=AMBER,
            ha="center",
            va="bottom",
        )
    ax.set_xlabel(f"估计值与95%置信区间（{unit}）")
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_ylim(-0.7, len(points) - 0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def funnel(
    points: Sequence[Point], *, target: float, unit: str, title: str, share: bool = True
) -> str:
    """Funnel plot: estimate against effective n with 95 % and 99.8 % control limits around the
    target (binomial for shares: target ± z·√(p(1−p)/n)·100; for scores the limits use the
    units' pooled standard deviation). Units below the 99.8 % limits are drawn in red; units
    outside the 95 % limits or under a warning are named."""
    _setup()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    if not points:
        ax.text(0.5, 0.5, "无数据", ha="center", transform=ax.transAxes)
        return _svg(fig)
    n_max = max(max(p.n_eff for p in points) * 1.15, 20.0)
    ns = [n_max * i / 200 for i in range(4, 201)]
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
    top = 100.0 if share else math.inf
    for z, style in ((1.96, "--"), (3.09, ":")):
        upper = [min(target + z * sd / math.sqrt(n), top) for n in ns]
        lower = [max(target - z * sd / math.sqrt(n), 0.0) for n in ns]
        label = "95%控制限" if z < 2 else "99.8%控制限"
        ax.plot(ns, upper, color=GREY, linestyle=style, linewidth=1, label=label)
        ax.plot(ns, lower, color=GREY, linestyle=style, linewidth=1)
    ax.axhline(target, color=AMBER, linewidth=1, label=f"目标 {target:g}{unit}")
    for p in points:
        spread = sd / math.sqrt(max(p.n_eff, 1.0))
        outside = p.estimate < target - 3.09 * spread
        ax.plot(
            [p.n_eff], [p.estimate], "o", color=RED if outside else BLUE, markersize=5, alpha=0.85
        )
        # Name only the units that stand out (outside the 95 % limits, or warned): labels of
        # units inside the funnel would pile up on each other.
        if p.flagged or abs(p.estimate - target) > 1.96 * spread:
            ax.annotate(p.label, (p.n_eff, p.estimate), fontsize=7, xytext=(3, 2),
                        textcoords="offset points")  # fmt: skip
    ax.set_xlabel("有效样本量")
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def trend(
    series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]],
    *,
    target: float | None,
    unit: str,
    title: str,
) -> str:
    """Lines over waves: ``series`` = (label, [(month, value)]) ; the target dashed."""
    _setup()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    months = sorted({m for _label, values in series for m, _v in values})
    for label, values in series:
        lookup = dict(values)
        xs = [i for i, m in enumerate(months) if lookup.get(m) is not None]
        ys = [float(lookup[months[i]] or 0.0) for i in xs]
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=label)
    if target is not None:
        ax.axhline(target, color=AMBER, linestyle="--", linewidth=1, label=f"目标 {target:g}{unit}")
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels(months)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)
