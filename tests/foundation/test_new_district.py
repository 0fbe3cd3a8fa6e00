"""A district sets itself up from an EMPTY database with the command line only (``survey.cli.main``),
as docs/new-district.md lists it: registry (units, then the population in long format), a
programme with the district's own policy, users, a wave opened, delivered interviews through the
telephone and the web wording of the instrument, closing, computing, publishing — then what the
committee sees (after a correction published as revision 2), and a later policy change that leaves the published wave alone."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from survey.cli import main
from survey.db.tables import PolicyVersion, Wave
from survey.results.tables import IndexResult, ResultRun
from tests.conftest import pooled_engine, run_async
from tests.foundation import _new_district as nd
from tests.helpers import login

REASON = "核对访问记录后重新计算"


def _ok(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, (args, captured.err)
    return captured.out


async def _results(wave_month: str) -> dict[tuple[str, str], dict[str, object]]:
    wave = await Wave.select(Wave.id).where(Wave.month == wave_month).first()
    assert wave is not None
    rows = await IndexResult.select(
        IndexResult.index_id,
        IndexResult.unit_code,
        IndexResult.estimate,
        IndexResult.n,
        IndexResult.sanctions,
        IndexResult.status,
    ).where(IndexResult.wave == wave["id"])
    return {(str(r["index_id"]), str(r["unit_code"])): r for r in rows}


async def _committee_pages(username: str) -> tuple[str, str]:
    from survey.web.app import create_app

    app = create_app()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await login(c, username, nd.PASSWORD)).status_code == 303
            listing = await c.get("/results")
            wave = await Wave.select(Wave.id).where(Wave.month == nd.MONTH).first()
            assert wave is not None
            page = await c.get(f"/results/{wave['id']}")
            assert page.status_code == 200
            return listing.text, page.text


def test_a_new_district_sets_itself_up_with_the_cli_only(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGAN_NEW_PASSWORD", nd.PASSWORD)
    district, _name = nd.DISTRICT
    units, population = nd.write_registry(tmp_path)
    policy = tmp_path / "beicheng.toml"
    policy.write_text(nd.POLICY, encoding="utf-8")

    # 1. registry, then the population counts in long format
    assert "新建" in _ok(["import-units", str(units)], capsys)
    assert "人口数 32" in _ok(["import-units", str(population)], capsys)

    # 2. the programme with the district's policy; the default instruments per mode
    assert _ok(["policy", "check", str(policy), "--region", district], capsys).startswith(
        "OK beicheng v1 "
    )
    out = _ok(
        [
            "programme", "create", nd.PROGRAMME, "--region", district,
            "--name", "北城区两率一度月度测评", "--policy", str(policy),
        ],
        capsys,
    )  # fmt: skip
    assert "网页自填问卷: liangshuaiyidu_web" in out and "电话访问问卷: liangshuaiyidu" in out
    listing = _ok(["programme", "list"], capsys)
    assert listing.startswith(f"{nd.PROGRAMME}\t北城区两率一度月度测评\t北城区（{district}）")
    assert "办法: beicheng v1" in listing

    # 3. users of the district
    for username, roles in (
        ("bc-admin", "admin"),
        ("bc-analyst", "analyst"),
        ("bc-weiyuan", "committee"),
    ):
        _ok(["create-user", username, "--roles", roles, "--district", district], capsys)

    # 4. the first wave: created, opened, delivered interviews in both wordings, closed
    wave = f"{nd.PROGRAMME}/{nd.MONTH}"
    _ok(["wave", "create", nd.PROGRAMME, nd.MONTH], capsys)
    _ok(["wave", "open", wave], capsys)
    phone = nd.write_delivered(tmp_path, "phone.csv", 0)
    web = nd.write_delivered(tmp_path, "web.csv", 1000)
    _ok(["responses", "import", wave, str(phone), "--instrument", "liangshuaiyidu"], capsys)
    _ok(["responses", "import", wave, str(web), "--instrument", "liangshuaiyidu_web"], capsys)
    _ok(["wave", "close", wave], capsys)

    # 5. compute and publish
    assert "使用 128 份完成的问卷" in _ok(["results", "compute", wave], capsys)
    _ok(["wave", "publish", wave], capsys)

    # 5b. published is final: computing again is refused; a correction is a revision with its
    # reason, published again (docs/lifecycle.md)
    assert main(["results", "compute", wave]) == 1
    assert "发布" in capsys.readouterr().err
    _ok(["results", "revise", wave, "--reason", REASON], capsys)
    _ok(["wave", "publish", wave], capsys)

    # 6. what was computed: both wordings pooled into one index per station, the district's rules
    results = run_async(lambda: _results(nd.MONTH))
    both = nd.n_per_station(files=2)
    assert results[("anquangan", "S01")]["n"] == both
    assert results[("anquangan", "S02")]["n"] == both
    assert results[("anquangan", "S01")]["estimate"] == pytest.approx(100.0)
    assert results[("anquangan", "S02")]["estimate"] == pytest.approx(0.0)
    assert "通报批评" in str(results[("anquangan", "S02")]["sanctions"])
    assert str(results[("anquangan", "S01")]["sanctions"]) == "[]"
    jcy = results[("manyidu_bumen", f"{district}/jianchayuan")]
    fy = results[("manyidu_bumen", f"{district}/fayuan")]
    assert jcy["estimate"] == pytest.approx(80.0) and fy["estimate"] == pytest.approx(80.0)
    assert "低于达标分值95分" in str(jcy["sanctions"])  # the plain code `jianchayuan = 95`
    assert str(fy["sanctions"]) == "[]"  # 80 ≥ the common 60

    # 7. what the committee member of the district sees
    async def pages() -> tuple[str, str]:
        async with pooled_engine():
            return await _committee_pages("bc-weiyuan")

    listing_page, wave_page = run_async(pages)
    assert nd.MONTH in listing_page or "2027年1月" in listing_page
    assert "南关派出所" in wave_page and "北城区人民检察院" in wave_page
    assert "通报批评" in wave_page
    assert "更正" in wave_page and REASON in wave_page  # the latest published revision

    # 8. a new policy version: the published wave keeps the rules it was computed with
    policy.write_text(nd.POLICY_V2, encoding="utf-8")
    assert "第 2 版" in _ok(["programme", "set-policy", nd.PROGRAMME, str(policy)], capsys)
    shown = _ok(["programme", "show", nd.PROGRAMME], capsys)
    assert re.search(rf"{nd.MONTH}  发布  按 beicheng v1（[0-9a-f]{{12}}）计算", shown)
    assert "当前办法: 第 2 版" in shown
    after = run_async(lambda: _results(nd.MONTH))
    assert after == results

    async def recorded() -> tuple[str, list[str]]:
        run = await ResultRun.select(ResultRun.policy_hash).first()
        assert run is not None
        hashes = await PolicyVersion.select(PolicyVersion.content_hash).order_by(
            PolicyVersion.number
        )
        return str(run["policy_hash"]), [str(h["content_hash"]) for h in hashes]

    run_hash, version_hashes = run_async(recorded)
    assert run_hash == version_hashes[0] != version_hashes[1]

    # a correction of the published wave (a revision) is computed with the recorded version
    async def revision_policy() -> tuple[str, str]:
        from survey.results.compute import resolve_wave, wave_policy

        ref = await resolve_wave(wave)
        recorded_policy = await wave_policy(ref, recorded=True)
        current_policy = await wave_policy(ref, recorded=False)
        return recorded_policy.content_hash, current_policy.content_hash

    assert run_async(revision_policy) == (version_hashes[0], version_hashes[1])
