"""Fuzzing the policy loader: any text, and any TOML built from the format's own keys and values,
gives either a ``Policy`` or a ``PolicyError`` with located problems — never another exception.
A policy that loads can always be applied to a wave."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey.ranking import (
    Policy,
    PolicyError,
    UnitResult,
    default_policy_path,
    evaluate_wave,
    load_policy_text,
    policies_dir,
)
from survey.ranking import policy as policy_module

SHIPPED = [p.read_text(encoding="utf-8") for p in sorted(policies_dir().glob("*.toml"))]
KEYS = sorted(
    policy_module._TOP_KEYS
    | policy_module._SANCTION_KEYS
    | policy_module._STEP_KEYS
    | policy_module._POINTS_KEYS
    | policy_module._BAND_KEYS
    | policy_module._TARGET_KEYS
    | policy_module._UNCERTAINTY_KEYS
    | {"anquangan", "name", "unit", "gongan"}
)
WORDS = [
    *policy_module.CONDITION_KINDS,
    *policy_module.CONSECUTIVE_MODES,
    *policy_module.GAP_RULES,
    *policy_module.TIE_RULES,
    *policy_module.POINTS_KINDS,
    *policy_module.BANDINGS,
    "criticism", "yellow_card", "veto", "anquangan", "%", "分", "", "X",
]  # fmt: skip
SETTINGS = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
RECORDS = [
    UnitResult(w, "anquangan", u, v + d, 1.0, 200, 150.0)
    for w, d in (("2026-08", 0.0), ("2026-09", 1.0))
    for u, v in (("A", 80.0), ("B", 85.0), ("C", 90.0), ("D", 95.0))
]


def toml_value(value: object) -> str:
    """A TOML literal for a scalar, list or inline table."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def check(text: str) -> None:
    try:
        policy = load_policy_text(text, "fuzz.toml")
    except PolicyError as exc:
        assert exc.problems
        assert all(p.file == "fuzz.toml" and p.message for p in exc.problems)
        return
    assert isinstance(policy, Policy)
    evaluate_wave(policy, RECORDS, "2026-09", rng=np.random.default_rng(0), draws=100)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    check(text)


@SETTINGS
@given(st.sampled_from(SHIPPED), st.data())
def test_shipped_files_with_lines_dropped_or_repeated(text: str, data: st.DataObject) -> None:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        if data.draw(st.booleans()):
            del lines[i]
        else:
            lines.insert(i, lines[i])
    check("\n".join(lines))


scalar = st.one_of(
    st.sampled_from(WORDS),
    st.integers(-5, 200),
    st.floats(-1, 150, allow_nan=False),
    st.booleans(),
)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.sampled_from(KEYS), st.sampled_from(KEYS), value)
def test_default_with_a_key_replaced_by_any_value(table: str, key: str, new: object) -> None:
    text = default_policy_path().read_text(encoding="utf-8")
    # A new table with any key, or one key of a rule replaced by any value: the loader must
    # answer with a Policy or a PolicyError.
    literal = toml_value(new)
    check(text + f"\n[{table}_x]\n{key} = {literal}\n")
    check(text.replace("k = 2", f"k = {literal}", 1))
    check(text.replace('when = "below"', f"when = {literal}", 1))
    check(text.replace("threshold = 85", f"{key} = {literal}", 1))
