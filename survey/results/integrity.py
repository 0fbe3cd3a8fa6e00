"""Integrity flags of a wave (数据质量预警) for the analyst, from the ranking core's tests.

This module only gathers the wave's data into the shapes ``survey.ranking``'s flag functions
take and labels each flag with its index and unit; the tests and thresholds are the ranking
core's (``survey.ranking.integrity``: jumps and jumps to 100, don't-know collapse with a z-test,
interviews far shorter than the median and interviewers with many of them, answer strings
repeated beyond chance, interviewers' and modes' results far from the others'). The jump
threshold is configurable (``FlagSettings``). A flag asks a person to look; it is not a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import is_not
from typing import Any

import numpy as np

from survey.ranking import (
    flag_dk_collapse,
    flag_group_outliers,
    flag_identical_columns,
    flag_jumps,
    flag_short_interviews,
)
from survey.results.statistics import IndexValues, LevelUnits, UnitEstimate

MODE_NAMES = {"web": "网页", "phone": "电话", "import": "第三方导入"}
MAX_IDENTICAL_FLAGS = 5


@dataclass(frozen=True)
class FlagSettings:
    """Configurable thresholds: ``jump_points`` (0–100 scale) for a jump between waves,
    ``short_ratio`` of the median duration for a short interview and ``short_share`` of an
    interviewer's interviews that may be short."""

    jump_points: float = 10.0
    short_ratio: float = 1 / 3
    short_share: float = 0.2


@dataclass(frozen=True)
class Flag:
    """One integrity flag: ``kind``, the index (or ""), the unit/interviewer/mode and a message;
    ``response_ids``: the interviews it is about when they are a batch an analyst may exclude
    (an interviewer's short interviews, a group of identical answers, an interviewer's results
    far from the others'), else empty."""

    kind: str
    index_id: str
    unit_code: str
    unit_name: str
    message: str
    response_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class FlagInput:
    """This wave's estimates; the previous wave's estimates and (don't-know, answered) counts by
    (index, unit); and per interview: id, mode, interviewer id, duration (s), and the answers column by column (one sequence per item)."""

    estimates: Sequence[UnitEstimate]
    previous: Mapping[tuple[str, str], float]
    previous_dk: Mapping[tuple[str, str], tuple[int, int]]
    response_ids: Sequence[int]
    modes: Sequence[str]
    interviewers: Sequence[int | None]
    durations: Sequence[int | None]
    answer_columns: Sequence[Sequence[Hashable]]
    indices: Sequence[IndexValues]
    levels: Mapping[str, LevelUnits]


def dk_counts(
    indices: Sequence[IndexValues], levels: Mapping[str, LevelUnits]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(don't-know answers, all answers) per (index, unit) for single-item indices, at the
    index's level and per district (unweighted counts, as the z-test needs)."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for index in indices:
        if index.dk is None or index.answered is None:
            continue
        for level_name in {index.unit_level, "district"}:
            level = levels.get(level_name)
            if level is None:
                continue
            inside = level.row_unit >= 0
            count = len(level.codes)
            dk = np.bincount(level.row_unit[inside], weights=index.dk[inside], minlength=count)
            answered = np.bincount(
                level.row_unit[inside], weights=index.answered[inside], minlength=count
            )
            for g, code in enumerate(level.codes):
                out[(index.id, code)] = (int(dk[g]), int(answered[g]))
    return out


def _labels(values: Sequence[Hashable], label: Callable[[Any], str]) -> np.ndarray:
    """``label(value)`` per interview as an object array, computed once per distinct value."""
    distinct = list(dict.fromkeys(values))
    position = {v: k for k, v in enumerate(distinct)}
    codes = np.fromiter(map(position.__getitem__, values), dtype=np.intp, count=len(values))
    labels = np.empty(len(distinct), dtype=object)
    labels[:] = [label(v) for v in distinct]
    return labels[codes]


def _interviewer_label(interviewer: int | None) -> str:
    return f"访员 #{interviewer}"


def wave_flags(data: FlagInput, settings: FlagSettings | None = None) -> list[Flag]:
    """Every integrity flag of a wave: units first, then interviews, then group differences."""
    s = settings or FlagSettings()
    flags: list[Flag] = []
    by_index: dict[str, list[UnitEstimate]] = {}
    for e in data.estimates:
        by_index.setdefault(e.index_id, []).append(e)
    for index_id, members in by_index.items():
        names = {e.unit_code: e.unit_name for e in members}
        current = {e.unit_code: e.estimate for e in members if e.estimate is not None}
        previous = {
            code: value
            for (idx, code), value in data.previous.items()
            if idx == index_id and code in names
        }
        for f in flag_jumps(previous, current, max_change=s.jump_points, names=names):
            flags.append(Flag(f.kind, index_id, f.subject, names[f.subject], f.message))
    current_dk = dk_counts(data.indices, data.levels)
    for index in data.indices:
        now = {code: c for (idx, code), c in current_dk.items() if idx == index.id}
        before = {code: c for (idx, code), c in data.previous_dk.items() if idx == index.id}
        names = {e.unit_code: e.unit_name for e in by_index.get(index.id, [])}
        for f in flag_dk_collapse(before, now, names=names):
            flags.append(
                Flag(f.kind, index.id, f.subject, names.get(f.subject, f.subject), f.message)
            )
    timed = [i for i, d in enumerate(data.durations) if d is not None]
    if timed:
        groups = [
            _interviewer_label(data.interviewers[i])
            if data.interviewers[i] is not None
            else MODE_NAMES.get(data.modes[i], data.modes[i])
            for i in timed
        ]
        found = flag_short_interviews(
            [float(data.durations[i] or 0) for i in timed],
            [str(data.response_ids[i]) for i in timed],
            ratio=s.short_ratio,
            groups=groups,
            max_share=s.short_share,
        )
        short = {f.subject for f in found if f.kind == "short_interview"}
        for f in found:
            if f.kind == "short_group":  # single short interviews are listed in the export
                batch = tuple(
                    int(data.response_ids[i])
                    for i, g in zip(timed, groups, strict=True)
                    if g == f.subject and str(data.response_ids[i]) in short
                )
                flags.append(Flag(f.kind, "", f.subject, f.subject, f.message, batch))
    identical = flag_identical_columns(data.answer_columns, data.response_ids)
    # Each interview's answer pattern as the flags name it, only when some pattern is flagged.
    patterns = (
        ["|".join(map(str, row)) for row in zip(*data.answer_columns, strict=True)]
        if identical and data.answer_columns
        else []
    )
    for f in identical[:MAX_IDENTICAL_FLAGS]:
        same = tuple(int(data.response_ids[i]) for i, p in enumerate(patterns) if p == f.subject)
        flags.append(Flag(f.kind, "", "", "答案雷同", f.message, same))
    if len(identical) > MAX_IDENTICAL_FLAGS:
        flags.append(
            Flag(
                "identical_answers",
                "",
                "",
                "答案雷同",
                f"另有 {len(identical) - MAX_IDENTICAL_FLAGS} 组完全相同的答案超出偶然所能解释",
            )
        )
    # Labels per interview once (by distinct value), gathered per index with numpy.
    has_interviewer = np.fromiter(
        map(is_not, data.interviewers, repeat(None)), dtype=bool, count=len(data.interviewers)
    )
    interviewer_labels = _labels(data.interviewers, _interviewer_label)
    mode_labels = _labels(data.modes, lambda m: MODE_NAMES.get(m, m))
    for index in data.indices:
        if index.values is None:
            continue
        valid = np.isfinite(index.values)
        rows = np.flatnonzero(valid)
        with_interviewer = np.flatnonzero(valid & has_interviewer)
        groupings: list[tuple[str, np.ndarray, np.ndarray]] = [
            ("interviewer", with_interviewer, interviewer_labels),
            ("mode", rows, mode_labels),
        ]
        for kind, chosen, labels in groupings:
            if not chosen.size:
                continue
            for f in flag_group_outliers(  # arrays: it reads them with numpy
                index.values[chosen].astype(float), labels[chosen], kind=kind
            ):
                # An interviewer's interviews are a batch to look at; a mode's are not.
                batch = (
                    tuple(
                        int(data.response_ids[i]) for i in chosen.tolist() if labels[i] == f.subject
                    )
                    if kind == "interviewer"
                    else ()
                )
                flags.append(
                    Flag(
                        f.kind, index.id, f.subject, f.subject, f"{index.name}：{f.message}", batch
                    )
                )
    return flags
