"""Review of uncertain sanctions in the database: the programme adopts the shipped
``default-review.toml`` (review = "hold"), the demo's October is computed again before
publication, its uncertain sanctions are 待复核, publishing is refused until each is confirmed or
withdrawn with a reason, and the decisions are stored, audited and shown."""

from __future__ import annotations

import json

import httpx
import pytest

from survey.audit import AuditLog
from survey.db.tables import Wave
from survey.programmes.service import read_policy_source, set_policy
from survey.results.compute import ComputeError, compute_wave
from survey.results.dashboard import wave_view
from survey.results.export import export_results
from survey.results.publishing import set_status
from survey.results.review import decide, held_sanctions, reviews_for_wave
from survey.results.tables import SanctionDecision
from survey.waves import WaveError

pytestmark = pytest.mark.anyio


async def _october() -> int:
    row = await Wave.select(Wave.id).where(Wave.month == "2026-10").first()
    assert row is not None
    return int(row["id"])


async def test_hold_blocks_publication_until_every_held_sanction_is_decided(
    demo_city: None,
) -> None:
    wave_id = await _october()
    # October back to 结束采集 (before publication), the programme on the review policy.
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave_id)
    text, name = read_policy_source("default_review")
    await set_policy("nancheng-lsyd", text, name, username="admin")
    await compute_wave(wave_id, username="analyst")

    held = await held_sanctions(wave_id)
    assert held, "the demo's October has sanctions on uncertain figures"
    for h in held:
        # Each is held because its evidence is uncertain: P(bottom 2) < 0.9 or not distinguishable.
        assert (h.p_bottom_k is not None and h.p_bottom_k < 0.9) or "无法区分" in h.note
    # 解放派出所's 一票否决 (P(bottom 2) > 0.9, distinguishable) is not held.
    assert "990102P06" not in {h.unit_code for h in held if h.index_id == "anquangan"}

    with pytest.raises(WaveError, match="待复核") as refused:
        await set_status(wave_id, "published", username="admin")
    assert held[0].unit_name in str(refused.value)

    # A committee member may review under this policy; a pollster may not; a reason is required.
    first, *rest = held
    with pytest.raises(ComputeError, match="角色"):
        await decide(
            wave_id, first.unit_code, index_id=first.index_id, outcome="撤销",
            reason="x", username="p1", roles=("pollster",),
        )  # fmt: skip
    with pytest.raises(ComputeError, match="理由"):
        await decide(
            wave_id, first.unit_code, index_id=first.index_id, outcome="撤销",
            reason="  ", username="c1", roles=("committee",),
        )  # fmt: skip
    decided = await decide(
        wave_id, first.unit_code, index_id=first.index_id, outcome="撤销",
        reason="与第三名差异不显著，证据不足", username="committee", roles=("committee",),
    )  # fmt: skip
    assert decided.review == "withdrawn" and decided.review_by == "committee"
    # Still refused while any other held sanction is left.
    if rest:
        with pytest.raises(WaveError, match="待复核"):
            await set_status(wave_id, "published", username="admin")
    for h in rest:
        await decide(
            wave_id, h.unit_code, index_id=h.index_id, outcome="维持",
            reason="连续多期靠后，维持", username="committee", roles=("committee",),
        )  # fmt: skip
    assert await held_sanctions(wave_id) == []

    # Decisions survive a recomputation (re-applied from the stored decisions).
    await compute_wave(wave_id, username="analyst")
    states = {(r.index_id, r.unit_code): r.review for r in await reviews_for_wave(wave_id)}
    assert states[(first.index_id, first.unit_code)] == "withdrawn"
    assert all(states[(h.index_id, h.unit_code)] == "confirmed" for h in rest)
    step = await set_status(wave_id, "published", username="admin")
    assert step.new_status == "published"

    stored = await SanctionDecision.select().where(SanctionDecision.wave == wave_id)
    assert len(stored) == len(held)
    audit = await AuditLog.select(AuditLog.detail).where(AuditLog.action == "results.review")
    assert len(audit) == len(held) and "证据不足" in audit[0]["detail"]

    # Dashboard and exports show the review state, who decided and why.
    view = await wave_view(wave_id)
    shown = {(r.unit_code, s.get("review")): s for r, s in view.sanctions if s.get("review")}
    assert shown[(first.unit_code, "withdrawn")]["review_note"] == "与第三名差异不显著，证据不足"
    payload = json.loads((await export_results(wave_id, "json"))[0])
    reviews = {(r["unit_code"], s["review"]) for r in payload["results"] for s in r["sanctions"]}
    assert (first.unit_code, "withdrawn") in reviews
    # A published wave's sanctions are changed by appeal, not review.
    with pytest.raises(ComputeError, match="申诉"):
        await decide(
            wave_id, first.unit_code, index_id=first.index_id, outcome="维持",
            reason="r", username="c", roles=("committee",),
        )  # fmt: skip


async def test_a_committee_reviewer_decides_on_the_page_before_publication(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    """Under a policy whose reviewers are the committee, a committee member — who reads only
    published waves — finds the wave under 待您复核, opens its 复核与申诉 page and decides there;
    the results themselves stay closed to them until publication. (The page answered 404 to
    them, so only an administrator could ever unblock the wave.)"""
    from tests.helpers import csrf_token, login

    wave_id = await _october()
    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave_id)
    text, name = read_policy_source("default_review")
    await set_policy("nancheng-lsyd", text, name, username="admin")
    await compute_wave(wave_id, username="analyst")
    first = (await held_sanctions(wave_id))[0]

    assert (await login(client, "committee")).status_code == 303
    index = await client.get("/results")
    assert "待您复核" in index.text and f'href="/results/{wave_id}/review"' in index.text
    assert (await client.get(f"/results/{wave_id}")).status_code == 404
    page = await client.get(f"/results/{wave_id}/review")
    assert page.status_code == 200 and first.unit_name in page.text
    decided = await client.post(
        f"/results/{wave_id}/review",
        data={
            "action": "review", "unit_code": first.unit_code, "index_id": first.index_id,
            "outcome": "维持", "reason": "连续靠后，维持", "_csrf_token": await csrf_token(client),
        },
    )  # fmt: skip
    assert decided.status_code == 303
    states = {(r.index_id, r.unit_code): r for r in await reviews_for_wave(wave_id)}
    mine = states[(first.index_id, first.unit_code)]
    assert (mine.review, mine.review_by) == ("confirmed", "committee")
