"""Who may use the results routes (merged into the role walk of tests/foundation/test_web.py)."""

from __future__ import annotations

VIEWERS = frozenset({"committee", "analyst", "admin"})
ANALYSTS = frozenset({"analyst", "admin"})

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/results"): VIEWERS,
    ("GET", "/results/{wave_id:int}"): VIEWERS,
    ("POST", "/results/{wave_id:int}/compute"): ANALYSTS,
    ("GET", "/results/{wave_id:int}/compute/confirm"): ANALYSTS,
    ("GET", "/results/{wave_id:int}/revise"): ANALYSTS,
    ("POST", "/results/{wave_id:int}/revise"): ANALYSTS,
    ("GET", "/results/{wave_id:int}/revisions/{number:int}"): VIEWERS,
    ("GET", "/results/{wave_id:int}/import"): ANALYSTS,
    ("POST", "/results/{wave_id:int}/import"): ANALYSTS,
    ("GET", "/results/{wave_id:int}/report/{fmt:str}"): VIEWERS,
    ("GET", "/results/{wave_id:int}/charts/{name:str}"): VIEWERS,
    ("GET", "/results/{wave_id:int}/review"): VIEWERS,
    ("POST", "/results/{wave_id:int}/review"): VIEWERS,
    ("GET", "/results/{wave_id:int}/integrity"): ANALYSTS,
    ("POST", "/results/{wave_id:int}/integrity"): ANALYSTS,
    ("GET", "/results/{wave_id:int}/export/{fmt:str}"): ANALYSTS,
    ("GET", "/results/{wave_id:int}/microdata/{fmt:str}"): ANALYSTS,
}
# The demo's first published wave (2026-08) is created after the collecting wave 2026-11 (id 1).
SAMPLE_PATHS = {
    "{wave_id:int}": "2",
    "{fmt:str}": "html",
    "{name:str}": "anquangan-forest.svg",
    "{number:int}": "1",
}
