"""Who may use the sample-design routes (loaded by tests/foundation/test_web.py)."""

from __future__ import annotations

DESIGNERS = frozenset({"admin", "analyst"})

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/design"): DESIGNERS,
    ("GET", "/design/waves/{wave_id:int}"): DESIGNERS,
    ("POST", "/design/waves/{wave_id:int}/frames"): DESIGNERS,
    ("POST", "/design/waves/{wave_id:int}/plan"): DESIGNERS,
    ("GET", "/design/samples/{sample_id:int}"): DESIGNERS,
    ("GET", "/design/samples/{sample_id:int}/elements.csv"): DESIGNERS,
    ("POST", "/design/samples/{sample_id:int}/release"): DESIGNERS,
    ("POST", "/design/samples/{sample_id:int}/verify"): DESIGNERS,
}
# The demo's open wave and its first (web) sample.
SAMPLE_PATHS = {"{wave_id:int}": "1", "{sample_id:int}": "1"}
