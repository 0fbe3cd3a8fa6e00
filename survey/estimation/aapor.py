"""AAPOR Standard Definitions (10th ed.) outcome rates, as pure functions over dispositions.

One module for every mode: the telephone campaign (``survey.cati.outcomes`` maps call outcomes
to AAPOR codes) and the web invitations (``survey.collection.dispositions`` maps invitation
steps to AAPOR codes for internet surveys of specifically named persons) hand their AAPOR
codes, or counts per category, to the same formulas.

Counts (optionally weighted by design weights) of I complete, P partial, R refusal and
break-off, NC non-contact, O other, UH unknown if household, UO unknown other, NE not eligible.
With ``e`` the estimated share of unknown-eligibility cases that are eligible::

    RR1 = I / ((I+P) + (R+NC+O) + (UH+UO))          RR2 = (I+P) / (same)
    RR3 = I / ((I+P) + (R+NC+O) + e(UH+UO))         RR4 = (I+P) / (same)
    RR5 = I / ((I+P) + (R+NC+O))                    RR6 = (I+P) / (same)
    COOP1 = I / ((I+P) + R + O)    COOP2 = (I+P) / ((I+P) + R + O)
    COOP3 = I / ((I+P) + R)        COOP4 = (I+P) / ((I+P) + R)
    REF1 = R / ((I+P) + (R+NC+O) + (UH+UO))   REF2 = R / (… + e(UH+UO))   REF3 = R / ((I+P)+(R+NC+O))
    CON1 = ((I+P) + R + O) / ((I+P) + (R+NC+O) + (UH+UO))   CON2 = … / (… + e(UH+UO))
    CON3 = ((I+P) + R + O) / ((I+P) + (R+NC+O))

``e`` defaults to the proportion eligible among resolved cases,
e = (I+P+R+NC+O) / (I+P+R+NC+O+NE) (AAPOR's "proportional allocation" estimate). A rate whose
denominator is zero is None. Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Literal

# AAPOR rate categories: complete, partial, refusal/break-off, non-contact, other, unknown
# household, unknown other, not eligible.
Category = Literal["I", "P", "R", "NC", "O", "UH", "UO", "NE"]
CATEGORIES: tuple[Category, ...] = ("I", "P", "R", "NC", "O", "UH", "UO", "NE")


class DispositionError(ValueError):
    """An AAPOR disposition code that is not one (the message is Chinese)."""


def aapor_category(disposition: str) -> Category:
    """The rate category (I, P, R, NC, O, UH, UO, NE) of an AAPOR disposition code."""
    if disposition == "1.1" or disposition.startswith("1.1"):
        return "I"
    if disposition.startswith("1.2"):
        return "P"
    if disposition.startswith("2.1"):
        return "R"
    if disposition.startswith("2.2"):
        return "NC"
    if disposition.startswith("2."):
        return "O"
    if disposition.startswith("3.1"):
        return "UH"
    if disposition.startswith("3."):
        return "UO"
    if disposition.startswith("4."):
        return "NE"
    raise DispositionError(f"未知的 AAPOR 处置代码 {disposition}")


RATE_NAMES: tuple[str, ...] = (
    "rr1", "rr2", "rr3", "rr4", "rr5", "rr6",
    "coop1", "coop2", "coop3", "coop4",
    "ref1", "ref2", "ref3",
    "con1", "con2", "con3",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DispositionCounts:
    """Cases (or sums of design weights) per AAPOR rate category."""

    i: float = 0.0
    p: float = 0.0
    r: float = 0.0
    nc: float = 0.0
    o: float = 0.0
    uh: float = 0.0
    uo: float = 0.0
    ne: float = 0.0

    @classmethod
    def from_dispositions(
        cls, dispositions: Sequence[str], weights: Sequence[float] | None = None
    ) -> DispositionCounts:
        """Count AAPOR disposition codes (``"1.1"``, ``"3.13"`` …), weighted if ``weights``."""
        if weights is not None and len(weights) != len(dispositions):
            raise ValueError("weights and dispositions differ in length")
        totals = dict.fromkeys(("i", "p", "r", "nc", "o", "uh", "uo", "ne"), 0.0)
        for index, code in enumerate(dispositions):
            weight = 1.0 if weights is None else float(weights[index])
            totals[aapor_category(code).lower()] += weight
        return cls(**totals)

    @classmethod
    def from_code_totals(cls, totals: Iterable[tuple[str, float]]) -> DispositionCounts:
        """Add up ``(AAPOR code, count or weight)`` pairs per category (counts already
        aggregated, e.g. by SQL)."""
        sums = dict.fromkeys(("i", "p", "r", "nc", "o", "uh", "uo", "ne"), 0.0)
        for code, amount in totals:
            sums[aapor_category(code).lower()] += float(amount)
        return cls(**sums)

    @property
    def total(self) -> float:
        """All cases (or total weight)."""
        return sum(getattr(self, f.name) for f in fields(self))

    def __add__(self, other: DispositionCounts) -> DispositionCounts:
        return DispositionCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True, slots=True)
class ResponseRates:
    """The AAPOR rates (proportions in [0, 1], None when undefined) and the ``e`` used
    (``e_estimated`` False when it was set by hand)."""

    counts: DispositionCounts
    e: float | None
    e_estimated: bool
    rr1: float | None
    rr2: float | None
    rr3: float | None
    rr4: float | None
    rr5: float | None
    rr6: float | None
    coop1: float | None
    coop2: float | None
    coop3: float | None
    coop4: float | None
    ref1: float | None
    ref2: float | None
    ref3: float | None
    con1: float | None
    con2: float | None
    con3: float | None

    def as_dict(self) -> dict[str, float | None]:
        """The sixteen rates by lower-case name."""
        return {name: getattr(self, name) for name in RATE_NAMES}


def estimate_e(counts: DispositionCounts) -> float | None:
    """Share eligible among resolved cases, (I+P+R+NC+O)/(I+P+R+NC+O+NE); None if none resolved."""
    eligible = counts.i + counts.p + counts.r + counts.nc + counts.o
    resolved = eligible + counts.ne
    return eligible / resolved if resolved > 0 else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def response_rates(counts: DispositionCounts, e: float | None = None) -> ResponseRates:
    """All AAPOR rates of ``counts``; ``e`` given by hand (0 ≤ e ≤ 1) or estimated."""
    if e is not None and not 0.0 <= e <= 1.0:
        raise ValueError(f"e must lie in [0, 1], got {e}")
    estimated = e is None
    e_used = estimate_e(counts) if e is None else e
    ip = counts.i + counts.p
    known = ip + counts.r + counts.nc + counts.o
    unknown = counts.uh + counts.uo
    with_unknown = known + unknown
    # Without any resolved case e is undefined; the e-rates are then undefined too, unless
    # there are no unknown cases (e(UH+UO) = 0 whatever e is).
    with_e: float | None = known + e_used * unknown if e_used is not None else None
    if with_e is None and unknown == 0:
        with_e = known
    contacts = ip + counts.r + counts.o

    def over_e(numerator: float) -> float | None:
        return None if with_e is None else _ratio(numerator, with_e)

    return ResponseRates(
        counts=counts,
        e=e_used,
        e_estimated=estimated,
        rr1=_ratio(counts.i, with_unknown),
        rr2=_ratio(ip, with_unknown),
        rr3=over_e(counts.i),
        rr4=over_e(ip),
        rr5=_ratio(counts.i, known),
        rr6=_ratio(ip, known),
        coop1=_ratio(counts.i, ip + counts.r + counts.o),
        coop2=_ratio(ip, ip + counts.r + counts.o),
        coop3=_ratio(counts.i, ip + counts.r),
        coop4=_ratio(ip, ip + counts.r),
        ref1=_ratio(counts.r, with_unknown),
        ref2=over_e(counts.r),
        ref3=_ratio(counts.r, known),
        con1=_ratio(contacts, with_unknown),
        con2=over_e(contacts),
        con3=_ratio(contacts, known),
    )


def rates_by_group(
    records: Iterable[tuple[str, str, float]], e: float | None = None
) -> dict[str, tuple[ResponseRates, ResponseRates]]:
    """Rates per group from ``(group, disposition, design weight)`` records:
    ``{group: (unweighted, weighted)}``. With ``e`` None each group estimates its own e."""
    codes: dict[str, list[str]] = {}
    weights: dict[str, list[float]] = {}
    for group, code, weight in records:
        codes.setdefault(group, []).append(code)
        weights.setdefault(group, []).append(weight)
    out: dict[str, tuple[ResponseRates, ResponseRates]] = {}
    for group in sorted(codes):
        unweighted = DispositionCounts.from_dispositions(codes[group])
        weighted = DispositionCounts.from_dispositions(codes[group], weights[group])
        out[group] = (response_rates(unweighted, e), response_rates(weighted, e))
    return out
