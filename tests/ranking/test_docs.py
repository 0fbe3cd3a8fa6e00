"""docs/policy-format.md names every key and choice the policy loader accepts."""

from __future__ import annotations

import re
from pathlib import Path

from survey.ranking import policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy-format.md"


def test_format_doc_names_every_accepted_key_and_value() -> None:
    words = set(re.findall(r"[a-z_0-9]+", DOC.read_text(encoding="utf-8")))
    keys = (
        policy._TOP_KEYS
        | policy._INDEX_KEYS
        | policy._UNCERTAINTY_KEYS
        | policy._SANCTION_KEYS
        | policy._STEP_KEYS
        | policy._PRAISE_KEYS
        | policy._POINTS_KEYS
        | policy._BAND_KEYS
        | policy._TARGET_KEYS
    )
    values = (
        set(policy.CONDITION_KINDS)
        | set(policy.CONSECUTIVE_MODES)
        | set(policy.GAP_RULES)
        | set(policy.TIE_RULES)
        | set(policy.POINTS_KINDS)
        | set(policy.BANDINGS)
        | {"criticism", "yellow_card", "veto"}
    )
    assert sorted((keys | values) - words) == []


def test_defaults_in_the_doc_match_the_model() -> None:
    text = DOC.read_text(encoding="utf-8")
    defaults = policy.Policy(id="x", version=1, title="x")
    for key in ("consecutive", "gap", "ties"):
        assert f'| `{key}` | `"{getattr(defaults, key)}"` |' in text
    assert f"| `min_n_eff` | `{defaults.min_n_eff:g}` |" in text
    assert f"| `decimals` | `{defaults.decimals}` |" in text
    u = policy.UncertaintySettings()
    for key in ("rank_level", "ci_level", "alpha"):
        assert f"| `{key}` | `{getattr(u, key):.2f}` |" in text
    assert f"| `draws` | `{u.draws}` |" in text
