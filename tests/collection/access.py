"""Who may use the collection routes: the residents' pages are public (the token is the key)."""

from __future__ import annotations

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/s/{token:str}"): None,
    ("POST", "/s/{token:str}"): None,
    ("POST", "/s/{token:str}/optout"): None,
    ("GET", "/fieldwork"): frozenset({"admin", "analyst", "supervisor"}),
    ("GET", "/fieldwork/{wave_id:int}"): frozenset({"admin", "analyst", "supervisor"}),
    ("POST", "/fieldwork/{wave_id:int}/remind"): frozenset({"admin", "supervisor"}),
    ("POST", "/fieldwork/{wave_id:int}/to-phone"): frozenset({"admin", "supervisor"}),
}
# A well-formed token that matches no invitation: the "link not found" page, never a 500.
SAMPLE_PATHS = {"{token:str}": "AAAAAAAAAAAAAAAAAAAAAA"}
