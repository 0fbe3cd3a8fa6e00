"""Who may use the 测评方案 routes (merged into the role walk of tests/foundation/test_web.py)."""

from __future__ import annotations

ADMIN = frozenset({"admin"})

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/admin/programmes"): ADMIN,
    ("POST", "/admin/programmes"): ADMIN,
    ("GET", "/admin/programmes/{code:str}"): ADMIN,
    ("POST", "/admin/programmes/{code:str}"): ADMIN,
    ("POST", "/admin/programmes/{code:str}/policy"): ADMIN,
    ("GET", "/admin/programmes/{code:str}/policy/{number:int}"): ADMIN,
}
SAMPLE_PATHS = {"{number:int}": "1"}
