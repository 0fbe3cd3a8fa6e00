"""Integrity flags that lead to action: excluding flagged interviews with a reason.

The fixture wave of ``test_compute`` (every sex × age cell holds the same ten interviews, so
each figure is the within-cell share whatever the weights) gets one pollster who did, in every
cell, the interview at position 3 — 城关 (P01) 安全感 answer 4 (不太安全), 知晓率 知道,
满意度 公安 answer 4 (30 points) — each in 20 s against 200 s for all the others. That is a
short-interview flag on the pollster (8 of 8 interviews under a third of the median) naming
his 8 interviews. Leaving them out keeps every cell alike (nine interviews each), so the
expected figures are again within-cell shares, by hand:

* 城关 安全感: answers 1, 1, 1, 说不清 → 3/3 = 100 %, valid answers 3 × 8 = 24;
* district 安全感: 城关 3 of 3 and 东门 (1, 2, 3, 3, 5) 4 of 5 → 7/8 = 87.5 %, n = 64;
* 满意度 公安: 100 + 80 + 60 + 0 + 100 + 100 + 80 + 80 = 600 over 8 → 75.

Before the exclusion (``test_compute``): 75 %, 700/9 % and 70.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from survey.accounts import create_user
from survey.audit import AuditLog
from survey.collection.tables import Response
from survey.results.compute import ComputeError, compute_wave
from survey.results.exclusions import (
    EXCLUDED_KEY,
    exclude_responses,
    exclusions_for_wave,
    flags_for_wave,
    lift_exclusion,
    parse_ids,
)
from survey.results.export import export_results
from survey.results.publishing import set_status
from survey.results.queries import results_for_wave, run_for_wave
from survey.results.revisions import revision_view, revisions_for_wave
from tests.results.test_compute import _by, _fixture_wave

pytestmark = pytest.mark.anyio
REASON = "回访核实：该访员 8 次访问均不足半分钟，受访者称未完整作答"


async def _wave_with_a_hasty_pollster() -> tuple[int, list[int]]:
    wave_id = await _fixture_wave()
    pollster = await create_user("hasty", "密码-足够长-123", frozenset({"pollster"}))
    rows = await Response.select(Response.id, Response.answers).where(
        (Response.wave == wave_id) & (Response.non_probability == False)  # noqa: E712
    )
    hasty = [int(r["id"]) for r in rows if json.loads(r["answers"])["q_anquan"] == 4]
    assert len(hasty) == 8
    await Response.update({Response.interviewer: pollster, Response.duration_seconds: 20}).where(
        Response.id.is_in(hasty)
    )
    return wave_id, hasty


def _figures(rows: list[Any]) -> tuple[float, int, float, int, float]:
    p01 = _by(rows, "anquangan", "station", "990102P01")
    district = _by(rows, "anquangan", "district", "990102")
    gongan = _by(rows, "manyidu_bumen", "department", "990102/gongan")
    return p01.estimate, p01.n, district.estimate, district.n, gongan.estimate


async def test_excluding_a_flagged_batch_is_a_revision_without_those_interviews(
    small_city: None,
) -> None:
    wave_id, hasty = await _wave_with_a_hasty_pollster()
    with pytest.raises(ComputeError, match="尚未计算"):
        await exclude_responses(wave_id, hasty, reason=REASON, username="analyst")
    await compute_wave(wave_id, username="analyst")
    await set_status(wave_id, "published", username="admin")
    published = _figures(await results_for_wave(wave_id))
    assert published == pytest.approx((75.0, 32, 700 / 9, 72, 70.0), rel=1e-12)

    # The flag names the pollster's 8 interviews: the batch the analyst reviews and excludes.
    flag = next(f for f in await flags_for_wave(wave_id) if f.kind == "short_group")
    assert flag.kind_name == "访问过短" and sorted(flag.open_ids) == sorted(hasty)
    with pytest.raises(ComputeError, match="理由"):
        await exclude_responses(wave_id, flag.open_ids, reason="  ", username="analyst")
    with pytest.raises(ComputeError, match="不是本测评期"):
        await exclude_responses(wave_id, [*flag.open_ids, 10**9], reason=REASON, username="a")
    done = await exclude_responses(wave_id, flag.open_ids, reason=REASON, username="analyst")
    assert (done.count, done.revision) == (8, 2)
    # A draft: what readers see does not change until the correction is published.
    assert _figures(await results_for_wave(wave_id)) == published
    await set_status(wave_id, "published", username="admin")

    rows = await results_for_wave(wave_id)
    assert _figures(rows) == pytest.approx((100.0, 24, 87.5, 64, 75.0), rel=1e-12)
    run = await run_for_wave(wave_id)
    assert run is not None and (run.n_responses, run.n_excluded) == (72, 8)
    assert run.method["excluded"] == {EXCLUDED_KEY: 8}
    assert run.method["exclusions"] == [{"reason": REASON, "n": 8, "by": "analyst"}]
    exported = json.loads((await export_results(wave_id, "json"))[0])
    assert exported["exclusions"] == [{"reason": REASON, "n": 8, "by": "analyst"}]
    # The flag is answered: nothing of it is left to exclude.
    assert all(not f.open_ids for f in await flags_for_wave(wave_id))

    # The original revision stays readable with the figures as first published.
    revisions = await revisions_for_wave(wave_id)
    assert [r.number for r in revisions] == [2, 1]
    assert revisions[0].reason == f"排除 8 份问卷：{REASON}"
    original = await revision_view(wave_id, 1)
    assert original is not None
    assert _figures(original[2]) == pytest.approx(published, rel=1e-12)

    listed = await exclusions_for_wave(wave_id)
    assert {e.response_id for e in listed} == set(hasty)
    assert {(e.reason, e.excluded_by, e.duration_seconds) for e in listed} == {
        (REASON, "analyst", 20)
    }
    with pytest.raises(ComputeError, match="都已排除"):
        await exclude_responses(wave_id, hasty[:2], reason=REASON, username="analyst")

    # Taken back, the next revision has the first figures again.
    back = await lift_exclusion(wave_id, hasty, reason="复核后确认访问有效", username="analyst")
    assert (back.count, back.revision) == (8, 3)
    await set_status(wave_id, "published", username="admin")
    assert _figures(await results_for_wave(wave_id)) == pytest.approx(published, rel=1e-12)
    actions = [
        r["action"]
        for r in await AuditLog.select(AuditLog.action).where(
            AuditLog.action.is_in(["results.exclude", "results.include", "results.revise"])
        )
    ]
    assert sorted(actions) == [
        "results.exclude",
        "results.include",
        "results.revise",
        "results.revise",
    ]


async def test_before_publication_an_exclusion_recomputes_the_wave(small_city: None) -> None:
    wave_id, hasty = await _wave_with_a_hasty_pollster()
    await compute_wave(wave_id, username="analyst")
    done = await exclude_responses(wave_id, hasty, reason=REASON, username="analyst")
    assert (done.count, done.revision) == (8, None)
    assert "重新计算" in done.describe()
    rows = await results_for_wave(wave_id)
    assert _figures(rows) == pytest.approx((100.0, 24, 87.5, 64, 75.0), rel=1e-12)
    assert await revisions_for_wave(wave_id) == []
    # An exclusion the wave cannot be computed without does not take effect.
    everyone = [
        int(r["id"]) for r in await Response.select(Response.id).where(Response.wave == wave_id)
    ]
    with pytest.raises(ComputeError, match="排除未生效"):
        await exclude_responses(wave_id, everyone, reason="全部排除", username="analyst")
    assert {e.response_id for e in await exclusions_for_wave(wave_id)} == set(hasty)
    assert _figures(await results_for_wave(wave_id)) == pytest.approx(
        (100.0, 24, 87.5, 64, 75.0), rel=1e-12
    )


def test_interview_numbers_are_read_from_a_form() -> None:
    assert parse_ids("12, 13，14、15\n16 17") == [12, 13, 14, 15, 16, 17]
    with pytest.raises(ComputeError, match="不是数字"):
        parse_ids("12 x3")


def test_exclude_command_lists_the_flags_and_excludes_a_flagged_batch(
    db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from survey.cli import main
    from tests.conftest import run_async
    from tests.results.conftest import build_small_city

    async def setup() -> list[int]:
        await build_small_city()
        wave_id, hasty = await _wave_with_a_hasty_pollster()
        await compute_wave(wave_id, username="analyst")
        return hasty

    hasty = run_async(setup)
    assert main(["results", "exclude", "2026-12"]) == 0
    listed = capsys.readouterr().out
    line = next(x for x in listed.splitlines() if "访问过短" in x)
    number = line.split("\t")[0]
    assert "可排除 8 份问卷" in line and "已排除的问卷：0 份" in listed
    assert main(["results", "exclude", "2026-12", "--flag", number]) == 1
    assert "--reason" in capsys.readouterr().err
    assert main(["results", "exclude", "2026-12", "--flag", number, "--reason", REASON]) == 0
    assert "已排除 8 份问卷，并重新计算本期结果" in capsys.readouterr().out
    assert main(["results", "exclude", "2026-12"]) == 0
    listed = capsys.readouterr().out
    assert "已排除的问卷：8 份" in listed and f"{hasty[0]}\t" in listed
    rows = run_async(lambda: _results_of("2026-12"))
    assert _figures(rows) == pytest.approx((100.0, 24, 87.5, 64, 75.0), rel=1e-12)
    assert (
        main(["results", "exclude", "2026-12", str(hasty[0]), "--restore", "--reason", "核实有效"])
        == 0
    )
    assert "已恢复计入 1 份问卷" in capsys.readouterr().out


async def _results_of(month: str) -> list[Any]:
    from survey.db.tables import Wave

    row = await Wave.select(Wave.id).where(Wave.month == month).first()
    assert row is not None
    return await results_for_wave(int(row["id"]))


async def test_integrity_page_excludes_a_flagged_batch_with_a_reason(
    small_city: None, client: httpx.AsyncClient
) -> None:
    from tests.helpers import csrf_token, login

    wave_id, hasty = await _wave_with_a_hasty_pollster()
    await compute_wave(wave_id, username="analyst")
    await create_user("analyst", "pingan2026", frozenset({"analyst"}), "王分析", None)
    await create_user("member", "pingan2026", frozenset({"committee"}), "李委员", None)
    assert (await login(client, "member", "pingan2026")).status_code == 303
    assert (await client.get(f"/results/{wave_id}/integrity")).status_code == 403
    token = await csrf_token(client)
    await client.post("/logout", data={"_csrf_token": token})

    assert (await login(client, "analyst", "pingan2026")).status_code == 303
    page = await client.get(f"/results/{wave_id}/integrity")
    assert page.status_code == 200
    assert "访问过短" in page.text and "排除这条提示涉及的全部 8 份问卷" in page.text
    batch = " ".join(str(i) for i in sorted(hasty))
    token = await csrf_token(client)
    refused = await client.post(
        f"/results/{wave_id}/integrity", data={"_csrf_token": token, "batch": batch, "reason": ""}
    )
    shown = await client.get(refused.headers["location"])
    assert shown.status_code == 422 and "请写明排除的理由" in shown.text
    done = await client.post(
        f"/results/{wave_id}/integrity",
        data={"_csrf_token": token, "batch": batch, "reason": REASON},
    )
    assert done.status_code == 303
    shown = await client.get(done.headers["location"])
    assert "已排除 8 份问卷，并重新计算本期结果" in shown.text
    assert shown.text.count(REASON) == 1  # one card for the batch, naming its interviews
    assert "、".join(str(i) for i in sorted(hasty)) in shown.text
    rows = await results_for_wave(wave_id)
    assert _figures(rows) == pytest.approx((100.0, 24, 87.5, 64, 75.0), rel=1e-12)
    dashboard = await client.get(f"/results/{wave_id}")
    assert "排除的问卷" in dashboard.text and f"8 份：{REASON}（analyst）" in dashboard.text
