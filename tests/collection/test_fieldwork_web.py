"""The fieldwork page over HTTP: counts per stratum, the reminder file from the button, the
switch to the phone with a clear error on bad input; and the forecast rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from survey.collection import dispositions as d
from survey.collection.fieldwork import fieldwork, forecast_reached
from survey.collection.invitations import create_invitations
from survey.collection.sms import FileGateway, send_invitations
from survey.collection.tables import InvitationEvent
from tests.collection._support import PHONES, demo_wave_id
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio


def test_forecast_of_the_day_the_target_is_reached() -> None:
    today = dt.date(2026, 11, 20)
    # 6 completes in 3 days = 2 a day; 10 more to go: 5 days.
    assert forecast_reached(6, 16, 3.0, today) == dt.date(2026, 11, 25)
    # 7 more at 2 a day: 3.5 days, rounded up to the 4th day.
    assert forecast_reached(6, 13, 3.0, today) == dt.date(2026, 11, 24)
    # Less than a day elapsed counts as one day (no exploding pace on the first morning).
    assert forecast_reached(4, 8, 0.25, today) == dt.date(2026, 11, 21)
    assert forecast_reached(16, 16, 3.0, today) == today
    assert forecast_reached(0, 16, 3.0, today) is None
    assert forecast_reached(5, None, 3.0, today) is None


async def test_fieldwork_page_reminders_and_switch(
    demo_city: None, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, PHONES[:3], "zhixiaolv", None, stratum="web-x")
    await send_invitations(wave_id, "https://pa.example.cn", FileGateway(tmp_path / "g"))
    await d.record_event(summary.created[0].invitation_id, d.OPENED)
    await d.record_event(summary.created[1].invitation_id, d.COMPLETED)
    view = await fieldwork(wave_id)
    row = next(r for r in view.rows if r.stratum == "web-x")
    assert (row.released, row.sent, row.opened, row.completed) == (3, 3, 2, 1)

    assert (await login(client, "analyst")).status_code == 303
    page = await client.get(f"/fieldwork/{wave_id}")
    assert page.status_code == 200 and "web-x" in page.text and "RR3" in page.text
    token = await csrf_token(client)
    denied = await client.post(f"/fieldwork/{wave_id}/remind", data={"_csrf_token": token})
    assert denied.status_code == 403  # analysts read; supervisors act

    await client.get("/logout")
    client.cookies.clear()
    assert (await login(client, "supervisor")).status_code == 303
    token = await csrf_token(client)
    # Sent just now: nothing due after 3 days; everything open is due after 0 days.
    none_due = await client.post(
        f"/fieldwork/{wave_id}/remind", data={"_csrf_token": token, "after_days": "3"}
    )
    assert none_due.status_code == 200 and "目前没有需要提醒的邀请" in none_due.text
    due = await client.post(
        f"/fieldwork/{wave_id}/remind", data={"_csrf_token": token, "after_days": "0"}
    )
    assert due.headers["content-type"].startswith("text/csv")
    lines = due.content.decode("utf-8").lstrip("\ufeff").splitlines()
    assert lines[0] == "phone,text"
    phones = {line.split(",")[0] for line in lines[1:]}
    assert summary.created[0].phone in phones and summary.created[1].phone not in phones
    reminded = await InvitationEvent.count().where(
        (InvitationEvent.invitation == summary.created[0].invitation_id)
        & (InvitationEvent.kind == d.REMINDED)
    )
    assert reminded == 1
    bad = await client.post(
        f"/fieldwork/{wave_id}/to-phone", data={"_csrf_token": token, "after_days": "七"}
    )
    assert bad.status_code == 422 and "“七”不是数字" in bad.text
    switched = await client.post(
        f"/fieldwork/{wave_id}/to-phone",
        data={"_csrf_token": token, "after_days": "0", "strata": "web-x"},
    )
    assert switched.status_code == 200 and "已转为电话访问 2 个邀请" in switched.text
