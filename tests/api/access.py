"""Who may use the account page and the results API (merged into the role walk of
tests/foundation/test_web.py)."""

from __future__ import annotations

SIGNED_IN = frozenset({"admin", "analyst", "supervisor", "pollster", "committee"})
API_READERS = frozenset({"committee", "analyst", "admin"})

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/tokens"): API_READERS,
    ("POST", "/account/tokens/{token_id:int}/revoke"): API_READERS,
    ("GET", "/api/v1/programmes"): API_READERS,
    ("GET", "/api/v1/waves"): API_READERS,
    ("GET", "/api/v1/waves/{wave_id:int}"): API_READERS,
    ("GET", "/api/v1/waves/{wave_id:int}/results"): API_READERS,
}
SAMPLE_PATHS = {"{token_id:int}": "1"}
