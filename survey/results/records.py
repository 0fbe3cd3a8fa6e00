"""The one record of an index for a unit: ``UnitEstimate`` as the statistics compute it, and
``ResultRow`` — the same estimate as stored with its wave, ranking, policy outcome and provenance.

Plain data (no numpy, no database), so the pages and the command line read results without the
computation's libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: A sanction's review state in words, wherever it is shown (pages, report, CLI).
REVIEW_NAMES = {
    "flagged": "提请复核",
    "held": "待复核",
    "confirmed": "经复核维持",
    "withdrawn": "经复核撤销",
    "appealed": "申诉中",
    "changed": "经申诉变更",
}


@dataclass(frozen=True)
class UnitEstimate:
    """One index for one unit: figures on the 0–100 scale; ``deff`` None where undefined."""

    index_id: str
    index_name: str
    level: str
    unit_code: str
    unit_name: str
    district_code: str
    scale: str
    estimate: float | None
    se: float | None
    ci_lower: float | None
    ci_upper: float | None
    ci_method: str
    n: int
    n_eff: float
    dk_rate: float | None
    deff: float | None
    target: float | None = None
    # Kish effective size of the valid answers' weights (Σw)²/Σw²: the eligibility quantity.
    n_kish: float | None = None


@dataclass(frozen=True, kw_only=True)
class ResultRow(UnitEstimate):
    """One stored index result: the estimate, then what was stored with it."""

    wave_id: int
    month: str
    status: str
    rank: int | None
    n_ranked: int
    p_bottom_k: float | None
    rank_lower: int | None
    rank_upper: int | None
    distinguishable: bool | None
    fh_estimate: float | None
    fh_se: float | None
    sanctions: list[dict[str, Any]]
    praises: list[dict[str, Any]]
    evidence: dict[str, Any]
    instrument_id: str
    instrument_version: int
    method_version: str
