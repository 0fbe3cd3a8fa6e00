"""The committee's home page leads with the latest published wave: warnings and praise (with
their review / appeal state), targets met or missed, and the significant changes.

Expected values come from the rules, not from the page: the demo's 2026-10 sanctions are the
ones the stored results carry; a target is met when the published (one-decimal) figure is at
least the target; a change is significant when |Δ| / √(SE_now² + SE_then²) > z₀.₉₇₅ (units away
from 0 %/100 %, where the ranking's effective SE would apply instead).
"""

from __future__ import annotations

import math

import httpx
import pytest
from scipy.stats import norm

from survey.accounts import CurrentUser
from survey.db.tables import Wave
from survey.results.appeals import add_appeal
from survey.results.home import MAX_CHANGES, home_digests
from survey.results.queries import results_for_wave
from tests.helpers import login

pytestmark = pytest.mark.anyio
COMMITTEE = CurrentUser(1, "committee", "委员", frozenset({"committee"}), None, None)


async def _waves() -> dict[str, int]:
    return {r["month"]: int(r["id"]) for r in await Wave.select(Wave.id, Wave.month)}


async def test_home_digest_of_the_latest_published_wave(demo_city: None) -> None:
    waves = await _waves()
    (digest,) = await home_digests(COMMITTEE)
    assert digest.wave.month == "2026-10" and digest.wave.status == "published"
    rows = await results_for_wave(waves["2026-10"])
    expected = sorted((r.unit_code, s["level"]) for r in rows for s in r.sanctions)
    assert sorted((r.unit_code, s["level"]) for r, s in digest.sanctions) == expected
    assert ("990102P06", "veto") in expected  # 解放派出所, 3 waves in a row in the bottom 2
    praised = sorted((r.unit_code, p["name"]) for r in rows for p in r.praises)
    assert sorted((r.unit_code, p["name"]) for r, p in digest.praises) == praised
    assert digest.headlines
    for h in digest.headlines:
        if h.target is not None:
            assert h.met == (round(h.result.estimate or 0.0, 1) >= h.target)

    # Significant changes by hand, from the stored results of September and October.
    before = {
        (r.index_id, r.level, r.unit_code): r for r in await results_for_wave(waves["2026-09"])
    }
    z_crit = float(norm.ppf(0.975))
    by_hand = {}
    for r in rows:
        then = before.get((r.index_id, r.level, r.unit_code))
        if then is None or r.estimate is None or then.estimate is None or not r.se or not then.se:
            continue
        if r.scale == "%" and {r.estimate, then.estimate} & {0.0, 100.0}:
            continue  # the effective SE at 0 %/100 % is the ranking's, not this closed form
        z = (r.estimate - then.estimate) / math.hypot(r.se, then.se)
        by_hand[(r.index_id, r.level, r.unit_code)] = z
    shown = {(r.index_id, r.level, r.unit_code): c for r, c in digest.changes}
    assert len(shown) <= MAX_CHANGES
    for key, c in shown.items():
        if key in by_hand:
            assert c.z == pytest.approx(by_hand[key], rel=1e-9)
            assert abs(by_hand[key]) > z_crit and c.significant
    significant = sorted((abs(z) for z in by_hand.values() if abs(z) > z_crit), reverse=True)
    if significant:
        strongest = max(by_hand, key=lambda k: abs(by_hand[k]))
        assert strongest in shown  # the clearest change is on the home page
    zs = [abs(c.z) for _r, c in digest.changes]
    assert zs == sorted(zs, reverse=True)


async def test_committee_home_page_shows_warnings_targets_changes_and_appeals(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    waves = await _waves()
    await add_appeal(waves["2026-10"], "990102P06", grounds="样本偏少", username="analyst")
    assert (await login(client, "committee")).status_code == 303
    page = await client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "最新发布 · 2026-10" in text
    assert "解放派出所" in text and "一票否决" in text and "申诉中" in text
    assert ("达到目标" in text) or ("未达到目标" in text)
    assert "显著变化（较上期，5% 水平）" in text
    assert f'href="/results/{waves["2026-10"]}/review"' in text
    # The digest comes before the list of waves.
    assert text.index("最新发布") < text.index("<h2>测评期</h2>")
