"""Design plans, draws, releases and reproducibility on the database (both engines).

Expected sizes are computed here from Cochran's formulas and the allocation rules, never copied
from the code's output."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from survey.collection.tables import Invitation
from survey.design.frames import import_blocks_file, import_frame_file
from survey.design.regions import DesignError
from survey.design.service import (
    DesignRejected,
    DesignSpec,
    draw_sample,
    plan_design,
    verify_sample,
)
from survey.design.tables import FrameRow, Sample, SampledElement, StratumTarget
from survey.release import release_batches
from tests.design.conftest import Region, frame_csv

pytestmark = pytest.mark.anyio

# Streets: 110101001 = C1 + C2, 110101002 = C3, 110101003 = C4.
SIZES = {"C1": 30, "C2": 30, "C3": 90, "C4": 120}
N_H = {"110101001": 60, "110101002": 90, "110101003": 120}


async def frame(region: Region, counts: dict[str, int] = SIZES, start: int = 0) -> int:
    summary = await import_frame_file(region.wave_id, "frame.csv", frame_csv(counts, start=start))
    return summary.frame_id


async def elements(sample_id: int) -> list[dict[str, object]]:
    return list(
        await SampledElement.select(
            SampledElement.frame_row,
            SampledElement.stratum,
            SampledElement.phone,
            SampledElement.batch,
            SampledElement.inclusion_prob,
            SampledElement.design_weight,
            SampledElement.released,
        )
        .where(SampledElement.sample == sample_id)
        .order_by(SampledElement.position)
    )


async def test_proportional_plan_matches_the_closed_form(region: Region) -> None:
    frame_id = await frame(region)
    plan = await plan_design(region.wave_id, DesignSpec(frame_id, total=54, response_rate=0.5))
    # n_h = 54 · N_h / 270 = 12, 18, 24 exactly; completes = n_h · 0.5.
    assert plan.sizes() == {"110101001": 12, "110101002": 18, "110101003": 24}
    assert [s.target for s in plan.strata] == [6, 9, 12]
    assert [s.population for s in plan.strata] == [60, 90, 120]
    assert [s.name for s in plan.strata] == ["东关街道", "南关街道", "北关街道"]


async def test_margin_gives_cochran_minimums_per_stratum(region: Region) -> None:
    frame_id = await frame(region)
    spec = DesignSpec(frame_id, margin=0.1, p=0.9, response_rate=0.6, allocation="compromise")
    plan = await plan_design(region.wave_id, spec)
    z = NormalDist().inv_cdf(0.975)
    n0 = z**2 * 0.9 * 0.1 / 0.1**2  # 34.57
    expected = {}
    for stratum, big_n in N_H.items():
        completes = math.ceil(n0 / (1 + (n0 - 1) / big_n) - 1e-9)
        expected[stratum] = min(math.ceil(completes / 0.6 - 1e-9), big_n)
    assert plan.sizes() == expected  # no total given: the minimums themselves
    for s in plan.strata:
        assert s.minimum == expected[s.stratum]
        # the expected margin at the target completes is the inverse formula
        m = round(s.size * 0.6)
        margin = z * math.sqrt(0.9 * 0.1 * (s.population - m) / (m * (s.population - 1)))
        assert s.margin == pytest.approx(margin, rel=1e-12)


async def test_empty_stratum_is_refused_and_nothing_is_stored(region: Region) -> None:
    frame_id = await frame(region, {"C1": 30, "C3": 40})  # street 110101003 (C4) has no rows
    with pytest.raises(DesignRejected) as info:
        await draw_sample(region.wave_id, DesignSpec(frame_id, total=20), seed=1)
    assert info.value.problems == ["层「110101003 北关街道」在抽样框中没有记录（空层）"]
    assert await Sample.count() == 0 and await StratumTarget.count() == 0


async def test_stratum_smaller_than_its_requested_size(region: Region) -> None:
    frame_id = await frame(region, {"C1": 30, "C3": 8, "C4": 50})
    with pytest.raises(DesignRejected) as info:
        await draw_sample(region.wave_id, DesignSpec(frame_id, min_per_stratum=10), seed=1)
    assert info.value.problems == ["层「110101002 南关街道」只有 8 条记录，少于要求的样本量 10"]
    with pytest.raises(DesignRejected, match="总样本量 100 大于抽样框"):
        await plan_design(region.wave_id, DesignSpec(frame_id, total=100, max_per_stratum=20))
    assert await Sample.count() == 0 and await SampledElement.count() == 0


async def test_bad_requests_are_explained(region: Region) -> None:
    frame_id = await frame(region)
    with pytest.raises(DesignRejected) as info:
        await plan_design(region.wave_id, DesignSpec(frame_id, mode="sms", response_rate=1.5))
    assert info.value.problems[0] == "调查方式「sms」无效（可选: web、phone）"
    assert "预期应答率必须在 0 与 1 之间（含 1），收到 1.5" in info.value.problems
    with pytest.raises(DesignError, match="不属于测评期"):
        await plan_design(region.earlier_wave_id, DesignSpec(frame_id, total=10))


@pytest.mark.parametrize("method", ["srswor", "systematic"])
async def test_same_design_and_seed_give_the_same_sample(region: Region, method: str) -> None:
    frame_id = await frame(region)
    spec = DesignSpec(frame_id, method=method, total=54, batch_shares=(0.5, 0.25, 0.25))
    first = await draw_sample(region.wave_id, spec, seed=20261124)
    second = await draw_sample(region.wave_id, spec, seed=20261124)
    other = await draw_sample(region.wave_id, spec, seed=20261125)
    a, b, c = (
        await elements(first.sample_id),
        await elements(second.sample_id),
        await elements(other.sample_id),
    )
    assert a == b and len(a) == 54
    assert [e["frame_row"] for e in a] != [e["frame_row"] for e in c]
    for sample_id in (first.sample_id, second.sample_id):
        check = await verify_sample(sample_id)
        assert check.identical, check.describe()
    stored = await Sample.select().where(Sample.id == first.sample_id).first()
    assert stored is not None and stored["seed"] == 20261124
    assert stored["package_version"].startswith("sampling ")
    assert stored["mode"] == "phone" and stored["method"] == method


async def test_verification_notices_a_changed_frame(region: Region) -> None:
    frame_id = await frame(region)
    drawn = await draw_sample(region.wave_id, DesignSpec(frame_id, total=30), seed=5)
    row = await FrameRow.select(FrameRow.id).order_by(FrameRow.id).first()
    assert row is not None
    await FrameRow.update({FrameRow.phone: "13999999999"}).where(FrameRow.id == row["id"])
    check = await verify_sample(drawn.sample_id)
    assert not check.identical and not check.fingerprint_matches
    assert "指纹不符" in check.describe()


async def test_release_weights_follow_the_released_share(region: Region) -> None:
    frame_id = await frame(region)
    spec = DesignSpec(frame_id, mode="web", total=54, batch_shares=(0.7, 0.3))
    drawn = await draw_sample(region.wave_id, spec, seed=11)
    rows = await elements(drawn.sample_id)
    n_h = {"110101001": 12, "110101002": 18, "110101003": 24}
    for e in rows:  # SRSWOR: π = n_h / N_h for every element; nothing released yet
        assert e["inclusion_prob"] == pytest.approx(n_h[e["stratum"]] / N_H[e["stratum"]])
        assert e["design_weight"] == 0 and not e["released"]
    first = await release_batches(drawn.sample_id)
    assert (first.released_batches, first.batches) == (1, 2)
    # batch 1 holds round(0.7 · n_h) per stratum (8.4 → 8, 12.6 → 13, 16.8 → 17 by largest
    # remainder; 8 + 13 + 17 = 38); its weight is N_h / m_h1 and the weights sum to N_h.
    m1 = {"110101001": 8, "110101002": 13, "110101003": 17}
    rows = await elements(drawn.sample_id)
    for stratum, m in m1.items():
        released = [e for e in rows if e["stratum"] == stratum and e["released"]]
        assert len(released) == m and all(e["batch"] == 1 for e in released)
        assert all(e["design_weight"] == pytest.approx(N_H[stratum] / m) for e in released)
        assert sum(float(e["design_weight"]) for e in released) == pytest.approx(N_H[stratum])  # type: ignore[arg-type]
    assert all(e["design_weight"] == 0 for e in rows if not e["released"])
    assert first.newly_released == 38 and first.handed_off == 38
    # the invitations carry the weights of their elements
    invitations = await Invitation.select(Invitation.design_weight, Invitation.stratum)
    assert len(invitations) == 38
    assert sorted(i["design_weight"] for i in invitations) == sorted(
        float(e["design_weight"])
        for e in rows
        if e["released"]  # type: ignore[arg-type]
    )
    second = await release_batches(drawn.sample_id)
    assert (second.released_batches, second.newly_released, second.handed_off) == (2, 16, 16)
    rows = await elements(drawn.sample_id)
    assert all(e["released"] for e in rows)
    for e in rows:  # all released: back to N_h / n_h
        assert e["design_weight"] == pytest.approx(N_H[e["stratum"]] / n_h[e["stratum"]])
    invitations = await Invitation.select(Invitation.design_weight, Invitation.stratum)
    for i in invitations:  # batch-1 invitations were updated, not left at their old weight
        assert i["design_weight"] == pytest.approx(N_H[i["stratum"]] / n_h[i["stratum"]])
    with pytest.raises(DesignError, match="已全部释放"):
        await release_batches(drawn.sample_id)
    again = await release_batches(drawn.sample_id, 2)  # a retry hands off nothing new
    assert (again.newly_released, again.handed_off) == (0, 0)
    with pytest.raises(DesignError, match="不能撤回"):
        await release_batches(drawn.sample_id, 1)


async def test_phone_sample_becomes_cati_cases(region: Region) -> None:
    from survey.cati.tables import Case

    frame_id = await frame(region)
    drawn = await draw_sample(region.wave_id, DesignSpec(frame_id, total=27), seed=3)
    result = await release_batches(drawn.sample_id)
    cases = await Case.select(Case.phone, Case.design_weight, Case.stratum, Case.batch)
    assert result.handed_off == len(cases) == result.released_total
    released = {e["phone"]: e for e in await elements(drawn.sample_id) if e["released"]}
    for c in cases:
        assert c["design_weight"] == pytest.approx(float(released[c["phone"]]["design_weight"]))  # type: ignore[arg-type]
        assert c["stratum"] == released[c["phone"]]["stratum"] and c["batch"] == 1
    await release_batches(drawn.sample_id)
    n_h = {"110101001": 6, "110101002": 9, "110101003": 12}
    for c in await Case.select(Case.design_weight, Case.stratum):
        assert c["design_weight"] == pytest.approx(N_H[c["stratum"]] / n_h[c["stratum"]])


async def test_the_cati_console_releases_reserve_with_the_designs_weights(region: Region) -> None:
    """The supervisor's 开放备用批次 releases through the design: the reserve's cases get the
    weights N_h / n_h of the whole fielded sample and the batch-1 cases are reweighed to them."""
    from survey.cati.supervisor import batch_info, release_next_batch
    from survey.cati.tables import Campaign, Case

    frame_id = await frame(region)
    drawn = await draw_sample(region.wave_id, DesignSpec(frame_id, total=27), seed=3)
    await release_batches(drawn.sample_id)
    campaign = await Campaign.select(Campaign.id).where(Campaign.wave == region.wave_id).first()
    assert campaign is not None
    (info,) = await batch_info(campaign["id"])
    assert info.sample_id == drawn.sample_id and info.next_batch == 2
    batch, created = await release_next_batch(
        campaign["id"], drawn.sample_id, "supervisor", release=release_batches
    )
    assert batch == 2 and created == sum(info.reserve.values()) > 0
    n_h = {"110101001": 6, "110101002": 9, "110101003": 12}
    cases = await Case.select(Case.design_weight, Case.stratum, Case.batch)
    assert len(cases) == sum(n_h.values()) and {c["batch"] for c in cases} == {1, 2}
    for c in cases:
        assert c["design_weight"] == pytest.approx(N_H[c["stratum"]] / n_h[c["stratum"]])


async def test_targets_are_stored_per_stratum(region: Region) -> None:
    frame_id = await frame(region)
    await draw_sample(region.wave_id, DesignSpec(frame_id, total=54, response_rate=0.5), seed=2)
    targets = await StratumTarget.select(StratumTarget.stratum, StratumTarget.target).order_by(
        StratumTarget.stratum
    )
    assert [(t["stratum"], t["target"]) for t in targets] == [
        ("110101001", 6),
        ("110101002", 9),
        ("110101003", 12),
    ]


BLOCKS = "prefix,carrier,district\n1380013,中国移动,110101\n1391234,中国移动,110101\n0571-8765,中国电信,110101\n"


async def test_number_sample_from_blocks(region: Region) -> None:
    blocks = await import_blocks_file(region.wave_id, "blocks.csv", BLOCKS.encode())
    spec = DesignSpec(blocks.frame_id, method="numbers", total=401, landline_share=0.25)
    first = await draw_sample(region.wave_id, spec, seed=9)
    rows = await elements(first.sample_id)
    phones = [str(e["phone"]) for e in rows]
    assert len(phones) == len(set(phones)) == 401
    mobile = [p for p in phones if p.startswith("1")]
    landline = [p for p in phones if p.startswith("0")]
    assert len(landline) == 100 and len(mobile) == 301  # 401 · 1/4 = 100.25 → 100
    assert all(p[:7] in ("1380013", "1391234") and len(p) == 11 for p in mobile)
    assert all(p.startswith("05718765") and len(p) == 12 for p in landline)
    for e in rows:  # π = n / eligible numbers of the pool (10,000 per block)
        pool = 20_000 if str(e["phone"]).startswith("1") else 10_000
        n = 301 if pool == 20_000 else 100
        assert e["inclusion_prob"] == pytest.approx(n / pool)
    # a second sample of the wave never repeats a number of the first (and is reproducible)
    second = await draw_sample(region.wave_id, spec, seed=9)
    again = {str(e["phone"]) for e in await elements(second.sample_id)}
    assert not again & set(phones)
    for sample_id in (first.sample_id, second.sample_id):
        assert (await verify_sample(sample_id)).identical
    # web mode uses mobile blocks only (SMS)
    web = await draw_sample(
        region.wave_id, DesignSpec(blocks.frame_id, mode="web", total=50), seed=1
    )
    assert all(str(e["phone"]).startswith("1") for e in await elements(web.sample_id))


async def test_numbers_of_earlier_waves_are_excluded(region: Region) -> None:
    # the earlier (closed) wave used every number of one block but 10
    from survey.design.tables import Frame

    used = [f"1380013{k:04d}" for k in range(10, 10_000)]
    result = await Frame.insert(Frame(wave=region.earlier_wave_id, kind="blocks")).returning(
        Frame.id
    )
    sample = await Sample.insert(
        Sample(wave=region.earlier_wave_id, frame=result[0]["id"], method="numbers", seed=1)
    ).returning(Sample.id)
    rows = [
        SampledElement(
            sample=sample[0]["id"],
            position=i,
            stratum="x",
            phone=p,
            inclusion_prob=1,
            design_weight=1,
        )
        for i, p in enumerate(used)
    ]
    for start in range(0, len(rows), 1000):  # PostgreSQL takes at most 32,767 parameters
        await SampledElement.insert(*rows[start : start + 1000])
    blocks = await import_blocks_file(
        region.wave_id, "b.csv", "prefix,carrier,district\n1380013,中国移动,110101\n".encode()
    )
    with pytest.raises(DesignRejected, match="只有 10 个可用号码，少于要求的 11 个"):
        await plan_design(region.wave_id, DesignSpec(blocks.frame_id, total=11))
    drawn = await draw_sample(region.wave_id, DesignSpec(blocks.frame_id, total=10), seed=4)
    phones = sorted(str(e["phone"]) for e in await elements(drawn.sample_id))
    assert phones == [f"1380013{k:04d}" for k in range(10)]
    # without the exclusion of earlier waves the numbers could repeat
    plan = await plan_design(
        region.wave_id, DesignSpec(blocks.frame_id, total=11, exclude_last_waves=0)
    )
    assert plan.strata[0].population == 10_000 - 10  # only this wave's own sample is excluded


async def test_two_releases_at_once_release_two_batches(region: Region) -> None:
    # "Release the next batch" twice at the same moment: the sample row is locked (PostgreSQL)
    # or the write transaction is immediate (SQLite), so the second sees the first's release.
    import anyio

    frame_id = await frame(region)
    drawn = await draw_sample(
        region.wave_id, DesignSpec(frame_id, total=54, batch_shares=(0.5, 0.3, 0.2)), seed=8
    )
    results: list[int] = []

    async def release() -> None:
        results.append((await release_batches(drawn.sample_id)).released_batches)

    async with anyio.create_task_group() as tg:
        tg.start_soon(release)
        tg.start_soon(release)
    assert sorted(results) == [1, 2]
    rows = await elements(drawn.sample_id)
    assert {int(e["batch"]) for e in rows if e["released"]} == {1, 2}  # type: ignore[call-overload]


async def test_web_mode_needs_mobile_numbers(region: Region) -> None:
    data = b"unit,phone\nC1,13900000001\nC3,0571-87650001\nC4,13900000002\n"
    summary = await import_frame_file(region.wave_id, "mixed.csv", data)
    with pytest.raises(DesignRejected) as info:
        await plan_design(region.wave_id, DesignSpec(summary.frame_id, mode="web", total=3))
    assert info.value.problems == ["第3行是固话号码：手机网页调查需要手机号码（短信邀请）"]
    plan = await plan_design(region.wave_id, DesignSpec(summary.frame_id, mode="phone", total=3))
    assert plan.total == 3


async def test_do_not_call_numbers_are_never_drawn(region: Region) -> None:
    blocks = await import_blocks_file(
        region.wave_id, "b.csv", "prefix,carrier,district\n1391234,中国移动,110101\n".encode()
    )
    allowed = {"13912340007", "13912344321", "13912349999"}
    refused = tuple(f"1391234{k:04d}" for k in range(10_000) if f"1391234{k:04d}" not in allowed)
    spec = DesignSpec(blocks.frame_id, total=3, do_not_call=refused)
    drawn = await draw_sample(region.wave_id, spec, seed=12)
    assert {str(e["phone"]) for e in await elements(drawn.sample_id)} == allowed
    check = await verify_sample(drawn.sample_id)
    assert check.identical and check.exclusions_match


async def test_closed_wave_refuses_draws_and_releases(region: Region) -> None:
    from survey.db.tables import Wave

    frame_id = await frame(region)
    drawn = await draw_sample(region.wave_id, DesignSpec(frame_id, total=30), seed=6)
    await Wave.update({Wave.status: "closed"}).where(Wave.id == region.wave_id)
    with pytest.raises(DesignError, match="已结束"):
        await release_batches(drawn.sample_id)
    with pytest.raises(DesignError, match="已结束"):
        await draw_sample(region.wave_id, DesignSpec(frame_id, total=30), seed=7)
    assert await Sample.count() == 1
    assert await SampledElement.count().where(SampledElement.released.eq(True)) == 0


async def test_verification_after_the_numbers_were_deleted(region: Region) -> None:
    """After ``purge-contacts`` a sample is still checked for everything but its numbers: a frame
    sample's rows, strata, batches and probabilities; a number sample's blocks (the block list
    itself is kept). What can no longer be checked is named, and a real change is still found."""
    from datetime import date

    from survey.db.tables import Wave
    from survey.design.tables import Frame
    from survey.lifecycle.retention import purge_wave_contacts

    frame_id = await frame(region)
    from_frame = await draw_sample(region.wave_id, DesignSpec(frame_id, total=30), seed=21)
    blocks = await import_blocks_file(
        region.wave_id, "b.csv", "prefix,carrier,district\n1380013,中国移动,110101\n".encode()
    )
    numbers = await draw_sample(region.wave_id, DesignSpec(blocks.frame_id, total=12), seed=22)
    for sample in (from_frame, numbers):
        assert (await verify_sample(sample.sample_id)).identical
    await Wave.update({Wave.status: "closed", Wave.closes_on: date(2026, 11, 30)}).where(
        Wave.id == region.wave_id
    )
    summary = await purge_wave_contacts(region.wave_id, retention_days=0, today=date(2026, 12, 1))
    assert summary.sampled == 42 and summary.frame_rows > 0
    kept = await FrameRow.select(FrameRow.phone).where(FrameRow.frame == blocks.frame_id)
    assert kept == [{"phone": "1380013"}]  # the block list is not a list of residents' numbers
    assert await Frame.count().where(Frame.wave == region.wave_id) == 2

    check = await verify_sample(from_frame.sample_id)
    assert not check.identical and check.consistent and check.fingerprint_matches is None
    assert check.mismatches == 0 and check.purged_numbers == 30 + summary.frame_rows
    assert "部分复核一致" in check.describe() and "抽样框指纹" in check.describe()
    check = await verify_sample(numbers.sample_id)
    assert check.consistent and check.fingerprint_matches is True
    assert check.exclusions_match is None
    assert check.purged_numbers == 12 + 30  # its own numbers and those of the older sample
    assert "排除号码名单" in check.describe()

    # a stored element moved to another batch is still a difference
    first = (
        await SampledElement.select(SampledElement.id, SampledElement.batch)
        .where(SampledElement.sample == from_frame.sample_id)
        .order_by(SampledElement.position)
        .first()
    )
    assert first is not None
    await SampledElement.update({SampledElement.batch: int(first["batch"]) + 1}).where(
        SampledElement.id == first["id"]
    )
    check = await verify_sample(from_frame.sample_id)
    assert not check.consistent and check.mismatches == 1
    assert "无法复现" in check.describe() and "1 个单元不同" in check.describe()


async def test_number_sample_of_a_city_splits_by_the_registered_adults(region: Region) -> None:
    """A city wave's number sample is allocated to its districts in proportion to their adults,
    counted as the registry page and the results' weighting count them: the communities'
    population (a count given on a street row is not added on top of its communities')."""
    from survey.db.tables import Programme, Unit, Wave
    from survey.registry.queries import district_view
    from survey.registry.service import import_registry_file

    # long-format counts are community-only; the wide file may give a street row counts too
    ages = ("18_29", "30_44", "45_59", "60p")
    header = ",".join(f"pop_{sex}_{age}" for sex in "mf" for age in ages)
    population = "\n".join(
        [
            f"kind,code,name,parent_code,station_code,{header}",
            "街道,110101001,东关街道,110101,,500,0,0,0,0,0,0,500",
            "社区,C1,一号社区,110101001,S1,100,0,0,0,0,0,0,50",
            "社区,C2,二号社区,110101001,S2,60,0,0,0,0,0,0,40",
            "社区,C3,三号社区,110101002,S1,100,0,0,0,0,0,0,0",
            "社区,C4,四号社区,110101003,S2,0,0,0,0,0,0,0,250",
            "社区,W1,西一社区,110102001,S9,120,0,0,0,0,0,0,80",
        ]
    )
    await import_registry_file("population.csv", population.encode())
    # east: 150 + 100 + 100 + 250 = 600 adults; west: 200 — total 40 → 30 and 10 exactly
    city = await Unit.select(Unit.id).where(Unit.code == "110100").first()
    assert city is not None
    programme = await Programme.insert(
        Programme(code="city", name="测试市测评", region=city["id"])
    ).returning(Programme.id)
    wave = await Wave.insert(
        Wave(programme=programme[0]["id"], month="2026-11", status="design")
    ).returning(Wave.id)
    wave_id = int(wave[0]["id"])
    blocks = "prefix,carrier,district\n1380013,中国移动,110101\n1391234,中国移动,110102\n"
    summary = await import_blocks_file(wave_id, "blocks.csv", blocks.encode())
    plan = await plan_design(wave_id, DesignSpec(summary.frame_id, method="numbers", total=40))
    assert plan.sizes() == {"110101-mobile": 30, "110102-mobile": 10}
    for code, adults in (("110101", 600), ("110102", 200)):  # the registry page's figure
        unit = await Unit.select(Unit.id).where(Unit.code == code).first()
        assert unit is not None
        view = await district_view(int(unit["id"]))
        assert view is not None and view.adults == adults
