"""Integrity flags for the analyst (数据质量提示): signs of coached, bought or invented answers.

Pure (numpy only). Each flag names what, where and the numbers, so the analyst can look; a
flag is a prompt to check, not a verdict. Thresholds are ``FlagSettings`` (configurable):

- ``jump``: a unit's estimate moves by more than ``jump_points`` (on the 0–100 scale) from the
  previous wave, or reaches 100 % from below;
- ``dk_collapse``: the don't-know rate falls to a third or less of the previous wave's
  (from at least ``dk_min`` before);
- ``short``: an interviewer (or a mode without interviewers) with at least ``min_group``
  interviews of which more than ``short_share`` are shorter than ``short_factor`` × the median;
- ``identical``: an interviewer whose most frequent complete answer string covers more than
  ``identical_share`` of at least ``min_group`` interviews;
- ``interviewer`` / ``mode``: one interviewer's or mode's unweighted share of a headline share
  index differs from everyone else's by more than ``z_limit`` standard errors.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from survey.results.statistics import IndexValues, LevelUnits, UnitEstimate

MODE_NAMES = {"web": "网页", "phone": "电话", "import": "第三方导入"}


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds of the integrity flags (see the module docstring)."""

    jump_points: float = 10.0
    dk_min: float = 0.05
    short_factor: float = 0.4
    short_share: float = 0.3
    identical_share: float = 0.2
    min_group: int = 5
    z_limit: float = 3.0


@dataclass(frozen=True)
class Flag:
    """One integrity flag: ``kind``, the index and unit (or interviewer/mode) and a message."""

    kind: str
    index_id: str
    unit_code: str
    unit_name: str
    message: str


@dataclass(frozen=True)
class FlagInput:
    """What the flags read: this wave's estimates, the previous wave's estimates and
    don't-know rates (0–1) by (index, unit), and per-interview mode, interviewer id, duration
    (seconds) and answer string."""

    estimates: Sequence[UnitEstimate]
    previous: Mapping[tuple[str, str], tuple[float | None, float | None]]
    previous_dk: Mapping[tuple[str, str], float]
    modes: Sequence[str]
    interviewers: Sequence[int | None]
    durations: Sequence[int | None]
    patterns: Sequence[str]
    indices: Sequence[IndexValues]
    levels: Mapping[str, LevelUnits]


def _unit_flags(data: FlagInput, s: FlagSettings) -> list[Flag]:
    flags: list[Flag] = []
    for e in data.estimates:
        key = (e.index_id, e.unit_code)
        before = data.previous.get(key, (None, None))[0]
        if e.estimate is not None and before is not None:
            if abs(e.estimate - before) > s.jump_points:
                flags.append(
                    Flag(
                        "jump",
                        e.index_id,
                        e.unit_code,
                        e.unit_name,
                        f"{e.index_name}由上期 {before:.1f} 变为 {e.estimate:.1f}"
                        f"（变化超过 {s.jump_points:g}）",
                    )
                )
            elif e.scale == "%" and e.estimate >= 100.0 and before < 100.0:
                flags.append(
                    Flag(
                        "jump",
                        e.index_id,
                        e.unit_code,
                        e.unit_name,
                        f"{e.index_name}由上期 {before:.1f}% 升至 100%",
                    )
                )
        dk_before = data.previous_dk.get(key)
        if (
            e.dk_rate is not None
            and dk_before is not None
            and dk_before >= s.dk_min
            and e.dk_rate <= dk_before / 3
        ):
            flags.append(
                Flag(
                    "dk_collapse",
                    e.index_id,
                    e.unit_code,
                    e.unit_name,
                    f"“说不清/不了解”比例由上期 {dk_before:.1%} 降至 {e.dk_rate:.1%}",
                )
            )
    return flags


def _group_label(interviewer: int | None, mode: str) -> str:
    return f"访员 #{interviewer}" if interviewer is not None else MODE_NAMES.get(mode, mode)


def _interview_flags(data: FlagInput, s: FlagSettings) -> list[Flag]:
    flags: list[Flag] = []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (who, mode) in enumerate(zip(data.interviewers, data.modes, strict=True)):
        groups[_group_label(who, mode)].append(i)
    durations = np.array([np.nan if d is None else float(d) for d in data.durations])
    known = durations[np.isfinite(durations)]
    median = float(np.median(known)) if known.size else math.nan
    for label, rows in sorted(groups.items()):
        if len(rows) < s.min_group:
            continue
        if math.isfinite(median) and median > 0:
            d = durations[rows]
            d = d[np.isfinite(d)]
            if d.size >= s.min_group:
                short = float(np.mean(d < s.short_factor * median))
                if short > s.short_share:
                    flags.append(
                        Flag(
                            "short",
                            "",
                            label,
                            label,
                            f"{label}有 {short:.0%} 的访问短于全体中位数 {median:.0f} 秒的 "
                            f"{s.short_factor:.0%}",
                        )
                    )
        if not label.startswith("访员"):
            continue
        top, count = Counter(data.patterns[i] for i in rows).most_common(1)[0]
        del top
        if count >= s.min_group and count / len(rows) > s.identical_share:
            flags.append(
                Flag(
                    "identical",
                    "",
                    label,
                    label,
                    f"{label}的 {len(rows)} 份问卷中有 {count} 份答案完全相同",
                )
            )
    return flags


def _difference_flags(data: FlagInput, s: FlagSettings) -> list[Flag]:
    flags: list[Flag] = []
    interviewer_groups = np.array(
        [_group_label(who, "") if who is not None else "" for who in data.interviewers]
    )
    mode_groups = np.array([MODE_NAMES.get(m, m) for m in data.modes])
    for index in data.indices:
        if index.kind != "share" or index.values is None:
            continue
        y = index.values
        valid = np.isfinite(y)
        for kind, labels in (("interviewer", interviewer_groups), ("mode", mode_groups)):
            names = sorted({str(x) for x in labels[valid] if x})
            if len(names) < 2:
                continue
            for name in names:
                inside = valid & (labels == name)
                rest = valid & (labels != name)
                n_in, n_rest = int(inside.sum()), int(rest.sum())
                if n_in < 4 * s.min_group or n_rest < 4 * s.min_group:
                    continue
                p_in, p_rest = float(y[inside].mean()), float(y[rest].mean())
                pooled = float(y[valid].mean())
                se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_in + 1 / n_rest))
                z = (p_in - p_rest) / se
                if abs(z) > s.z_limit:
                    flags.append(
                        Flag(
                            kind,
                            index.id,
                            name,
                            name,
                            f"{index.name}：{name} {p_in:.1%}（{n_in} 份），其他 {p_rest:.1%}"
                            f"（{n_rest} 份），相差 {abs(z):.1f} 个标准误",
                        )
                    )
    return flags


def wave_flags(data: FlagInput, settings: FlagSettings | None = None) -> list[Flag]:
    """Every integrity flag of a wave, units first, then interviews, then group differences."""
    s = settings or FlagSettings()
    return [*_unit_flags(data, s), *_interview_flags(data, s), *_difference_flags(data, s)]
