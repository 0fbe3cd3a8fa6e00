"""Campaigns and their cases: create the wave's phone campaign, add cases from a released sample
or from a plain list of numbers (idempotent: a number already in the campaign is skipped)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sampling.numbers import normalize_number, number_problem
from survey.cati.tables import Campaign, Case, StratumProgress
from survey.db import write_transaction
from survey.db.tables import Wave
from survey.design.tables import Sample, SampledElement

_CHUNK = 1000


class CatiError(Exception):
    """A CATI operation was refused; the message says why, in Chinese, for the user."""


def utc_now() -> dt.datetime:
    """Now in UTC, whole seconds (stored times compare as text on SQLite: keep one format)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def whole_seconds(at: dt.datetime) -> dt.datetime:
    """``at`` in UTC, whole seconds."""
    return at.astimezone(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class CaseInput:
    """A number to call: its stratum, design weight (1/π) and reserve batch (1 = main sample)."""

    phone: str
    stratum: str = ""
    design_weight: float = 1.0
    batch: int = 1
    sampled_element: int | None = None


async def ensure_campaign(wave_id: int, mode: str = "phone") -> int:
    """The id of the wave's campaign for ``mode``, created with default rules if missing."""
    async with write_transaction():
        campaign_id = await find_or_create_campaign(wave_id, mode)
    return campaign_id


async def campaign_of(ref: str) -> int:
    """A campaign id from the command line: its number, or a wave (``2027-01``,
    ``qs-lsyd/2027-01``) whose telephone campaign it is. ``CatiError`` naming the problem."""
    from survey import waves

    text = ref.strip()
    if text.isdigit():
        if not await Campaign.exists().where(Campaign.id == int(text)):
            raise CatiError(f"呼叫任务 {text} 不存在（也可以写测评期，如 2027-01）")
        return int(text)
    try:
        wave_id = await waves.resolve_wave(text)
    except waves.WaveError as exc:
        raise CatiError(str(exc)) from exc
    row = (
        await Campaign.select(Campaign.id)
        .where((Campaign.wave == wave_id) & (Campaign.mode == "phone"))
        .first()
    )
    if row is None:
        raise CatiError(
            f"测评期 {text} 还没有电话访问任务（释放电话样本 survey sample release，"
            "或 survey cati add-sample 后才有）"
        )
    return int(row["id"])


async def find_or_create_campaign(wave_id: int, mode: str) -> int:
    """``ensure_campaign`` inside the caller's write transaction."""
    row = (
        await Campaign.select(Campaign.id)
        .where((Campaign.wave == wave_id) & (Campaign.mode == mode))
        .first()
    )
    if row is not None:
        return int(row["id"])
    wave = await Wave.select(Wave.month, Wave.programme.name).where(Wave.id == wave_id).first()
    if wave is None:
        raise CatiError(f"测评期 {wave_id} 不存在")
    from survey.programmes.service import instrument_of_wave

    # ON CONFLICT: two transactions creating the campaign at once (e.g. concurrent web → phone
    # switches) end with the one row of the unique index (wave, mode).
    await Campaign.insert(
        Campaign(
            wave=wave_id,
            mode=mode,
            name=f"{wave['programme.name']} {wave['month']} 电话访问",
            instrument_id=await instrument_of_wave(wave_id, "phone"),  # the programme's choice
        )
    ).on_conflict(target=(Campaign.wave, Campaign.mode), action="DO NOTHING")
    row = (
        await Campaign.select(Campaign.id)
        .where((Campaign.wave == wave_id) & (Campaign.mode == mode))
        .first()
    )
    assert row is not None
    return int(row["id"])


async def insert_cases(campaign_id: int, rows: Sequence[CaseInput], now: dt.datetime) -> int:
    """Inside the caller's write transaction: insert the rows whose number is not yet in the
    campaign; update stratum case counts. Returns how many were inserted."""
    existing = {
        r["phone"] for r in await Case.select(Case.phone).where(Case.campaign == campaign_id)
    }
    fresh: list[CaseInput] = []
    for row in rows:
        if row.phone in existing:
            continue
        existing.add(row.phone)
        fresh.append(row)
    for start in range(0, len(fresh), _CHUNK):
        await Case.insert(
            *[
                Case(
                    campaign=campaign_id,
                    phone=r.phone,
                    stratum=r.stratum,
                    design_weight=r.design_weight,
                    batch=r.batch,
                    sampled_element=r.sampled_element,
                    state="open",
                    next_call_at=now,
                )
                for r in fresh[start : start + _CHUNK]
            ]
        )
    per_stratum: dict[str, int] = {}
    for r in fresh:
        per_stratum[r.stratum] = per_stratum.get(r.stratum, 0) + 1
    for stratum, count in per_stratum.items():
        updated = (
            await StratumProgress.update({StratumProgress.cases: StratumProgress.cases + count})
            .where((StratumProgress.campaign == campaign_id) & (StratumProgress.stratum == stratum))
            .returning(StratumProgress.id)
        )
        if not updated:
            await StratumProgress.insert(
                StratumProgress(campaign=campaign_id, stratum=stratum, completes=0, cases=count)
            )
    return len(fresh)


def check_numbers(rows: Iterable[CaseInput | str]) -> list[CaseInput]:
    """Normalise numbers; raises ``CatiError`` listing the first problems with their row."""
    out: list[CaseInput] = []
    problems: list[str] = []
    for index, row in enumerate(rows, start=1):
        item = row if isinstance(row, CaseInput) else CaseInput(row)
        problem = number_problem(item.phone)
        if problem:
            problems.append(f"第 {index} 行: {problem}")
            continue
        if not item.design_weight > 0:
            problems.append(f"第 {index} 行: 设计权重必须为正数，收到 {item.design_weight}")
            continue
        out.append(
            CaseInput(
                normalize_number(item.phone),
                item.stratum,
                float(item.design_weight),
                int(item.batch),
                item.sampled_element,
            )
        )
    if problems:
        more = f"（另有 {len(problems) - 5} 处）" if len(problems) > 5 else ""
        raise CatiError("；".join(problems[:5]) + more)
    return out


async def add_cases(
    campaign_id: int, rows: Iterable[CaseInput | str], now: dt.datetime | None = None
) -> int:
    """Add numbers (plain strings or ``CaseInput``) to a campaign; returns how many were new.

    Every number is checked first: one bad number rejects the whole list (nothing stored)."""
    checked = check_numbers(rows)
    async with write_transaction():
        if not await Campaign.exists().where(Campaign.id == campaign_id):
            raise CatiError(f"呼叫任务 {campaign_id} 不存在")
        created = await insert_cases(campaign_id, checked, whole_seconds(now or utc_now()))
    return created


async def reweigh_cases(element_ids: list[int], weight: float) -> None:
    """Inside a release's transaction: the new design ``weight`` of these sampled elements onto
    their cases and the responses of those cases (``survey.design.service.Fielding.reweigh``)."""
    from survey.collection.responses import set_response_weights

    await Case.update({Case.design_weight: weight}).where(Case.sampled_element.is_in(element_ids))
    responses = await Case.select(Case.response).where(
        Case.sampled_element.is_in(element_ids) & Case.response.is_not_null()
    )
    await set_response_weights([int(r["response"]) for r in responses], weight)


async def add_cases_from_sample(sample_id: int) -> int:
    """Create a case for each released sampled element of the sample with a phone number and
    no case yet, in the wave's phone campaign (created if missing), copying phone, stratum,
    design weight and batch. Idempotent; returns the number of cases created."""
    async with write_transaction():
        created = await _add_from_sample(sample_id)
    return created


async def _add_from_sample(sample_id: int) -> int:
    sample = await Sample.select(Sample.wave).where(Sample.id == sample_id).first()
    if sample is None:
        raise CatiError(f"样本 {sample_id} 不存在")
    campaign_id = await find_or_create_campaign(int(sample["wave"]), "phone")
    elements = (
        await SampledElement.select(
            SampledElement.id,
            SampledElement.phone,
            SampledElement.stratum,
            SampledElement.design_weight,
            SampledElement.batch,
        )
        .where(
            (SampledElement.sample == sample_id)
            & (SampledElement.released.eq(True))
            & (SampledElement.phone != "")
        )
        .order_by(SampledElement.position)
    )
    linked = {
        r["sampled_element"]
        for r in await Case.select(Case.sampled_element).where(
            (Case.campaign == campaign_id) & Case.sampled_element.is_not_null()
        )
    }
    rows = [
        CaseInput(
            normalize_number(e["phone"]),
            e["stratum"],
            float(e["design_weight"]),
            int(e["batch"]),
            int(e["id"]),
        )
        for e in elements
        if e["id"] not in linked
    ]
    return await insert_cases(campaign_id, rows, utc_now())


# A purged case keeps a placeholder that names no number and stays unique per campaign.
PURGED_CASE_PREFIX = "已删除#"


async def purge_phones(wave_id: int, *, dry_run: bool = False) -> int:
    """Replace the numbers of a wave's cases by ``已删除#<case id>`` (cases are unique per
    campaign and number; rows stay, so cases called still count); returns how many held one.
    ``survey.lifecycle.retention`` calls it inside its transaction."""
    campaigns = [
        int(c)
        for c in await Campaign.select(Campaign.id)
        .where(Campaign.wave == wave_id)
        .output(as_list=True)
    ]
    if not campaigns:
        return 0
    count = await Case.count().where(
        Case.campaign.is_in(campaigns)
        & (Case.phone != "")
        & Case.phone.not_like(PURGED_CASE_PREFIX + "%")
    )
    if not dry_run:
        await Case.raw(
            "UPDATE cati_case SET phone = {} || CAST(id AS TEXT) WHERE campaign IN ("
            + ", ".join(str(c) for c in campaigns)
            + ")",
            PURGED_CASE_PREFIX,
        )
    return count
