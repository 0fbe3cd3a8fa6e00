"""What the base demo city hands to each area's demo step (``survey.demo.DEMO_STEPS``).

A module of its own so that the areas' demo modules import it without importing
``survey.demo``, which imports them."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_PASSWORD = "pingan2026"


@dataclass(frozen=True, slots=True)
class DemoContext:
    """What the base demo built, handed to each area's ``extend_demo``."""

    seed: int
    district_code: str
    programme_id: int
    wave_id: int
    wave_month: str
    base_url: str
