"""Invitations, SMS export, the frozen-instrument rule, the demo links and the CLI."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import re
from pathlib import Path

import httpx
import pytest

from questionnaires import default_instruments
from survey.cli import main as cli_main
from survey.collection import responses
from survey.collection.demo import demo_token
from survey.collection.invitations import (
    InvitationError,
    create_invitations,
    invite_sample,
    new_token,
    read_phone_file,
    token_hash,
)
from survey.collection.sms import (
    EXPORT_COLUMNS,
    FileGateway,
    export_sms_csv,
    send_invitations,
    sms_text,
)
from survey.collection.tables import Contact, Invitation, Response
from survey.demo import build_demo
from tests.collection._support import demo_wave_id, invite, walk

pytestmark = pytest.mark.anyio
LINK = re.compile(r"(http://127\.0\.0\.1:8000)(/s/[A-Za-z0-9_-]+)")


def test_tokens_carry_128_bits_and_are_url_safe() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in list(tokens)[:50]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
        assert len(base64.urlsafe_b64decode(token + "==")) == 16  # 16 bytes = 128 bits
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", demo_token(1, 0))
    assert demo_token(1, 0) == demo_token(1, 0) != demo_token(2, 0)


async def test_create_invitations_stores_only_the_hash_and_skips_repeats(
    demo_city: None,
) -> None:
    wave_id = await demo_wave_id()
    phones = ["13900001111", "+86 139-0000-2222", "8613900003333"]
    first = await create_invitations(wave_id, phones, "anquangan", None)
    assert [c.phone for c in first.created] == ["13900001111", "13900002222", "13900003333"]
    rows = await Invitation.select(Invitation.token_hash, Invitation.status).where(
        Invitation.stratum != "demo"
    )
    assert sorted(r["token_hash"] for r in rows) == sorted(
        token_hash(c.token) for c in first.created
    )
    assert all(c.token not in str(rows) for c in first.created)
    # The answers table has no phone column; the number lives only in Contact.
    assert "phone" not in {c._meta.name for c in Response._meta.columns}
    again = await create_invitations(wave_id, ["13900001111", "13900004444"], "anquangan", None)
    assert again.skipped == ("13900001111",)
    assert len(again.created) == 1
    assert await Contact.count().where(Contact.phone.like("1390000%")) == 4
    with pytest.raises(InvitationError, match="第2个号码 “12345” 不是有效的11位手机号码"):
        await create_invitations(wave_id, ["13900005555", "12345"], "anquangan", None)
    with pytest.raises(InvitationError, match="问卷「nope」不存在"):
        await create_invitations(wave_id, ["13900005555"], "nope", None)
    assert await Contact.count().where(Contact.phone.like("1390000%")) == 4  # nothing half-written
    from survey.db.tables import Wave

    await Wave.update({Wave.status: "closed"}).where(Wave.id == wave_id)
    with pytest.raises(InvitationError, match="测评期 2026-11 已结束"):
        await create_invitations(wave_id, ["13900005555"], "anquangan", None)


def test_read_phone_file_reports_every_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "ok.csv"
    good.write_text("phone,name\n13900001111,张\n 139 0000 2222 \n\n", encoding="utf-8")
    assert read_phone_file(good) == ["13900001111", "13900002222"]
    bad = tmp_path / "bad.txt"
    bad.write_text("13900001111\nabc\n13900001111\n", encoding="utf-8")
    with pytest.raises(InvitationError) as info:
        read_phone_file(bad)
    assert "bad.txt 第2行, 列 1: “abc”不是有效的11位手机号码" in str(info.value)
    assert "bad.txt 第3行, 列 1: 号码 13900001111 与第1行重复" in str(info.value)


def test_sms_text_fits_one_message_and_keeps_the_link() -> None:
    link = "https://pa.example.gov.cn/s/" + "A" * 22
    text = sms_text("南城区", link)
    assert link in text and len(text) <= 70
    assert text.startswith("【南城区】")
    long_link = "https://" + "x" * 80 + "/s/" + "A" * 22
    assert long_link in sms_text("南城区", long_link)  # over 70, but the link is whole


async def test_export_and_send_sms(demo_city: None, tmp_path: Path) -> None:
    wave_id = await demo_wave_id()
    summary = await create_invitations(wave_id, ["13900001111", "13900002222"], "zhixiaolv", None)
    done = summary.created[1]
    await Invitation.update({Invitation.status: "completed"}).where(
        Invitation.id == done.invitation_id
    )
    text = await export_sms_csv(wave_id, "https://pa.example.cn/")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    demo_rows = [r for r in rows if r["phone"].startswith("1390000")]
    assert [r["phone"] for r in demo_rows] == ["13900001111"]  # the completed one is not sent
    link = f"https://pa.example.cn/s/{summary.created[0].token}"
    assert demo_rows[0]["link"] == link
    assert link in demo_rows[0]["text"] and len(demo_rows[0]["text"]) <= 70
    out = tmp_path / "gateway.csv"
    sent = await send_invitations(wave_id, "https://pa.example.cn", FileGateway(out))
    assert sent == len(rows)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "phone,text"
    assert f"13900001111,{demo_rows[0]['text']}" in lines
    # Sent: the token stays for reminders with the same link until the invitation is finished;
    # the completed one's plain token is erased (only its hash remains); nothing left to export.
    tokens = {r["phone"]: r["token"] for r in await Contact.select(Contact.phone, Contact.token)}
    assert tokens["13900001111"] == summary.created[0].token
    assert tokens["13900002222"] == ""
    again = await export_sms_csv(wave_id, "https://pa.example.cn/")
    assert again.lstrip("\ufeff").splitlines() == [",".join(EXPORT_COLUMNS)]


async def test_invite_sample_copies_the_design_and_is_idempotent(demo_city: None) -> None:
    from survey.design.tables import Sample, SampledElement

    wave_id = await demo_wave_id()
    sample = await Sample.insert(Sample(wave=wave_id, method="srswor", seed=7)).returning(Sample.id)
    sample_id = sample[0]["id"]
    for position, (released, phone) in enumerate(
        [(True, "13900000001"), (True, "13900000002"), (False, "13900000003")]
    ):
        await SampledElement.insert(
            SampledElement(
                sample=sample_id, position=position, stratum=f"s{position}", phone=phone,
                inclusion_prob=0.01, design_weight=100.0 + position, batch=position,
                released=released,
            )
        )  # fmt: skip
    assert await invite_sample(sample_id) == 2
    assert await invite_sample(sample_id) == 0
    rows = await Invitation.select(
        Invitation.instrument_id, Invitation.stratum, Invitation.design_weight, Invitation.batch
    ).order_by(Invitation.id)
    # The demo programme lists only the phone instrument: web invitations fall back to it.
    assert rows[-2:] == [
        # the programme's web instrument (the combined questionnaire worded for the web)
        {
            "instrument_id": "liangshuaiyidu_web",
            "stratum": "s0",
            "design_weight": 100.0,
            "batch": 0,
        },
        {
            "instrument_id": "liangshuaiyidu_web",
            "stratum": "s1",
            "design_weight": 101.0,
            "batch": 1,
        },
    ]
    # each released element's invitation points back at it (the unreleased one has none), and
    # the invitation's contact carries the element's number
    linked = await Invitation.select(Invitation.id, Invitation.sampled_element.phone).where(
        Invitation.sampled_element.is_not_null()
    )
    assert sorted(r["sampled_element.phone"] for r in linked) == ["13900000001", "13900000002"]
    for r in linked:
        contact = await Contact.select(Contact.phone).where(Contact.invitation == r["id"]).first()
        assert contact == {"phone": r["sampled_element.phone"]}
    contacts = await Contact.select(Contact.phone).where(Contact.phone.like("1390000000%"))
    assert sorted(c["phone"] for c in contacts) == ["13900000001", "13900000002"]
    await SampledElement.update({SampledElement.released: True}).where(
        SampledElement.sample == sample_id
    )
    assert await invite_sample(sample_id) == 1


async def test_an_instrument_in_use_cannot_change_without_a_new_version(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    [token] = await invite("anquangan")
    await walk(client, token)
    wave_id = await demo_wave_id()
    original = default_instruments()["anquangan"]
    await responses.ensure_instrument_frozen(wave_id, original)  # unchanged: fine
    edited = dataclasses.replace(original, content_hash="0" * 64)
    with pytest.raises(responses.InstrumentChanged, match="进行中的测评期不能修改问卷"):
        await responses.ensure_instrument_frozen(wave_id, edited)
    with pytest.raises(responses.InstrumentChanged):
        await responses.start_response(wave_id=wave_id, instrument=edited)
    bumped = dataclasses.replace(original, version=2, content_hash="0" * 64)
    await responses.ensure_instrument_frozen(wave_id, bumped)  # a new version is allowed


async def test_demo_prints_ten_working_links_twice(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    report = await build_demo()
    links = [m.group(2) for line in report.notes if (m := LINK.search(line))]
    assert len(links) == 10 == len(set(links))
    for path in links:
        page = await client.get(path)
        assert page.status_code == 200 and "同意并开始" in page.text, path
    used = links[0].removeprefix("/s/")
    await walk(client, used)
    again = await build_demo()
    links_again = [m.group(2) for line in again.notes if (m := LINK.search(line))]
    assert len(links_again) == 10
    assert links[0] not in links_again and links[1:] == links_again[:9]
    assert await Invitation.count().where(Invitation.stratum == "demo") == 11


def test_cli_create_and_export(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.collection.conftest import COLLECTION_ONLY
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo(COLLECTION_ONLY))
    phones = tmp_path / "phones.txt"
    phones.write_text("13900007777\n13900008888\n", encoding="utf-8")
    assert (
        cli_main(
            [
                "invitations",
                "create",
                "nancheng-lsyd/2026-11",
                "--phones",
                str(phones),
                "--instrument",
                "manyidu",
            ]
        )
        == 0
    )
    assert "已创建 2 个邀请" in capsys.readouterr().out
    out = tmp_path / "sms.csv"
    assert cli_main(["invitations", "export-sms", "nancheng-lsyd/2026-11", "-o", str(out)]) == 0
    body = out.read_text(encoding="utf-8")
    assert "13900007777" in body and "/s/" in body
    assert cli_main(["invitations", "create", "nope/2026-11", "--phones", str(phones)]) == 1
    assert "没有找到测评期「nope/2026-11」" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("1234\n", encoding="utf-8")
    assert cli_main(["invitations", "create", "nancheng-lsyd/2026-11", "--phones", str(bad)]) == 1
    assert "bad.txt 第1行, 列 1" in capsys.readouterr().err


async def test_phone_and_web_interviews_of_a_wave_share_the_instrument_identity(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    """A phone interview (CATI) stored through the same service, then a web one: each records
    its own shipped file's hash (the telephone and the web wording), so the frozen-instrument
    check lets both through."""
    wave_id = await demo_wave_id()
    shipped = default_instruments()["liangshuaiyidu"]
    phone = await responses.start_response(wave_id=wave_id, instrument=shipped, mode="phone")
    assert await responses.complete_response(
        phone.id, {"s_age": 1, "s_resident": 1, "d_sex": 2, "d_age_group": 4}, shipped
    )
    web = default_instruments()["liangshuaiyidu_web"]
    [token] = await invite("liangshuaiyidu_web")
    await walk(client, token)
    rows = await Response.select(Response.mode, Response.instrument_hash, Response.sex).where(
        Response.status == "completed"
    )
    assert sorted(r["mode"] for r in rows) == ["phone", "web"]
    assert {r["mode"]: r["instrument_hash"] for r in rows} == {
        "phone": shipped.content_hash,
        "web": web.content_hash,
    }
    assert {r["mode"]: r["sex"] for r in rows} == {"phone": "F", "web": "M"}


def test_cli_open_link(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.collection.conftest import COLLECTION_ONLY
    from tests.conftest import build_test_demo, run_async

    run_async(lambda: build_test_demo(COLLECTION_ONLY))
    args = ["invitations", "open-link", "nancheng-lsyd/2026-11", "--base-url", "https://x.cn"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"非概率样本.*https://x\.cn/s/[A-Za-z0-9_-]{22}$", out.strip())


async def test_default_expiry_is_the_end_of_the_closing_day_china_time(demo_city: None) -> None:
    import datetime

    from survey.db.tables import Wave

    wave_id = await demo_wave_id()
    await Wave.update({Wave.closes_on: datetime.date(2026, 11, 30)}).where(Wave.id == wave_id)
    summary = await create_invitations(wave_id, ["13900006666"], "anquangan", None)
    row = (
        await Invitation.select(Invitation.expires_at)
        .where(Invitation.id == summary.created[0].invitation_id)
        .first()
    )
    assert row is not None
    expires = row["expires_at"]
    if expires.tzinfo is None:  # SQLite hands back naive UTC
        expires = expires.replace(tzinfo=datetime.UTC)
    # 2026-12-01 00:00 in UTC+8 is 2026-11-30 16:00 UTC.
    assert expires == datetime.datetime(2026, 11, 30, 16, 0, tzinfo=datetime.UTC)
