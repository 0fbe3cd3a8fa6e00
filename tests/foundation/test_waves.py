"""The life of a wave: 设计 → 采集 → 结束 → 发布, from the service, the CLI and the web page."""

from __future__ import annotations

import httpx
import pytest

from survey.cli import main
from survey.db.tables import AuditLog, Programme, Unit, Wave
from survey.results.publishing import set_status
from survey.results.tables import ResultRun
from survey.waves import WaveError, create_wave, resolve_wave
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio
PROGRAMME = "nancheng-lsyd"  # the demo programme


async def _status(wave_id: int) -> str:
    row = await Wave.select(Wave.status).where(Wave.id == wave_id).first()
    assert row is not None
    return str(row["status"])


async def test_full_life_of_a_wave(demo_city: None) -> None:
    wave_id = await create_wave(PROGRAMME, "2027-01", username="analyst")
    assert await _status(wave_id) == "design"
    assert await resolve_wave(f"{PROGRAMME}/2027-01") == wave_id
    assert await resolve_wave("2027-01") == wave_id
    await set_status(wave_id, "collecting", username="analyst")
    await set_status(wave_id, "closed", username="analyst")
    await set_status(wave_id, "collecting", username="analyst")  # reopened before publication
    await set_status(wave_id, "closed", username="analyst")
    with pytest.raises(WaveError, match="尚未计算结果，不能发布"):
        await set_status(wave_id, "published", username="analyst")
    assert await _status(wave_id) == "closed"
    await ResultRun.insert(ResultRun(wave=wave_id, method_version="test"))
    step = await set_status(wave_id, "published", username="analyst")
    assert (step.old_status, step.new_status) == ("closed", "published")
    for status in ("collecting", "closed", "design"):
        with pytest.raises(WaveError, match="已发布的测评期不能再改变"):
            await set_status(wave_id, status, username="analyst")
    assert await _status(wave_id) == "published"
    actions = [r["action"] for r in await AuditLog.select(AuditLog.action).order_by(AuditLog.id)]
    assert [a for a in actions if a.startswith("wave.")] == [
        "wave.create",
        "wave.open",
        "wave.close",
        "wave.reopen",
        "wave.close",
        "wave.publish",
    ]


async def test_repeated_step_is_a_no_op(demo_city: None) -> None:
    wave_id = await create_wave(PROGRAMME, "2027-02")
    await set_status(wave_id, "collecting")
    again = await set_status(wave_id, "collecting")
    assert again.old_status == again.new_status == "collecting"
    assert await AuditLog.count().where(AuditLog.action == "wave.open") == 1


@pytest.mark.parametrize(
    ("programme", "month", "message"),
    [
        (PROGRAMME, "2027-13", "格式应为 YYYY-MM"),
        (PROGRAMME, "27-01", "格式应为 YYYY-MM"),
        ("no-such-programme", "2027-01", "没有测评方案「no-such-programme」"),
        (PROGRAMME, "2026-11", "已有 2026-11 的测评期"),  # the demo's open wave
    ],
)
async def test_create_rejects(demo_city: None, programme: str, month: str, message: str) -> None:
    before = await Wave.count()
    with pytest.raises(WaveError, match=message):
        await create_wave(programme, month)
    assert await Wave.count() == before


async def test_steps_that_are_not_allowed(demo_city: None) -> None:
    wave_id = await create_wave(PROGRAMME, "2027-03")
    with pytest.raises(WaveError, match="当前为「设计」，不能改为「结束」；可以: 开始采集"):
        await set_status(wave_id, "closed")
    with pytest.raises(WaveError, match="未知状态「done」"):
        await set_status(wave_id, "done")
    with pytest.raises(WaveError, match="没有编号为 999999 的测评期"):
        await set_status(999999, "collecting")
    other = await Unit.insert(Unit(code="990199", name="别的区", level="district")).returning(
        Unit.id
    )
    with pytest.raises(WaveError, match="无权管理"):
        await set_status(wave_id, "collecting", limit_to_district=other[0]["id"])
    assert await _status(wave_id) == "design"


def test_cli(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo(()))
    assert main(["wave", "create", PROGRAMME, "2027-04", "--opens", "2027-04-01"]) == 0
    assert "已创建测评期 nancheng-lsyd/2027-04" in capsys.readouterr().out
    assert main(["wave", "open", f"{PROGRAMME}/2027-04"]) == 0
    assert "设计 → 采集" in capsys.readouterr().out
    assert main(["wave", "publish", f"{PROGRAMME}/2027-04"]) == 1
    assert "当前为「采集」，不能改为「发布」" in capsys.readouterr().err
    assert main(["wave", "close", "2031-01"]) == 1
    assert "没有找到测评期「2031-01」" in capsys.readouterr().err
    assert main(["wave", "create", PROGRAMME, "2027-05", "--closes", "soon"]) == 1
    assert "--closes “soon” 不是日期" in capsys.readouterr().err


async def test_web_page_steps_a_wave(demo_city: None, client: httpx.AsyncClient) -> None:
    assert (await login(client, "analyst")).status_code == 303
    token = await csrf_token(client)
    created = await client.post(
        "/waves", data={"programme": PROGRAMME, "month": "2027-06", "_csrf_token": token}
    )
    assert created.status_code == 303
    wave_id = await resolve_wave(f"{PROGRAMME}/2027-06")
    page = await client.get("/waves")
    # Each step asks first: the button opens a confirmation page whose form does the step.
    assert f'href="/waves/{wave_id}/confirm/collecting">开始采集' in page.text
    confirm = await client.get(f"/waves/{wave_id}/confirm/collecting")
    assert "确认开始采集？" in confirm.text and "测评期 2027-06" in confirm.text
    assert f'action="/waves/{wave_id}/status"' in confirm.text
    assert 'name="status" value="collecting"' in confirm.text
    assert (await client.get(f"/waves/{wave_id}/confirm/published")).status_code == 404
    moved = await client.post(
        f"/waves/{wave_id}/status", data={"status": "collecting", "_csrf_token": token}
    )
    assert moved.status_code == 303
    assert await _status(wave_id) == "collecting"
    refused = await client.post(
        f"/waves/{wave_id}/status", data={"status": "published", "_csrf_token": token}
    )
    refused = await client.get(refused.headers["location"])  # Post/Redirect/Get
    assert refused.status_code == 422
    assert "不能改为「发布」" in refused.text
    duplicate = await client.post(
        "/waves", data={"programme": PROGRAMME, "month": "2027-06", "_csrf_token": token}
    )
    duplicate = await client.get(duplicate.headers["location"])
    assert duplicate.status_code == 422
    assert "已有 2027-06 的测评期" in duplicate.text
    assert await Programme.count() == 1


async def test_committee_sees_waves_without_actions(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    assert (await login(client, "committee")).status_code == 303
    page = await client.get("/waves")
    assert page.status_code == 200
    assert "/status" not in page.text
    assert "新建测评期" not in page.text
