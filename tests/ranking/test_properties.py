"""Hypothesis properties of ranks, the bottom/top-k tie rules and the consecutive-wave count."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from survey.ranking import (
    UnitResult,
    competition_ranks,
    default_policy,
    evaluate_wave,
    in_extreme_k,
    published_value,
)

# Few distinct values so that ties are common.
values_st = st.lists(st.sampled_from([80.0, 85.0, 85.0, 90.0, 95.0]), min_size=1, max_size=9)


@given(values_st)
def test_competition_ranks_match_their_definition(values: list[float]) -> None:
    ranks = competition_ranks(values)
    assert ranks == [1 + sum(1 for w in values if w > v) for v in values]


@given(values_st, st.integers(1, 5))
def test_tie_rules_bracket_k(values: list[float], k: int) -> None:
    include = in_extreme_k(values, k, bottom=True, ties="include")
    exclude = in_extreme_k(values, k, bottom=True, ties="exclude")
    assert sum(include) >= min(k, len(values))  # ties at the cut-off all come in
    assert sum(exclude) <= k  # ties that do not fit all stay out
    assert all(i or not e for i, e in zip(include, exclude, strict=True))  # exclude ⊆ include
    # Membership depends only on the value: equal values are treated alike.
    for flags in (include, exclude):
        by_value: dict[float, set[bool]] = {}
        for v, f in zip(values, flags, strict=True):
            by_value.setdefault(v, set()).add(f)
        assert all(len(s) == 1 for s in by_value.values())
    # The mirror image: bottom k of v is the top k of −v.
    top = in_extreme_k([-v for v in values], k, bottom=False, ties="include")
    assert top == include


@given(st.floats(0, 100, allow_nan=False), st.integers(0, 3))
def test_published_value_is_within_half_a_unit(value: float, decimals: int) -> None:
    published = published_value(value, decimals)
    assert abs(published - value) <= 0.5 * 10**-decimals + 1e-9
    assert published_value(published, decimals) == published


cell = st.one_of(st.sampled_from([80.0, 84.9, 85.0, 90.0, 95.0]), st.none(), st.just("small"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(cell, min_size=5, max_size=5), min_size=2, max_size=5))
@example([[85.0, 80.0, None, None, None], [None] * 5, [80.0, 85.0, None, None, None]])
def test_streak_is_one_plus_last_waves_streak(table: list[list[object]]) -> None:
    # Under gap = "break": the count at wave w is 0 when the condition fails, else 1 + the count
    # that an evaluation of wave w−1 (which cannot see wave w) gives.
    waves = [f"2026-{m:02d}" for m in range(1, len(table) + 1)]
    records = []
    for wave, row in zip(waves, table, strict=True):
        for i, value in enumerate(row):
            if value is None:
                continue
            n_eff = 10.0 if value == "small" else 200.0
            est = 70.0 if value == "small" else float(value)  # type: ignore[arg-type]
            for index in ("anquangan", "manyidu_bumen"):
                records.append(UnitResult(wave, index, f"U{i}", est, 1.0, 250, n_eff))
    policy = default_policy()

    def streaks(wave: str) -> dict[tuple[str, str, str], tuple[bool, int]]:
        result = evaluate_wave(policy, records, wave, rng=np.random.default_rng(0), draws=100)
        return {
            (o.index, o.unit_code, c.rule): (c.met, c.streak)
            for o in result.outcomes
            for c in o.conditions
        }

    # A month in which nothing at all was measured is no wave of the programme (the rule the
    # reference ladder below states): "the previous wave" is the last one with any result.
    measured = [
        w for w, row in zip(waves[:-1], table[:-1], strict=True) if any(v is not None for v in row)
    ]
    previous = streaks(measured[-1]) if measured else {}
    for key, (met, streak) in streaks(waves[-1]).items():
        if not met:
            assert streak == 0
        else:
            assert streak == 1 + previous.get(key, (False, 0))[1]


def _reference_levels(table: list[list[object]]) -> dict[str, str | None]:
    """The seed's 安全感 ladder written out directly: bottom 2 with ties included, a wave without
    a ranked result ends the run, 1/2/≥3 waves → criticism/yellow card/veto. A month in which
    nothing at all was measured is no wave of the programme."""
    waves = [row for row in table[:-1] if any(v is not None for v in row)] + table[-1:]
    bottom_sets = []
    for row in waves:
        ranked = {f"U{i}": v for i, v in enumerate(row) if isinstance(v, float)}
        bottom_sets.append(
            {u for u, v in ranked.items() if sum(1 for w in ranked.values() if w < v) < 2}
        )
    levels: dict[str, str | None] = {}
    for i, value in enumerate(table[-1]):
        unit = f"U{i}"
        if value is None:
            continue
        run = 0
        for bottom in reversed(bottom_sets):
            if unit not in bottom:
                break
            run += 1
        levels[unit] = {0: None, 1: "criticism", 2: "yellow_card"}.get(run, "veto")
    return levels


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.lists(cell, min_size=5, max_size=5), st.just([None] * 5)),
        min_size=1,
        max_size=6,
    )
)
def test_ladder_matches_a_direct_reference(table: list[list[object]]) -> None:
    waves = [f"2026-{m:02d}" for m in range(1, len(table) + 1)]
    records = [
        UnitResult(
            wave,
            "anquangan",
            f"U{i}",
            70.0 if value == "small" else float(value),  # type: ignore[arg-type]
            1.0,
            250,
            10.0 if value == "small" else 200.0,
        )
        for wave, row in zip(waves, table, strict=True)
        for i, value in enumerate(row)
        if value is not None
    ]
    result = evaluate_wave(
        default_policy(), records, waves[-1], rng=np.random.default_rng(0), draws=100
    )
    got = {}
    for o in result.for_index("anquangan"):
        top = o.highest_sanction
        got[o.unit_code] = top.level if top else None
    assert got == _reference_levels(table)
