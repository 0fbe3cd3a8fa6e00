"""What the committee dashboard and the monthly report show, built from stored results.

``wave_view(wave_id, district_code=None)`` returns a ``WaveView``: headline figures against
targets, one ``RankingView`` per ranked index (ranked table, forest plot, funnel plot, trend),
the sanctions and praises with their reasons, the ladder history per unit, the method box and
(for analysts) the integrity flags. A district-limited user passes their district code and sees
only that district's units. Templates only format what is here (one decimal for estimates).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from survey.results import charts
from survey.results.changes import Change, Key, RowChanges, changes_for
from survey.results.queries import (
    ResultRow,
    RunInfo,
    results_for_programme,
    results_for_wave,
    run_for_wave,
)
from survey.results.records import REVIEW_NAMES
from survey.results.stamps import revision_of, run_stamps
from survey.results.waves import WaveRef, wave_by_id

# The words for the units a ranked index ranks, by level.
LEVEL_WORDS = {
    "station": "派出所",
    "street": "街道（乡镇）",
    "department": "政法部门",
    "district": "区县",
}
HEADLINE_INDICES: tuple[tuple[str, str], ...] = (
    ("anquangan", "公众安全感"),
    ("zhixiaolv", "平安建设知晓率"),
    ("manyidu", "群众对政法队伍满意度"),
)
LEVEL_CSS = {"criticism": "warn", "yellow_card": "yellow", "veto": "veto", "praise": "praise"}


@dataclass(frozen=True)
class TableRow:
    """One unit of a ranked table, ready to print."""

    result: ResultRow
    bar_left: float
    bar_width: float
    point: float
    warnings: list[dict[str, str]]
    change: Change | None = None
    year_ago: Change | None = None
    # ``charts.tone``: the colour meaning the forest and funnel plots give this unit too
    tone: str = "neutral"
    # The policy's threshold for this unit (a department's own pass score), where one applies
    target: float | None = None
    # The row's uncertainty figure: P(后k位), or for a threshold rule P(低于达标分值)
    p: float | None = None


@dataclass(frozen=True)
class RankingView:
    """One ranked index: the table, charts (SVG text) and what it is about."""

    index_id: str
    name: str
    unit_word: str
    unit: str
    target: float | None
    target_label: str
    k: int
    rows: list[TableRow]
    forest_svg: str
    funnel_svg: str
    trend_svg: str
    axis_min: float
    axis_max: float
    has_fh: bool
    # The table's probability column: "P(后2位)", or "P(低于达标分值)" for a threshold rule
    p_label: str = ""
    # Units whose threshold differs from ``target`` (e.g. "青山区人民检察院 90")
    target_exceptions: tuple[str, ...] = ()

    @property
    def forest_uri(self) -> str:
        return charts.data_uri(self.forest_svg)

    @property
    def funnel_uri(self) -> str:
        return charts.data_uri(self.funnel_svg)

    @property
    def trend_uri(self) -> str:
        return charts.data_uri(self.trend_svg) if self.trend_svg else ""


@dataclass(frozen=True)
class Headline:
    """A district figure with its target (None = no target)."""

    name: str
    district: str
    result: ResultRow
    target: float | None
    met: bool | None
    change: Change | None = None
    year_ago: Change | None = None


@dataclass(frozen=True)
class LadderEntry:
    """One unit's history: month → (rank, the highest sanction or praise name, css class)."""

    index_name: str
    unit_name: str
    cells: list[tuple[str, str, str]]


@dataclass(frozen=True)
class WaveView:
    """Everything the dashboard and the report show for one wave."""

    wave: WaveRef
    run: RunInfo | None
    months: list[str]
    headlines: list[Headline]
    rankings: list[RankingView]
    sanctions: list[tuple[ResultRow, dict[str, str]]]
    praises: list[tuple[ResultRow, dict[str, str]]]
    ladder: list[LadderEntry]
    flags: list[dict[str, Any]]
    method: dict[str, Any] = field(default_factory=dict)
    margin_of_error: float | None = None
    headline_trend_svg: str = ""
    # Every figure whose change from the previous wave is significant at 5 % (index order).
    significant_changes: list[tuple[ResultRow, Change]] = field(default_factory=list)
    # The stored results this view was built from (the programme's result runs, hashed): the
    # key of the cached charts and reports, and the ETag of the chart resources.
    revision: str = ""

    @property
    def headline_trend_uri(self) -> str:
        return charts.data_uri(self.headline_trend_svg) if self.headline_trend_svg else ""

    def chart(self, name: str) -> str | None:
        """The SVG of chart ``name``: ``headline-trend`` or ``<index id>-forest|funnel|trend``."""
        if name == "headline-trend":
            return self.headline_trend_svg or None
        for ranking in self.rankings:
            for kind, svg in (
                ("forest", ranking.forest_svg),
                ("funnel", ranking.funnel_svg),
                ("trend", ranking.trend_svg),
            ):
                if name == f"{ranking.index_id}-{kind}":
                    return svg or None
        return None


def _warnings(r: ResultRow) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for s in r.sanctions:
        out.append(
            {"css": LEVEL_CSS.get(s["level"], "warn"), "name": s["name"], "reason": s["reason"]}
        )
        review = REVIEW_NAMES.get(s.get("review") or "")
        if review:
            out.append({"css": "note", "name": review, "reason": str(s.get("review_note") or "")})
    for p in r.praises:
        out.append({"css": "praise", "name": p["name"], "reason": p["reason"]})
    for p in r.evidence.get("points", []):
        points = float(p.get("points", 0.0))
        if points:
            label = f"{'扣' if points < 0 else '加'}{abs(points):g}分"
            out.append(
                {
                    "css": "warn" if points < 0 else "praise",
                    "name": label,
                    "reason": str(p.get("reason", "")),
                }
            )
    if r.status == "insufficient":
        out.append(
            {
                "css": "muted",
                "name": "样本不足",
                "reason": f"有效回答 {r.n} 份，按权重计算的有效样本量（Kish）"
                f"{r.n_kish if r.n_kish is not None else r.n_eff:.1f}，不参与排名",
            }
        )
    if r.distinguishable is False and r.sanctions:
        note = r.evidence.get("note") or "与后两位之外的第一名差异不显著"
        out.append({"css": "note", "name": "统计上无法区分", "reason": str(note)})
    return out


def _axis(rows: list[ResultRow], scale: str) -> tuple[float, float]:
    lows = [r.ci_lower for r in rows if r.ci_lower is not None]
    highs = [r.ci_upper for r in rows if r.ci_upper is not None]
    if not lows:
        return (0.0, 100.0)
    lo = max(0.0, min(lows) - 2)
    hi = min(100.0, max(highs) + 2) if scale == "%" else max(highs) + 2
    return (lo, max(hi, lo + 1))


def _table_rows(
    rows: list[ResultRow],
    scale: str,
    changes: dict[Key, RowChanges],
    reference: float | None = None,
    thresholds: dict[str, float] | None = None,
) -> tuple[list[TableRow], float, float]:
    """The table's rows. ``thresholds``: the policy's threshold per unit code (a threshold
    rule's, as the ladder applied it): each row's target, colour reference and P(低于…)."""
    lo, hi = _axis(rows, scale)
    span = hi - lo
    out = []
    for r in rows:
        left = width = point = 0.0
        if r.ci_lower is not None and r.ci_upper is not None and r.estimate is not None:
            left = (r.ci_lower - lo) / span * 100
            width = max((r.ci_upper - r.ci_lower) / span * 100, 0.8)
            point = (r.estimate - lo) / span * 100
        ch = changes.get((r.index_id, r.level, r.unit_code)) or RowChanges()
        own = None if thresholds is None else thresholds.get(r.unit_code)
        ref = own if own is not None else reference
        p_below = r.evidence.get("p_below")
        out.append(
            TableRow(
                r,
                round(left, 2),
                round(width, 2),
                round(point, 2),
                _warnings(r),
                ch.previous,
                ch.year_ago,
                charts.tone(_point(r), ref) if r.estimate is not None else "neutral",
                target=own,
                p=(None if p_below is None else float(p_below)) if thresholds else r.p_bottom_k,
            )
        )
    return out, lo, hi


def chart_n_eff(r: ResultRow) -> float:
    """A unit's effective size on the funnel plot: the design's n/deff, or the Kish size where
    that is no size at all. A unit whose SE is zero up to rounding (every answer alike, or its
    stratum sampled whole) has deff = rounding noise / variance, and n/deff came out as 1e17:
    the funnel's axis then ran to 1e17 and pushed every other unit onto its left edge."""
    n_eff = r.n_eff
    kish = r.n_kish if r.n_kish is not None else float(r.n)
    if n_eff is None or not math.isfinite(n_eff) or n_eff > 1000 * max(r.n, 1):
        return kish
    if r.se is not None and r.se <= 1e-9 * max(abs(r.estimate or 0.0), 1.0):
        return kish
    return n_eff


def _point(r: ResultRow) -> charts.Point:
    return charts.Point(
        r.unit_name,
        float(r.estimate or 0.0),
        r.ci_lower,
        r.ci_upper,
        chart_n_eff(r),
        bool(r.sanctions),
        bool(r.praises),
    )


# Views by (wave, district, trends, the programme's run stamps): a view (its charts included)
# only changes when one of the programme's waves is recomputed, so each process builds it once
# per revision of the stored results.
_CACHE: OrderedDict[tuple[Any, ...], WaveView] = OrderedDict()
_CACHE_SIZE = 32


async def _ranked_indices(
    wave: WaveRef, run: RunInfo | None, rows: Sequence[ResultRow]
) -> list[tuple[str, str, str]]:
    """The indices the wave's policy ranks (the version its computation used, else the
    programme's current one), in the policy's order, each at the level it ranks them (the
    policy's ``level``, else the level of the stored ranked results: a city's policy ranks
    districts), with the word for the units. Indices with no known level are left out (no
    stored result to show)."""
    from survey.programmes.service import ProgrammeError, policy_for_wave
    from survey.ranking import PolicyError

    ranked_at: dict[str, str] = {}
    for r in rows:
        if r.status != "not_ranked":
            ranked_at.setdefault(r.index_id, r.level)
    try:
        policy = await policy_for_wave(
            wave.programme_id, run.policy_hash if run else None, adopt=False
        )
    except (ProgrammeError, PolicyError):
        specs: list[tuple[str, str | None]] = [(i, None) for i in ranked_at]
    else:
        specs = [(spec.id, spec.level) for spec in policy.indices]
    out = []
    for index_id, declared in specs:
        level = declared or ranked_at.get(index_id)
        if level is not None:
            out.append((index_id, level, LEVEL_WORDS.get(level, level)))
    return out


async def wave_view(
    wave_id: int, district_code: str | None = None, *, unit_trends: bool = True
) -> WaveView:
    """The view of one wave (``district_code`` limits it to one district's units).

    ``unit_trends=False`` skips the per-unit trend charts (the printed report shows one chart
    of the headline figures over the waves instead, which keeps the PDF under 3 s). Views are
    cached per process until one of the programme's waves is recomputed."""
    wave = await wave_by_id(wave_id)
    stamps = await run_stamps(wave.programme_id)
    key = (wave.id, district_code, unit_trends, stamps)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    revision = revision_of(wave.id, district_code, stamps)
    view = await _build_view(wave, district_code, unit_trends=unit_trends, revision=revision)
    _CACHE[key] = view
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return view


async def _build_view(
    wave: WaveRef, district_code: str | None, *, unit_trends: bool, revision: str
) -> WaveView:
    run = await run_for_wave(wave.id)
    rows = await results_for_wave(wave.id)
    history = await results_for_programme(wave.programme_id, wave.month)
    if district_code is not None:
        rows = [r for r in rows if r.district_code == district_code]
        history = [r for r in history if r.district_code == district_code]
    months = sorted({r.month for r in history})
    changes = changes_for(rows, history)
    headlines: list[Headline] = []
    for index_id, name in HEADLINE_INDICES:
        for r in rows:
            if r.index_id == index_id and r.level == "district" and r.estimate is not None:
                target = r.target
                met = None if target is None else round(r.estimate, 1) >= target
                ch = changes.get((r.index_id, r.level, r.unit_code)) or RowChanges()
                headlines.append(
                    Headline(name, r.unit_name, r, target, met, ch.previous, ch.year_ago)
                )
    rankings: list[RankingView] = []
    ranked_indices = await _ranked_indices(wave, run, [*rows, *history])
    for index_id, level, unit_word in ranked_indices:
        members = [r for r in rows if r.index_id == index_id and r.level == level]
        if not members:
            continue
        scale = members[0].scale
        unit = "%" if scale == "%" else "分"
        target = next((r.target for r in members if r.target is not None), None)
        # A threshold rule of the policy (满意度低于达标分值 → 通报批评) decides the pass score,
        # per unit (``thresholds = { jianchayuan = 90 }``), not the instrument's pass_score:
        # the ladder stored the one it applied in each row's evidence.
        thresholds = {
            r.unit_code: float(r.evidence["threshold"])
            for r in members
            if r.evidence.get("threshold") is not None
        }
        exceptions: tuple[str, ...] = ()
        if thresholds:
            target = Counter(thresholds.values()).most_common(1)[0][0]
            exceptions = tuple(
                f"{r.unit_name} {thresholds[r.unit_code]:g}"
                for r in members
                if thresholds.get(r.unit_code, target) != target
            )
        ranked = [r for r in members if r.estimate is not None]
        # The funnel's centre, and the colour reference when there is no target.
        mean = sum(r.estimate or 0 for r in ranked) / max(len(ranked), 1)
        table, lo, hi = _table_rows(
            members, scale, changes, target if target is not None else mean, thresholds or None
        )
        k = int(next((r.evidence.get("k") for r in members if r.evidence.get("k")), 2) or 2)
        target_label = "达标分值" if scale != "%" else "目标"
        name = members[0].index_name
        forest_svg = charts.forest(
            [_point(r) for r in ranked],
            target=target,
            unit=unit,
            title=f"{name}：各{unit_word}",
            reference=mean,
        )
        funnel_svg = charts.funnel(
            [_point(r) for r in ranked],
            target=target if target is not None else mean,
            unit=unit,
            title=f"{name}：漏斗图（相对目标）"
            if target is not None
            else f"{name}：漏斗图（相对均值）",
            share=scale == "%",
            centre="目标" if target is not None else "均值",
        )
        series: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
        for h in history:
            if h.index_id == index_id and h.level == level:
                series[h.unit_name].append((h.month, h.estimate))
        trend_svg = (
            charts.trend(
                sorted(series.items()), target=target, unit=unit, title=f"{name}：各期走势"
            )
            if unit_trends
            else ""
        )
        rankings.append(
            RankingView(
                index_id=index_id,
                name=name,
                unit_word=unit_word,
                unit=unit,
                target=target,
                target_label=target_label,
                k=k,
                rows=table,
                forest_svg=forest_svg,
                funnel_svg=funnel_svg,
                trend_svg=trend_svg,
                axis_min=lo,
                axis_max=hi,
                has_fh=any(r.fh_estimate is not None for r in members),
                p_label=f"P(低于{target_label})" if thresholds else f"P(后{k}位)",
                target_exceptions=exceptions,
            )
        )
    sanctions = [(r, s) for r in rows for s in r.sanctions]
    order = {"veto": 0, "yellow_card": 1, "criticism": 2}
    sanctions.sort(
        key=lambda pair: (order.get(pair[1]["level"], 9), pair[0].index_id, pair[0].rank or 0)
    )
    praises = [(r, p) for r in rows for p in r.praises]
    ladder = _ladder(history, months, ranked_indices)
    moe = None
    for head in headlines:
        if (
            head.result.ci_lower is not None
            and head.result.ci_upper is not None
            and head.result.scale == "%"
        ):
            moe = max(moe or 0.0, (head.result.ci_upper - head.result.ci_lower) / 2)
    headline_series: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    district_codes = {x.unit_code for x in history if x.level == "district"}
    for index_id, name in HEADLINE_INDICES:
        for past in history:
            if past.index_id == index_id and past.level == "district":
                label = name if len(district_codes) == 1 else f"{past.unit_name}{name}"
                headline_series[label].append((past.month, past.estimate))
    headline_trend = charts.trend(
        list(headline_series.items()), target=None, unit="% / 分", title="总体指标各期走势"
    )
    flags = run.flags if run else []
    if district_code is not None:
        codes = {r.unit_code for r in rows}
        flags = [f for f in flags if f.get("unit_code") in codes]
    return WaveView(
        wave=wave,
        run=run,
        months=months,
        headlines=headlines,
        rankings=rankings,
        sanctions=sanctions,
        praises=praises,
        ladder=ladder,
        flags=flags,
        method=run.method if run else {},
        margin_of_error=moe,
        headline_trend_svg=headline_trend,
        significant_changes=[
            (r, rc.previous)
            for r in rows
            if (rc := changes.get((r.index_id, r.level, r.unit_code))) is not None
            and rc.previous is not None
            and rc.previous.significant
        ],
        revision=revision,
    )


def _ladder(
    history: list[ResultRow], months: list[str], ranked_indices: list[tuple[str, str, str]]
) -> list[LadderEntry]:
    by_unit: dict[tuple[str, str, str], dict[str, ResultRow]] = defaultdict(dict)
    names: dict[tuple[str, str, str], tuple[str, str]] = {}
    for index_id, level, _word in ranked_indices:
        for h in history:
            if h.index_id == index_id and h.level == level:
                key = (index_id, level, h.unit_code)
                by_unit[key][h.month] = h
                names[key] = (h.index_name, h.unit_name)
    entries = []
    for key, per_month in by_unit.items():
        if not any(r.sanctions or r.praises for r in per_month.values()):
            continue
        cells = []
        for month in months:
            r = per_month.get(month)
            if r is None:
                cells.append((month, "—", ""))
                continue
            top = r.sanctions[-1] if r.sanctions else (r.praises[-1] if r.praises else None)
            label = (
                f"第{r.rank}名" if r.rank else ("样本不足" if r.status == "insufficient" else "—")
            )
            if top is not None:
                label += f" · {top['name']}"
            cells.append((month, label, LEVEL_CSS.get(top["level"], "") if top else ""))
        entries.append(LadderEntry(names[key][0], names[key][1], cells))
    return entries
