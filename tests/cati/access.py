"""Who may use the CATI routes (merged into the role walk of tests/foundation/test_web.py)."""

from __future__ import annotations

CALLERS = frozenset({"pollster"})
VIEWERS = frozenset({"pollster", "admin", "analyst", "supervisor"})
READERS = frozenset({"admin", "analyst", "supervisor"})
MANAGERS = frozenset({"admin", "supervisor"})

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/cati"): VIEWERS,
    ("POST", "/cati/{campaign_id:int}/next"): CALLERS,
    ("GET", "/cati/case/{case_id:int}"): CALLERS,
    ("POST", "/cati/case/{case_id:int}/answers"): CALLERS,
    ("POST", "/cati/case/{case_id:int}/outcome"): CALLERS,
    ("POST", "/cati/case/{case_id:int}/release"): CALLERS,
    ("GET", "/cati/campaigns/{campaign_id:int}"): READERS,
    ("POST", "/cati/campaigns/{campaign_id:int}/rules"): MANAGERS,
    ("POST", "/cati/campaigns/{campaign_id:int}/release"): MANAGERS,
    ("POST", "/cati/campaigns/{campaign_id:int}/back-checks"): MANAGERS,
    ("POST", "/cati/campaigns/{campaign_id:int}/back-checks/{check_id:int}"): MANAGERS,
}
SAMPLE_PATHS = {"{campaign_id:int}": "1", "{case_id:int}": "1", "{check_id:int}": "1"}
