"""Publication is final; a correction is a new revision that must be published again.

The demo's 2026-10 is published. Computing it again is refused (service, CLI, page); a
correction (``revise``) recomputes it from the stored answers into a draft revision that nobody
but analysts sees; publishing it makes it what the committee reads, marked 「更正」 with its
reason and date, while the first publication stays readable as revision 1."""

from __future__ import annotations

import anyio
import httpx
import pytest

from survey.audit import entries
from survey.cli import main
from survey.collection.tables import Response
from survey.db.tables import Wave
from survey.results.compute import ComputeError, compute_wave
from survey.results.publishing import set_status
from survey.results.queries import results_for_wave
from survey.results.revisions import revise_wave, revision_view, revisions_for_wave
from survey.settings import local_time
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio
REASON = "剔除 2026-10-12 重复导入的 150 份问卷"


async def _wave(month: str) -> int:
    row = await Wave.select(Wave.id).where(Wave.month == month).first()
    assert row is not None
    return int(row["id"])


def _figures(rows: list) -> dict[tuple[str, str, str], tuple[float | None, int | None]]:
    return {(r.index_id, r.level, r.unit_code): (r.estimate, r.rank) for r in rows}


async def _cli(*args: str) -> int:
    return await anyio.to_thread.run_sync(main, list(args))


async def test_published_is_final_and_a_correction_is_a_new_revision(
    demo_city: None, capsys: pytest.CaptureFixture[str]
) -> None:
    wave_id = await _wave("2026-10")
    published = _figures(await results_for_wave(wave_id))
    with pytest.raises(ComputeError, match="已发布，发布的结果不能重新计算"):
        await compute_wave(wave_id, username="analyst")
    assert await _cli("results", "compute", "2026-10") == 1
    assert "survey results revise 2026-10 --reason" in capsys.readouterr().err
    with pytest.raises(ComputeError, match="更正必须说明原因"):
        await revise_wave(wave_id, reason="  ", username="analyst")
    with pytest.raises(ComputeError, match="尚未发布，不需要更正"):
        await revise_wave(await _wave("2026-11"), reason=REASON, username="analyst")

    # The correction: 150 interviews imported twice are taken out, then the wave is revised.
    doubled = await Response.select(Response.id).where(Response.wave == wave_id).limit(150)
    await Response.delete().where(Response.id.is_in([r["id"] for r in doubled]))
    assert await _cli("results", "revise", "2026-10", "--reason", REASON) == 0
    out = capsys.readouterr().out
    assert "已计算更正版本 第 2 版" in out and "须重新发布" in out

    # A draft: what everybody reads is unchanged until it is published.
    assert _figures(await results_for_wave(wave_id)) == published
    [draft, first] = await revisions_for_wave(wave_id)
    assert (draft.number, draft.is_draft, draft.reason) == (2, True, REASON)
    assert (first.number, first.is_draft, first.is_correction) == (1, False, False)

    step = await set_status(wave_id, "published", username="analyst")
    assert step.revision == 2
    corrected = _figures(await results_for_wave(wave_id))
    assert corrected != published and corrected.keys() == published.keys()
    # The first publication stays readable, exactly as it was.
    found = await revision_view(wave_id, 1)
    assert found is not None and _figures(found[2]) == published
    found = await revision_view(wave_id, 2)
    assert found is not None and _figures(found[2]) == corrected
    # Publishing again with no pending correction changes nothing.
    assert (await set_status(wave_id, "published", username="analyst")).revision is None
    assert [r.number for r in await revisions_for_wave(wave_id)] == [2, 1]

    revise = await entries("results.revise")
    assert revise[0].username != "" and f"reason={REASON}" in revise[0].detail
    [publish] = await entries("wave.publish-revision")
    assert publish.username == "analyst" and "revision=2" in publish.detail


async def test_committee_sees_the_correction_marked_with_reason_and_date(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    wave_id = await _wave("2026-10")
    assert (await login(client, "analyst")).status_code == 303
    token = await csrf_token(client)
    page = await client.get(f"/results/{wave_id}")
    assert f'href="/results/{wave_id}/revise"' in page.text
    assert f"/results/{wave_id}/compute/confirm" not in page.text  # published: no 计算
    empty = await client.post(f"/results/{wave_id}/revise", data={"_csrf_token": token})
    shown = await client.get(empty.headers["location"])
    assert shown.status_code == 422 and "更正必须说明原因" in shown.text
    made = await client.post(
        f"/results/{wave_id}/revise", data={"_csrf_token": token, "reason": REASON}
    )
    assert made.headers["location"] == f"/results/{wave_id}/revisions/2"
    draft = await client.get(made.headers["location"])
    assert "此更正版本尚未发布" in draft.text and REASON in draft.text
    await client.post("/logout", data={"_csrf_token": token})

    # Before publication the committee sees no correction and cannot open the draft.
    assert (await login(client, "committee")).status_code == 303
    page = await client.get(f"/results/{wave_id}")
    assert "更正" not in page.text
    assert (await client.get(f"/results/{wave_id}/revisions/2")).status_code == 404
    token = await csrf_token(client)
    await client.post("/logout", data={"_csrf_token": token})

    assert (await login(client, "analyst")).status_code == 303
    token = await csrf_token(client)
    waves = await client.get("/waves")
    assert f'href="/waves/{wave_id}/confirm/published">发布更正（第 2 版）' in waves.text
    confirm = await client.get(f"/waves/{wave_id}/confirm/published")
    assert "确认发布更正版本？" in confirm.text
    done = await client.post(
        f"/waves/{wave_id}/status", data={"_csrf_token": token, "status": "published"}
    )
    assert done.headers["location"] == "/waves?msg=moved"
    await client.post("/logout", data={"_csrf_token": token})

    assert (await login(client, "committee")).status_code == 303
    page = await client.get(f"/results/{wave_id}")
    [revision] = [r for r in await revisions_for_wave(wave_id) if r.number == 2]
    assert revision.published_at is not None
    # in the installation's time zone (Asia/Shanghai), as 生成于 and 计算于: it was the UTC date,
    # a day early for corrections published after 16:00 UTC
    date = local_time(revision.published_at)
    assert f"本期结果已于 {date} 更正（第 2 版）。原因：{REASON}" in page.text
    report = await client.get(f"/results/{wave_id}/report/html")
    assert f"<strong>更正</strong>（第 2 版，{date} 发布）：{REASON}" in report.text
    earlier = await client.get(f"/results/{wave_id}/revisions/1")
    assert earlier.status_code == 200 and "原发布版本" in earlier.text
