"""Web fieldwork: dispositions from events, AAPOR rates of web invitations (hand-worked),
reminder eligibility, opt-out, and the web → phone switch (exactly one mode survives a race).

Expected rates are worked out here by hand from the AAPOR Standard Definitions formulas with
exact fractions; the code under test is only asked for its answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from fractions import Fraction as F
from pathlib import Path

import httpx
import pytest

from questionnaires import default_instruments
from survey.cati.mixed_mode import phone_candidates, switch_to_phone, to_phone
from survey.cati.tables import Case, ModeSwitch
from survey.collection import dispositions as d
from survey.collection import responses
from survey.collection.dispositions import disposition_counts, is_browser_open, web_rates
from survey.collection.invitations import create_invitations
from survey.collection.reminders import due_reminders, reminder_due, reminder_text, send_reminders
from survey.collection.sms import FileGateway, SmsMessage, send_invitations
from survey.collection.tables import Invitation, InvitationEvent
from tests.collection._support import PHONES, csrf, demo_wave_id

pytestmark = pytest.mark.anyio

CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36"
)
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _close(value: float | None, expected: F) -> None:
    assert value is not None
    assert value == pytest.approx(float(expected), rel=1e-12)


def test_only_a_browser_get_counts_as_opened() -> None:
    assert is_browser_open("GET", {"User-Agent": CHROME, "Accept": HTML})
    assert is_browser_open("GET", {"user-agent": WECHAT, "accept": HTML})  # WeChat's browser
    assert not is_browser_open("HEAD", {"User-Agent": CHROME, "Accept": HTML})
    previews = (
        "facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage's link preview
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "okhttp/4.9.2",  # Android SMS apps' preview fetchers
        "python-httpx/0.27.0",
        "curl/8.5.0",
        "",
    )
    for agent in previews:
        assert not is_browser_open("GET", {"User-Agent": agent, "Accept": HTML}), agent
    # A browser asking for something that is not a page, or prefetching, does not count.
    assert not is_browser_open("GET", {"User-Agent": CHROME, "Accept": "*/*"})
    prefetch = {"User-Agent": CHROME, "Accept": HTML, "Sec-Purpose": "prefetch"}
    assert not is_browser_open("GET", prefetch)


async def _kinds(invitation_id: int) -> list[str]:
    return [name for name, _at, _detail in await d.invitation_history(invitation_id)]


async def _current(wave_id: int, invitation_id: int) -> str:
    """The derived disposition of one invitation (its stratum is unique in the test)."""
    row = await Invitation.select(Invitation.stratum).where(Invitation.id == invitation_id).first()
    assert row is not None
    found = [c for c in await disposition_counts(wave_id) if c.stratum == row["stratum"]]
    assert len(found) == 1 and found[0].count == 1
    return d.KIND_NAMES[found[0].kind]


async def test_dispositions_follow_the_events_over_http(
    demo_city: None, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    wave_id = await demo_wave_id()
    summary = await create_invitations(
        wave_id, PHONES[:1], "zhixiaolv", None, stratum="only-http-test"
    )
    [created] = summary.created
    token, inv = created.token, created.invitation_id
    assert await _current(wave_id, inv) == "created"
    await send_invitations(wave_id, "https://pa.example.cn", FileGateway(tmp_path / "gw.csv"))
    assert await _current(wave_id, inv) == "sent"
    report = tmp_path / "dlr.csv"
    report.write_text(f"phone,status,time\n{created.phone},delivered,\n")
    assert await d.record_delivery_reports(wave_id, report) == (1, 0)
    assert await _current(wave_id, inv) == "delivered"
    # Link checks: a HEAD, a preview bot and an HTTP library fetch the intro: not opened.
    assert (await client.head(f"/s/{token}")).status_code == 200
    for agent in ("facebookexternalhit/1.1 Facebot Twitterbot/1.0", "WhatsApp/2.23.20.0 A"):
        page = await client.get(f"/s/{token}", headers={"User-Agent": agent, "Accept": HTML})
        assert page.status_code == 200 and "同意并开始" in page.text
    assert (await client.get(f"/s/{token}")).status_code == 200  # python-httpx
    assert await _current(wave_id, inv) == "delivered"
    # The resident's browser: opened, once.
    for _ in range(2):
        await client.get(f"/s/{token}", headers={"User-Agent": CHROME, "Accept": HTML})
    assert await _current(wave_id, inv) == "opened"
    assert (await _kinds(inv)).count("opened") == 1
    # Consent: the response starts.
    data = {"_csrf_token": await csrf(client, "/login"), "_screen": "intro", "_nav": "next"}
    assert (await client.post(f"/s/{token}", data=data)).status_code == 303
    assert await _current(wave_id, inv) == "consent"
    assert await _kinds(inv) == ["created", "sent", "delivered", "opened", "consent"]
    assert await disposition_counts(wave_id) == await d.disposition_counts_from_events(wave_id)


async def test_completion_and_screen_out_are_events(demo_city: None) -> None:
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, PHONES[:2], "zhixiaolv", None, stratum="s1")
    instrument = default_instruments()["zhixiaolv"]
    for created, status in zip(summary.created, ("completed", "screened_out"), strict=True):
        record = await responses.start_response(
            wave_id=wave_id, instrument=instrument, invitation_id=created.invitation_id
        )
        assert await responses.complete_response(record.id, {}, instrument, status=status)
    kinds = {c.kind: c.count for c in await disposition_counts(wave_id) if c.stratum == "s1"}
    assert kinds == {d.COMPLETED: 1, d.SCREENED_OUT: 1}


async def _invitations_with_events(
    wave_id: int, stratum: str, weight: float, plan: dict[tuple[int, ...], int]
) -> None:
    """``count`` invitations per event sequence (kind codes), inserted directly."""
    expires = NOW + dt.timedelta(days=30)
    for kinds, count in plan.items():
        if not count:
            continue
        rows = await Invitation.insert(
            *[
                Invitation(
                    wave=wave_id,
                    token_hash=f"{stratum}-{kinds}-{n}".ljust(64, "x")[:64],
                    instrument_id="zhixiaolv",
                    expires_at=expires,
                    stratum=stratum,
                    design_weight=weight,
                )
                for n in range(count)
            ]
        ).returning(Invitation.id)
        await d.record_events((r["id"], k, 0, NOW, "") for r in rows for k in kinds)
    # The disposition kept on each invitation is the one its events give.
    assert await d.disposition_counts(wave_id) == await d.disposition_counts_from_events(wave_id)
    assert await d.repair_dispositions(wave_id) == 0


async def test_web_rates_match_a_hand_worked_aapor_example(demo_city: None) -> None:
    wave_id = await demo_wave_id()
    c, s, dl, fl, ex = d.CREATED, d.SENT, d.DELIVERED, d.FAILED, d.EXPIRED
    o, cs, rf, pt = d.OPENED, d.CONSENT, d.REFUSED, d.PARTIAL
    plan = {
        (c, s, dl, o, cs, d.COMPLETED): 120,  # I (1.1)
        (c, s, o, cs, pt): 30,  # P (1.2)
        (c, s, o, rf): 25,  # R: explicit refusal 「不再接收」 (2.111)
        (c, s, dl, o, cs): 15,  # R: break-off (2.12)
        (c, s, o): 10,  # R: opened, nothing answered (2.112)
        (c,): 20,  # UH: not sent (3.11)
        (c, s): 150,  # UH: nothing returned (3.19)
        (c, s, dl): 100,  # UH (3.19)
        (c, s, ex): 30,  # UH: expired, nothing returned (3.19)
        (c, s, fl): 40,  # UO: returned undelivered (3.30)
        (c, s, o, cs, d.SCREENED_OUT): 35,  # NE: screened out (4.10)
        (c, s, o, cs, d.COMPLETED, d.TO_PHONE): 0,
    }
    await _invitations_with_events(wave_id, "hand", 1.0, plan)
    # I=120, P=30, R=50, NC=O=0, UH+UO=340, NE=35.
    # e = (I+P+R+NC+O)/(I+P+R+NC+O+NE) = 200/235 = 40/47
    e = F(40, 47)
    d_all = F(120 + 30 + 50 + 340)  # 540
    d_e = F(200) + e * 340  # = 23000/47
    d_known = F(200)
    expected = {
        "rr1": F(120) / d_all,  # 2/9
        "rr2": F(150) / d_all,  # 5/18
        "rr3": F(120) / d_e,  # 141/575
        "rr4": F(150) / d_e,  # 141/460
        "rr5": F(120) / d_known,  # 3/5
        "rr6": F(150) / d_known,  # 3/4
        "coop1": F(120, 200), "coop2": F(150, 200), "coop3": F(120, 200), "coop4": F(150, 200),
        "ref1": F(50) / d_all, "ref2": F(50) / d_e, "ref3": F(50, 200),
        "con1": F(200) / d_all, "con2": F(200) / d_e, "con3": F(1),
    }  # fmt: skip
    assert expected["rr3"] == F(141, 575) and expected["rr4"] == F(141, 460)
    report = await web_rates(wave_id)
    unweighted, weighted = report.by_stratum["hand"]
    _close(unweighted.e, e)
    for name, value in expected.items():
        _close(unweighted.as_dict()[name], value)
        _close(weighted.as_dict()[name], value)  # all weights 1


async def test_weighted_web_rates_by_stratum(demo_city: None) -> None:
    wave_id = await demo_wave_id()
    await Invitation.delete().where(Invitation.wave == wave_id)  # only this test's invitations
    c, s = d.CREATED, d.SENT
    await _invitations_with_events(wave_id, "A", 3.0, {(c, s, d.COMPLETED): 10, (c, s): 10})
    await _invitations_with_events(
        wave_id, "B", 1.0, {(c, s, d.COMPLETED): 20, (c, s): 60, (c, s, d.SCREENED_OUT): 10}
    )
    report = await web_rates(wave_id)
    un, w = report.overall
    # Unweighted: I=30, UH=70, NE=10: e = 30/40; RR1 = 30/100; RR3 = 30/(30 + 3/4·70) = 4/11.
    _close(un.e, F(3, 4))
    _close(un.rr1, F(3, 10))
    _close(un.rr3, F(4, 11))
    # Weighted: I=3·10+20=50, UH=3·10+60=90, NE=10: e = 50/60; RR1 = 50/140; RR3 = 50/125.
    _close(w.e, F(5, 6))
    _close(w.rr1, F(5, 14))
    _close(w.rr3, F(2, 5))
    # Stratum A with the overall e of its weighting: RR3 = 10/(10 + 3/4·10) = 4/7 unweighted,
    # 30/(30 + 5/6·30) = 6/11 weighted.
    a_un, a_w = report.by_stratum["A"]
    _close(a_un.rr3, F(4, 7))
    _close(a_w.rr3, F(6, 11))
    assert report.invitations == 110


def test_reminder_rule() -> None:
    sent = NOW - dt.timedelta(days=5)
    assert reminder_due([(d.SENT, sent)], NOW, 3, 2) == 1
    assert reminder_due([(d.SENT, sent)], NOW, 6, 2) is None  # too soon
    assert reminder_due([], NOW, 0, 2) is None  # never sent
    one = [(d.SENT, sent), (d.REMINDED, NOW - dt.timedelta(days=3))]
    assert reminder_due(one, NOW, 3, 2) == 2  # exactly N days after the last message
    assert reminder_due(one, NOW, 3.5, 2) is None
    assert reminder_due(one, NOW, 3, 1) is None  # limit reached
    for final in (d.COMPLETED, d.SCREENED_OUT, d.REFUSED, d.TO_PHONE):
        assert reminder_due([(d.SENT, sent), (final, sent)], NOW, 3, 2) is None
    link = "https://pa.example.cn/s/" + "A" * 22
    text = reminder_text("南城区", link)
    assert link in text and len(text) < 70 and "提醒" in text


async def test_reminders_skip_opted_out_completed_and_expired(
    demo_city: None, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, PHONES[:5], "zhixiaolv", None, stratum="rem")
    gateway = tmp_path / "gw.csv"
    await send_invitations(wave_id, "https://pa.example.cn", FileGateway(gateway))
    ids = [c.invitation_id for c in summary.created]
    # Backdate the first messages by four days.
    await InvitationEvent.update({InvitationEvent.at: NOW - dt.timedelta(days=4)}).where(
        InvitationEvent.invitation.is_in(ids) & (InvitationEvent.kind == d.SENT)
    )
    # 0 stays open; 1 opts out on the intro page; 2 completes; 3 expires; 4 is screened out.
    opted = summary.created[1].token
    form = {"_csrf_token": await csrf(client, "/login")}
    page = await client.post(f"/s/{opted}/optout", data=form)
    assert page.status_code == 200 and "不再接收" in page.text
    instrument = default_instruments()["zhixiaolv"]
    for index, status in ((2, "completed"), (4, "screened_out")):
        record = await responses.start_response(
            wave_id=wave_id, instrument=instrument, invitation_id=ids[index]
        )
        await responses.complete_response(record.id, {}, instrument, status=status)
    await Invitation.update({Invitation.expires_at: NOW - dt.timedelta(hours=1)}).where(
        Invitation.id == ids[3]
    )
    base = "https://pa.example.cn"
    due = await due_reminders(wave_id, base, after_days=3, max_reminders=2, now=NOW)
    assert [r.invitation_id for r in due if r.invitation_id in ids] == [ids[0]]
    assert due[0].link == f"{base}/s/{summary.created[0].token}"  # the same link
    out = tmp_path / "reminders.csv"
    sent = await send_reminders(wave_id, base, FileGateway(out), after_days=3, now=NOW)
    assert sent == len(due)
    assert f"{summary.created[0].phone},{due[0].text}" in out.read_text(encoding="utf-8")
    # The next run the same day: the last message is too recent; three days on: reminder 2;
    # then the limit of two is reached.
    assert not await due_reminders(wave_id, base, after_days=3, now=NOW)
    later = NOW + dt.timedelta(days=3)
    assert [r.seq for r in await due_reminders(wave_id, base, after_days=3, now=later)] == [2]
    await send_reminders(wave_id, base, FileGateway(out), after_days=3, now=later)
    much_later = later + dt.timedelta(days=10)
    assert not await due_reminders(wave_id, base, after_days=3, now=much_later)
    # The opt-out is a refusal in the dispositions.
    kinds = {c.kind: c.count for c in await disposition_counts(wave_id) if c.stratum == "rem"}
    assert kinds[d.REFUSED] == 1
    assert await disposition_counts(wave_id) == await d.disposition_counts_from_events(wave_id)


async def test_switch_to_phone_closes_the_web_link(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    wave_id = await demo_wave_id()
    summary = await create_invitations(
        wave_id, PHONES[:3], "zhixiaolv", None, stratum="街道A", design_weight=12.5
    )
    ids = [c.invitation_id for c in summary.created]
    # Created 10 days ago, never sent: first one completes on the web before the switch.
    await Invitation.update(
        {Invitation.created_at: dt.datetime.now(dt.UTC) - dt.timedelta(days=10)}
    ).where(Invitation.id.is_in(ids))
    instrument = default_instruments()["zhixiaolv"]
    record = await responses.start_response(
        wave_id=wave_id, instrument=instrument, invitation_id=ids[0]
    )
    await responses.complete_response(record.id, {}, instrument)
    assert await phone_candidates(wave_id, after_days=7, strata=["街道A"]) == ids[1:]
    assert await phone_candidates(wave_id, after_days=11, strata=["街道A"]) == []
    summary_switch = await to_phone(wave_id, after_days=7, strata=["街道A"], username="sup")
    assert (summary_switch.switched, summary_switch.skipped) == (2, 0)
    cases = await Case.select(Case.phone, Case.stratum, Case.design_weight).where(
        Case.phone.is_in([c.phone for c in summary.created])
    )
    assert sorted(c["phone"] for c in cases) == sorted(c.phone for c in summary.created[1:])
    assert {(c["stratum"], c["design_weight"]) for c in cases} == {("街道A", 12.5)}
    assert await ModeSwitch.count().where(ModeSwitch.invitation.is_in(ids)) == 2
    page = await client.get(f"/s/{summary.created[1].token}")
    assert page.status_code == 410 and "本调查已改为电话访问" in page.text
    # A second run switches nothing again.
    assert (await to_phone(wave_id, after_days=7, strata=["街道A"])).switched == 0
    rows = await disposition_counts(wave_id)
    assert sum(r.to_phone for r in rows if r.stratum == "街道A") == 2
    assert rows == await d.disposition_counts_from_events(wave_id)


async def test_web_completion_and_phone_switch_race_leaves_exactly_one(
    demo_city: None, db_engine_name: str
) -> None:
    """Many invitations, each with a resident submitting the last page at the moment the
    supervisor switches it to the phone: for each, either the web interview completed and no
    case exists, or the case exists and the web interview did not complete."""
    n = 20 if db_engine_name == "postgres" else 6
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, PHONES[:n], "zhixiaolv", None, stratum="race")
    instrument = default_instruments()["zhixiaolv"]
    records = [
        await responses.start_response(
            wave_id=wave_id, instrument=instrument, invitation_id=c.invitation_id
        )
        for c in summary.created
    ]
    tasks = []
    for index, (created, record) in enumerate(zip(summary.created, records, strict=True)):
        complete = responses.complete_response(record.id, {}, instrument)
        switch = switch_to_phone(created.invitation_id, username="sup")
        tasks.extend([complete, switch] if index % 2 else [switch, complete])
    results = await asyncio.gather(*tasks)
    assert any(r is True for r in results) or any(isinstance(r, int) for r in results)
    web_wins = phone_wins = 0
    for created, record in zip(summary.created, records, strict=True):
        stored = await responses.get_response(record.id)
        assert stored is not None
        has_case = await Case.exists().where(Case.phone == created.phone)
        status = (
            await Invitation.select(Invitation.status)
            .where(Invitation.id == created.invitation_id)
            .first()
        )
        assert status is not None
        if stored.status == "completed":
            assert not has_case and status["status"] == "completed"
            web_wins += 1
        else:
            assert has_case and status["status"] == "phone"
            phone_wins += 1
    assert web_wins + phone_wins == n
    assert await disposition_counts(wave_id) == await d.disposition_counts_from_events(wave_id)


class _CountingGateway:
    """A gateway that keeps every message handed to it; ``accept`` caps how many of a batch it
    takes (a gateway out of credit), the rest are refused."""

    def __init__(self, accept: int | None = None) -> None:
        self.messages: list[tuple[str, str]] = []
        self.accept = accept

    def send(self, messages: list[SmsMessage]) -> int:  # type: ignore[override]
        taken = messages if self.accept is None else messages[: self.accept]
        self.messages.extend((m.phone, m.text) for m in taken)
        return len(taken)


async def test_simultaneous_sends_hand_each_message_to_the_gateway_once(
    demo_city: None, tmp_path: Path
) -> None:
    # Two runs at once (two tabs, a cron job and a person): each invitation and each reminder
    # reaches the gateway exactly once between them.
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, PHONES[:6], "zhixiaolv", None, stratum="twice")
    phones = sorted(c.phone for c in summary.created)
    base = "https://pa.example.cn"
    first, second = _CountingGateway(), _CountingGateway()
    counts = await asyncio.gather(
        send_invitations(wave_id, base, first), send_invitations(wave_id, base, second)
    )
    mine = [p for p, _t in first.messages + second.messages if p in phones]
    assert sorted(mine) == phones  # six phones, each once
    assert sum(counts) == len(first.messages) + len(second.messages)
    ids = [c.invitation_id for c in summary.created]
    await InvitationEvent.update({InvitationEvent.at: NOW - dt.timedelta(days=4)}).where(
        InvitationEvent.invitation.is_in(ids) & (InvitationEvent.kind == d.SENT)
    )
    first, second = _CountingGateway(), _CountingGateway()
    await asyncio.gather(
        send_reminders(wave_id, base, first, after_days=3, now=NOW),
        send_reminders(wave_id, base, second, after_days=3, now=NOW),
    )
    mine = [p for p, _t in first.messages + second.messages if p in phones]
    assert sorted(mine) == phones
    reminded = await InvitationEvent.count().where(
        InvitationEvent.invitation.is_in(ids) & (InvitationEvent.kind == d.REMINDED)
    )
    assert reminded == 6


async def test_refused_messages_are_not_recorded_as_sent(demo_city: None) -> None:
    # A gateway that takes two of six: two ``sent`` events, the four others still to send.
    wave_id = await demo_wave_id()
    base = "https://pa.example.cn"
    await send_invitations(wave_id, base, _CountingGateway())  # the demo's unsent ones
    summary = await create_invitations(wave_id, PHONES[:6], "zhixiaolv", None, stratum="credit")
    ids = [c.invitation_id for c in summary.created]
    assert await send_invitations(wave_id, base, _CountingGateway(accept=2)) == 2
    sent = await InvitationEvent.count().where(
        InvitationEvent.invitation.is_in(ids) & (InvitationEvent.kind == d.SENT)
    )
    assert sent == 2
    rows = await Invitation.select(Invitation.disposition).where(Invitation.id.is_in(ids))
    assert sorted(r["disposition"] for r in rows) == [d.CREATED] * 4 + [d.SENT] * 2
    rest = _CountingGateway()
    assert await send_invitations(wave_id, base, rest) == 4
    assert sorted(p for p, _t in rest.messages) == sorted(c.phone for c in summary.created[2:])
