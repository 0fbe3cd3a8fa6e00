"""Programmes: creation and its refusals, policy versions, PINGAN_POLICIES, instruments per mode
(web links never serve the telephone script; the demo's links), on both engines."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import survey.collection.demo
from survey.collection.invitations import InvitationError, create_invitations
from survey.collection.tables import Invitation
from survey.db.tables import PolicyVersion, Programme, Unit, Wave
from survey.programmes import service
from survey.ranking import default_policy_path

pytestmark = pytest.mark.anyio

DEFAULT_TEXT = default_policy_path().read_text(encoding="utf-8")
DISTRICT = "990102"  # the demo city's 南城区


async def _create(code: str = "test-lsyd", **kw: object) -> int:
    args: dict[str, object] = {
        "policy_text": DEFAULT_TEXT,
        "policy_name": "default.toml",
        "username": "t",
    }
    args.update(kw)
    return await service.create_programme(code, "测试方案", DISTRICT, **args)  # type: ignore[arg-type]


async def test_create_stores_the_policy_as_version_one(demo_city: None) -> None:
    programme_id = await _create()
    row = await Programme.select().where(Programme.id == programme_id).first()
    assert row is not None
    assert (row["web_instrument"], row["phone_instrument"]) == (
        "liangshuaiyidu_web",
        "liangshuaiyidu",
    )
    versions = await PolicyVersion.select().where(PolicyVersion.programme == programme_id)
    assert [(v["number"], v["policy_id"], v["version"]) for v in versions] == [(1, "default", 1)]
    assert versions[0]["content"] == DEFAULT_TEXT
    policy = await service.policy_for_wave(programme_id)
    assert policy.content_hash == versions[0]["content_hash"]


async def test_create_refuses_what_a_district_cannot_run(demo_city: None) -> None:
    with pytest.raises(service.ProgrammeError, match="是为电话访问编写的，不能用于网页自填"):
        await _create(web_instrument="liangshuaiyidu")
    with pytest.raises(service.ProgrammeError, match="问卷「nope」不存在"):
        await _create(phone_instrument="nope")
    with pytest.raises(service.ProgrammeError, match="方案代码「北城」无效"):
        await _create("北城")
    with pytest.raises(service.ProgrammeError, match="区域「990999」不是区划登记表中的区/县或市"):
        await service.create_programme(
            "x", "x", "990999", policy_text=DEFAULT_TEXT, policy_name="d.toml"
        )
    with pytest.raises(service.ProgrammeError, match="测评方案「nancheng-lsyd」已存在"):
        await _create("nancheng-lsyd")
    other = await Unit.select(Unit.id).where(Unit.code == DISTRICT).first()
    assert other is not None
    with pytest.raises(service.ProgrammeError, match="只能为本人所在的区/县创建"):
        await _create(limit_to_district=other["id"] + 10_000)
    bad = DEFAULT_TEXT.replace("version = 1", "version = 0").replace("k = 2", "k = 0", 1)
    with pytest.raises(service.ProgrammeError) as caught:
        await _create(policy_text=bad, policy_name="bad.toml")
    assert str(caught.value) == "办法文件有 2 个问题，未保存"
    assert [p.split(":")[0] for p in caught.value.problems] == ["bad.toml", "bad.toml"]
    assert "version = 0 无效" in caught.value.problems[0]
    assert not await Programme.exists().where(Programme.code == "test-lsyd")


async def test_policy_versions_are_numbered_and_never_rewritten(demo_city: None) -> None:
    await _create()
    same, changed = await service.set_policy("test-lsyd", DEFAULT_TEXT, "again.toml")
    assert (same.number, changed) == (1, False)
    edited = DEFAULT_TEXT.replace("threshold = 85", "threshold = 80", 1)
    with pytest.raises(service.ProgrammeError, match="请在文件中提高 version"):
        await service.set_policy("test-lsyd", edited, "edited.toml")
    v2 = edited.replace("version = 1", "version = 2")
    info, changed = await service.set_policy("test-lsyd", v2, "v2.toml")
    assert (info.number, info.version, changed) == (2, 2, True)
    # back to the first text: a third version with the first one's content
    info, changed = await service.set_policy("test-lsyd", DEFAULT_TEXT, "back.toml")
    assert (info.number, changed) == (3, True)
    detail = await service.programme_detail("test-lsyd")
    assert [v.number for v in detail.versions] == [1, 2, 3]
    assert detail.versions[0].content_hash == detail.versions[2].content_hash
    assert await service.policy_text("test-lsyd", 2) == v2


async def test_an_unknown_department_key_is_refused_for_the_region(demo_city: None) -> None:
    text = DEFAULT_TEXT.replace(
        "threshold = 85\nladder", "threshold = 85\nthresholds = { jiaojing = 90 }\nladder", 1
    )
    assert text != DEFAULT_TEXT
    with pytest.raises(service.ProgrammeError) as caught:
        await _create(policy_text=text)
    assert len(caught.value.problems) == 1
    assert "'jiaojing' 不是已知的单位代码" in caught.value.problems[0]
    ok = text.replace("jiaojing", "jianchayuan")
    await _create(policy_text=ok)


async def test_installation_policies_are_offered_by_id(
    demo_city: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = DEFAULT_TEXT.replace('id = "default"', 'id = "beicheng"')
    (tmp_path / "beicheng.toml").write_text(own, encoding="utf-8")
    monkeypatch.setenv("PINGAN_POLICIES", str(tmp_path))
    text, name = service.read_policy_source("beicheng")
    assert text == own and name == str(tmp_path / "beicheng.toml")
    (tmp_path / "zz-bad.toml").write_text('id = "bad"\nversion = 1\n', encoding="utf-8")
    with pytest.raises(service.ProgrammeError) as caught:
        service.read_policy_source("beicheng")
    assert str(caught.value) == "本系统的办法文件有问题"
    assert caught.value.problems and all("zz-bad.toml" in p for p in caught.value.problems)
    monkeypatch.setenv("PINGAN_POLICIES", str(tmp_path / "missing"))
    with pytest.raises(service.ProgrammeError) as caught:
        service.read_policy_source("beicheng")
    assert "PINGAN_POLICIES 指向的目录不存在" in caught.value.problems[0]


async def test_web_invitations_refuse_the_telephone_script(demo_city: None) -> None:
    wave = await Wave.select(Wave.id).first()
    assert wave is not None
    with pytest.raises(
        InvitationError, match="「两率一度电话调查」（liangshuaiyidu）是为电话访问编写的"
    ):
        await create_invitations(wave["id"], ["13900001111"], "liangshuaiyidu")
    assert await service.instrument_of_wave(wave["id"], "web") == "liangshuaiyidu_web"
    assert await service.instrument_of_wave(wave["id"], "phone") == "liangshuaiyidu"


async def test_the_phone_campaign_reads_the_programmes_phone_instrument(demo_city: None) -> None:
    from survey.cati.cases import ensure_campaign
    from survey.cati.tables import Campaign

    await service.update_programme(
        "nancheng-lsyd", phone_instrument="anquangan", web_instrument="anquangan"
    )
    wave = await Wave.select(Wave.id).first()
    assert wave is not None
    campaign = await ensure_campaign(wave["id"])
    row = await Campaign.select(Campaign.instrument_id).where(Campaign.id == campaign).first()
    assert row is not None and row["instrument_id"] == "anquangan"
    with pytest.raises(service.ProgrammeError, match="不能用于网页自填"):
        await service.update_programme("nancheng-lsyd", web_instrument="liangshuaiyidu")


async def test_every_demo_link_opens_a_web_instrument(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    from questionnaires import default_instruments
    from survey.collection.demo import demo_token
    from survey.collection.invitations import token_hash

    rows = await Invitation.select(Invitation.token_hash, Invitation.instrument_id)
    assert len(rows) == 10
    instruments = default_instruments()
    assert all("web" in instruments[r["instrument_id"]].modes for r in rows)
    assert sum(r["instrument_id"] == "liangshuaiyidu_web" for r in rows) == 7
    hashes = {r["token_hash"] for r in rows}
    for n in range(10):
        token = demo_token(20261124, n)
        assert token_hash(token) in hashes
        page = await client.get(f"/s/{token}")
        assert page.status_code == 200
        assert "调查员" not in page.text and "接电话" not in page.text


async def test_a_second_demo_run_moves_old_links_off_the_telephone_script(demo_city: None) -> None:
    """A database built by the earlier demo gave seven links the telephone instrument: running
    the demo again gives the unopened ones the web instrument."""
    from tests.conftest import build_test_demo

    await Invitation.update({Invitation.instrument_id: "liangshuaiyidu"}).where(
        Invitation.instrument_id == "liangshuaiyidu_web"
    )
    assert await Invitation.count().where(Invitation.instrument_id == "liangshuaiyidu") == 7
    await build_test_demo((survey.collection.demo,))
    assert await Invitation.count().where(Invitation.instrument_id == "liangshuaiyidu") == 0
    assert await Invitation.count().where(Invitation.instrument_id == "liangshuaiyidu_web") == 7
