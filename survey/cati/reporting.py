"""Response rates from the database: each case's AAPOR disposition and design weight, handed
to the pure ``survey.estimation.aapor``. ``response_rates_for_wave`` is what the monthly report's
method box calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from survey.cati.outcomes import case_disposition
from survey.cati.tables import CallAttempt, Campaign, Case
from survey.db.tables import AppUser
from survey.estimation.aapor import DispositionCounts, ResponseRates, rates_by_group, response_rates


@dataclass(frozen=True, slots=True)
class CaseDisposition:
    """One case as the rates see it: stratum, last interviewer (None if never dialled),
    AAPOR disposition and design weight."""

    stratum: str
    interviewer: int | None
    disposition: str
    weight: float


@dataclass(frozen=True, slots=True)
class RatesReport:
    """Rates (unweighted, weighted) overall, per stratum and per interviewer (display name)."""

    overall: tuple[ResponseRates, ResponseRates]
    by_stratum: dict[str, tuple[ResponseRates, ResponseRates]]
    by_interviewer: dict[str, tuple[ResponseRates, ResponseRates]]
    cases: int


async def case_dispositions(campaign_ids: Sequence[int]) -> list[CaseDisposition]:
    """Every case of the campaigns with its current disposition: the final one if closed, else
    from its attempts so far (``outcomes.case_disposition``; never dialled: 3.11)."""
    if not campaign_ids:
        return []
    cases = await Case.select(
        Case.id, Case.stratum, Case.state, Case.disposition, Case.design_weight, Case.attempts
    ).where(Case.campaign.is_in(list(campaign_ids)))
    history: dict[int, list[str]] = {}
    last_interviewer: dict[int, int | None] = {}
    attempts = (
        await CallAttempt.select(
            CallAttempt.call_case, CallAttempt.disposition, CallAttempt.interviewer
        )
        .where(CallAttempt.call_case.campaign.is_in(list(campaign_ids)))
        .order_by(CallAttempt.id)
    )
    for a in attempts:
        history.setdefault(a["call_case"], []).append(a["disposition"])
        last_interviewer[a["call_case"]] = a["interviewer"]
    out: list[CaseDisposition] = []
    for c in cases:
        final = c["disposition"] if c["state"] == "final" else None
        out.append(
            CaseDisposition(
                c["stratum"],
                last_interviewer.get(c["id"]),
                case_disposition(history.get(c["id"], []), final),
                float(c["design_weight"]),
            )
        )
    return out


def _overall(
    records: Sequence[CaseDisposition], e: float | None
) -> tuple[ResponseRates, ResponseRates]:
    codes = [r.disposition for r in records]
    weights = [r.weight for r in records]
    return (
        response_rates(DispositionCounts.from_dispositions(codes), e),
        response_rates(DispositionCounts.from_dispositions(codes, weights), e),
    )


async def campaign_rates(campaign_id: int, e: float | None = None) -> RatesReport:
    """Rates of one campaign; ``e`` None uses the campaign's e set by hand, else estimates it.
    Per-group rates use the campaign's e (estimated overall) so groups are comparable."""
    if e is None:
        row = await Campaign.select(Campaign.e_override).where(Campaign.id == campaign_id).first()
        e = row["e_override"] if row else None
    records = await case_dispositions([campaign_id])
    overall = _overall(records, e)
    e_used = overall[0].e if e is None else e
    names = {
        u["id"]: u["display_name"] or u["username"]
        for u in await AppUser.select(AppUser.id, AppUser.display_name, AppUser.username)
    }
    return RatesReport(
        overall=overall,
        by_stratum=rates_by_group(((r.stratum, r.disposition, r.weight) for r in records), e_used),
        by_interviewer=rates_by_group(
            (
                (names.get(r.interviewer, str(r.interviewer)), r.disposition, r.weight)
                for r in records
                if r.interviewer is not None
            ),
            e_used,
        ),
        cases=len(records),
    )


@dataclass(frozen=True, slots=True)
class WaveRates:
    """For a report's method box: cases, the e used and whether estimated, and the rates
    (unweighted, weighted) of all phone campaigns of the wave together."""

    cases: int
    unweighted: ResponseRates
    weighted: ResponseRates


async def response_rates_for_wave(wave_id: int, e: float | None = None) -> WaveRates | None:
    """AAPOR rates of the wave's telephone campaigns (None when the wave has none).

    ``e`` None: the campaign's e set by hand if there is exactly one campaign with one, else
    estimated from the resolved cases."""
    campaigns = await Campaign.select(Campaign.id, Campaign.e_override).where(
        Campaign.wave == wave_id
    )
    if not campaigns:
        return None
    if e is None and len(campaigns) == 1:
        e = campaigns[0]["e_override"]
    records = await case_dispositions([int(c["id"]) for c in campaigns])
    unweighted, weighted = _overall(records, e)
    return WaveRates(len(records), unweighted, weighted)
