"""Integrity flags for the analyst (数据质量预警): signals that answers may be coached, bought or
invented. Each is a screening signal with its test and threshold stated, not proof.

* ``flag_jumps``: a unit whose published index moves by more than ``max_change`` points between
  two waves, or reaches 100 from below.
* ``flag_dk_collapse``: a unit whose don't-know rate falls below ``max_ratio`` × last wave's rate
  AND the fall is significant (one-sided pooled two-proportion z-test, p < ``alpha``).
* ``flag_short_interviews``: interviews shorter than ``ratio`` × the median duration; groups
  (interviewers) with more than ``max_share`` of their interviews that short (and at least 3).
* ``flag_identical_answers``: an answer string (the whole vector of an interview's answers)
  repeated more often than chance allows: expected count E = n·Π_j f_j(a_j) from the items'
  marginal frequencies (independence), count ~ Poisson(E), flagged when P(X ≥ count) is below
  ``alpha`` divided by the number of patterns tested (Bonferroni) and count ≥ ``min_count``.
  Real answers are positively correlated, so this flags generously: it asks a person to look.
* ``flag_group_outliers``: one interviewer's (or one mode's) mean of a per-interview score against
  all other interviews: Welch z = (ȳ_g − ȳ_rest)/√(s_g²/n_g + s_rest²/n_rest), two-sided,
  flagged when p < ``alpha``/G (Bonferroni over the G groups with at least ``min_n`` interviews).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

GROUP_KIND_NAMES = {"interviewer": "访员", "mode": "访问方式"}


@dataclass(frozen=True)
class IntegrityFlag:
    """One signal: ``kind`` (jump, to_full, dk_collapse, short_interview, short_group,
    identical_answers, group_outlier), the ``subject`` (unit code, interview id, interviewer id
    …), a Chinese ``message``, the ``value`` found and the ``threshold`` it crossed."""

    kind: str
    subject: str
    message: str
    value: float
    threshold: float


def _z(diff: float, se: float) -> float:
    # A zero SE (every answer identical in both groups) makes any difference infinitely sure.
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))


def flag_jumps(
    previous: Mapping[str, float],
    current: Mapping[str, float],
    *,
    max_change: float = 10.0,
    full: float = 100.0,
    names: Mapping[str, str] | None = None,
) -> list[IntegrityFlag]:
    """Units (codes present in both waves) whose index (0–100) changed by more than
    ``max_change`` points, and units that reached ``full`` (100) from below."""
    names = names or {}
    flags = []
    for code, now in current.items():
        before = previous.get(code)
        if before is None:
            continue
        label = names.get(code, code)
        change = now - before
        if abs(change) > max_change:
            flags.append(
                IntegrityFlag(
                    "jump",
                    code,
                    f"{label}：比上期{'上升' if change > 0 else '下降'}{abs(change):.1f}个点"
                    f"（{before:.1f} → {now:.1f}），超过 {max_change:g} 个点",
                    change,
                    max_change,
                )
            )
        if now >= full > before:
            flags.append(
                IntegrityFlag(
                    "to_full",
                    code,
                    f"{label}：从上期 {before:.1f} 升到 {full:g}，请核查是否有组织作答",
                    now,
                    full,
                )
            )
    return flags


def flag_dk_collapse(
    previous: Mapping[str, tuple[int, int]],
    current: Mapping[str, tuple[int, int]],
    *,
    max_ratio: float = 0.5,
    alpha: float = 0.01,
    names: Mapping[str, str] | None = None,
) -> list[IntegrityFlag]:
    """Units whose don't-know rate collapsed: ``previous``/``current`` map unit code →
    (don't-know answers, all answers). Flagged when rate_now < ``max_ratio`` × rate_before and
    the one-sided pooled two-proportion z-test of rate_now < rate_before has p < ``alpha``."""
    names = names or {}
    flags = []
    for code, (dk_now, n_now) in current.items():
        if code not in previous:
            continue
        dk_before, n_before = previous[code]
        if n_now <= 0 or n_before <= 0 or dk_before <= 0:
            continue
        r0, r1 = dk_before / n_before, dk_now / n_now
        if r1 >= max_ratio * r0:
            continue
        pooled = (dk_before + dk_now) / (n_before + n_now)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_before + 1 / n_now))
        z = (r1 - r0) / se if se > 0 else -np.inf
        p = float(stats.norm.cdf(z))
        if p < alpha:
            flags.append(
                IntegrityFlag(
                    "dk_collapse",
                    code,
                    f"{names.get(code, code)}：“说不清/不了解”比例从 {r0:.1%} 降到 {r1:.1%}"
                    f"（单侧检验 p = {p:.4f}），请核查是否有人指导作答",
                    r1,
                    max_ratio * r0,
                )
            )
    return flags


def flag_short_interviews(
    durations: Sequence[float],
    ids: Sequence[str],
    *,
    ratio: float = 1 / 3,
    groups: Sequence[str] | None = None,
    max_share: float = 0.2,
) -> list[IntegrityFlag]:
    """Interviews (``durations`` in seconds, ``ids``) shorter than ``ratio`` × the median
    duration; with ``groups`` (e.g. interviewer ids) also every group with more than
    ``max_share`` of its interviews that short and at least 3 of them."""
    d = np.asarray(durations, dtype=float)
    if d.size != len(ids) or (groups is not None and len(groups) != d.size):
        raise ValueError("时长、编号和分组的个数必须相同")
    if d.size == 0:
        return []
    median = float(np.median(d))
    limit = ratio * median
    short = d < limit
    flags = [
        IntegrityFlag(
            "short_interview",
            ids[i],
            f"访问 {ids[i]} 用时 {d[i]:.0f} 秒，不到中位数 {median:.0f} 秒的 {ratio:.0%}",
            float(d[i]),
            limit,
        )
        for i in (int(j) for j in np.flatnonzero(short))
    ]
    if groups is not None:
        total: Counter[str] = Counter(groups)
        quick: Counter[str] = Counter(g for g, s in zip(groups, short, strict=True) if s)
        for group, count in sorted(quick.items()):
            share = count / total[group]
            if count >= 3 and share > max_share:
                flags.append(
                    IntegrityFlag(
                        "short_group",
                        group,
                        f"{group}：{total[group]} 次访问中有 {count} 次（{share:.0%}）"
                        f"用时不到中位数的 {ratio:.0%}",
                        share,
                        max_share,
                    )
                )
    return flags


def flag_identical_answers(
    answers: Sequence[Sequence[Hashable]],
    ids: Sequence[str],
    *,
    alpha: float = 0.001,
    min_count: int = 3,
) -> list[IntegrityFlag]:
    """Answer strings (one answer vector per interview, all the same length) repeated more
    often than the items' marginal frequencies make likely (module docstring)."""
    if len(answers) != len(ids):
        raise ValueError("答案和编号的个数必须相同")
    if not answers:
        return []
    if len(set(map(len, answers))) != 1:
        raise ValueError("每份答案的题目数必须相同")
    columns = list(zip(*answers, strict=True))
    return flag_identical_columns(columns, ids, alpha=alpha, min_count=min_count)


def flag_identical_columns(
    columns: Sequence[Sequence[Hashable]],
    ids: Sequence[Hashable],
    *,
    alpha: float = 0.001,
    min_count: int = 3,
) -> list[IntegrityFlag]:
    """``flag_identical_answers`` over the answers given column by column (one sequence per
    item, one value per interview; ``ids`` name the interviews, shown as text). Counting is
    numpy over each column's codes: marginals by ``bincount``, patterns by ``unique``."""
    n = len(ids)
    if any(len(column) != n for column in columns):
        raise ValueError("每份答案的题目数必须相同")
    if n == 0:
        return []
    codes: list[np.ndarray] = []
    distinct: list[list[Hashable]] = []
    for column in columns:
        values = list(dict.fromkeys(column))  # first appearance
        position = {v: k for k, v in enumerate(values)}
        codes.append(np.fromiter(map(position.__getitem__, column), dtype=np.int64, count=n))
        distinct.append(values)
    marginals = [np.bincount(c, minlength=len(d)) for c, d in zip(codes, distinct, strict=True)]
    sizes = [len(d) for d in distinct]
    if float(np.prod(np.array(sizes, dtype=float))) < 2.0**62:  # one int64 per pattern
        key = np.zeros(n, dtype=np.int64)
        for c, size in zip(codes, sizes, strict=True):
            key = key * size + c
        _u, first, inverse, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
    else:
        _m, first, inverse, counts = np.unique(
            np.stack(codes, axis=1),
            axis=0,
            return_index=True,
            return_inverse=True,
            return_counts=True,
        )
    inverse = inverse.reshape(-1)
    # Patterns seen at least ``min_count`` times, in order of first occurrence.
    tested = np.flatnonzero(counts >= min_count)
    tested = tested[np.argsort(first[tested], kind="stable")]
    if not tested.size:
        return []
    rows_of = np.argsort(inverse, kind="stable")  # rows grouped by pattern, in row order
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pattern_codes = (
        np.stack(codes, axis=1)[first[tested]] if codes else np.zeros((tested.size, 0), int)
    )
    shares = np.array(
        [[marginals[j][c] / n for j, c in enumerate(row)] for row in pattern_codes.tolist()],
        dtype=float,
    ).reshape(tested.size, len(codes))
    expectations = (n * np.prod(shares, axis=1)).tolist()
    p_values = stats.poisson.sf(counts[tested] - 1, np.array(expectations, dtype=float))
    flags = []
    for g, expected, p_value, row in zip(
        tested.tolist(),
        expectations,
        np.atleast_1d(p_values).tolist(),
        pattern_codes.tolist(),
        strict=True,
    ):
        p = float(p_value)
        if p < alpha / tested.size:
            count = int(counts[g])
            shown_rows = rows_of[starts[g] : starts[g] + min(count, 5)].tolist()
            shown = "、".join(str(ids[i]) for i in shown_rows) + ("等" if count > 5 else "")
            flags.append(
                IntegrityFlag(
                    "identical_answers",
                    "|".join(str(distinct[j][c]) for j, c in enumerate(row)),
                    f"{count} 份问卷答案完全相同（{shown}），按各题答案比例预计约 "
                    f"{expected:.1f} 份（p = {p:.2g}）",
                    float(count),
                    expected,
                )
            )
    return flags


def flag_group_outliers(
    values: Sequence[float],
    groups: Sequence[str],
    *,
    kind: str = "interviewer",
    alpha: float = 0.01,
    min_n: int = 20,
) -> list[IntegrityFlag]:
    """Groups (interviewers or modes) whose mean per-interview score (e.g. 1/0 for 安全, or
    0–100) differs from all other interviews (module docstring: Welch z, Bonferroni)."""
    y = np.asarray(values, dtype=float)
    g = np.asarray(groups, dtype=object)
    if y.size != g.size:
        raise ValueError("分值和分组的个数必须相同")
    eligible = [str(name) for name, count in Counter(groups).items() if count >= min_n]
    if len(eligible) < 2:
        return []
    what = GROUP_KIND_NAMES.get(kind, kind)
    flags = []
    for name in sorted(eligible):
        inside = g == name
        a, b = y[inside], y[~inside]
        if b.size < 2:
            continue
        se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
        diff = float(a.mean() - b.mean())
        z = _z(diff, se)
        p = float(2 * stats.norm.sf(abs(z)))
        if p < alpha / len(eligible):
            flags.append(
                IntegrityFlag(
                    "group_outlier",
                    name,
                    f"{what} {name}：{a.size} 次访问的平均 {a.mean():.3g}，其他访问 {b.mean():.3g}，"
                    f"差 {diff:+.3g}（z = {z:.2f}，p = {p:.2g}）",
                    diff,
                    alpha / len(eligible),
                )
            )
    return flags
