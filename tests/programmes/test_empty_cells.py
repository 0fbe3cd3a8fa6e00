"""A district without a single respondent aged 60+: computing stops with the district and the
group named in words and what to do; the microdata export answers 409 with that message (never
a 500); ``collapse_age_groups = true`` in a new policy version merges the group and says so."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from survey.cli import main
from survey.db.tables import Wave
from survey.results.tables import ResultRun
from tests.conftest import pooled_engine, run_async
from tests.foundation import _new_district as nd
from tests.helpers import login

MESSAGE = "北城区（区县 990201）的60岁及以上人群（登记人口 "


def _ok(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, (args, captured.err)
    return captured.out


async def _microdata() -> httpx.Response:
    from survey.web.app import create_app

    async with pooled_engine():
        wave = await Wave.select(Wave.id).where(Wave.month == nd.MONTH).first()
        assert wave is not None
        app = create_app()
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                assert (await login(c, "bc-analyst", nd.PASSWORD)).status_code == 303
                return await c.get(f"/results/{wave['id']}/microdata/csv")


def test_an_empty_age_group_is_named_and_can_be_merged(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGAN_NEW_PASSWORD", nd.PASSWORD)
    units, population = nd.write_registry(tmp_path)
    policy = tmp_path / "p.toml"
    policy.write_text(nd.POLICY, encoding="utf-8")
    wave = f"{nd.PROGRAMME}/{nd.MONTH}"
    delivered = nd.write_delivered(tmp_path, "d.csv", 0, ages=nd.AGES[:3])  # nobody aged 60+
    for args in (
        ["import-units", str(units)],
        ["import-units", str(population)],
        ["programme", "create", nd.PROGRAMME, "--region", nd.DISTRICT[0], "--name", "北城",
         "--policy", str(policy)],
        ["create-user", "bc-analyst", "--roles", "analyst", "--district", nd.DISTRICT[0]],
        ["wave", "create", nd.PROGRAMME, nd.MONTH],
        ["wave", "open", wave],
        ["responses", "import", wave, str(delivered), "--instrument", "liangshuaiyidu"],
        ["wave", "close", wave],
    ):  # fmt: skip
        _ok(args, capsys)

    assert main(["results", "compute", wave]) == 1
    err = capsys.readouterr().err
    assert MESSAGE in err and "没有受访者" in err
    assert "请补充这些人群的样本" in err and "collapse_age_groups = true" in err

    response = run_async(_microdata)
    assert response.status_code == 409
    assert "加权失败，无法导出微观数据" in response.text and MESSAGE in response.text

    merged = "collapse_age_groups = true\n" + nd.POLICY.replace("version = 1", "version = 2")
    policy.write_text(merged, encoding="utf-8")
    _ok(["programme", "set-policy", nd.PROGRAMME, str(policy)], capsys)
    _ok(["results", "compute", wave], capsys)

    async def diagnostics() -> list[dict[str, object]]:
        run = await ResultRun.select(ResultRun.weighting).first()
        assert run is not None
        return list(json.loads(run["weighting"]))

    rows = run_async(diagnostics)
    by_scope = {r["scope"]: r["merged_age_groups"] for r in rows}
    assert by_scope[nd.DISTRICT[0]] == "45～59岁、60岁及以上 合并为一个年龄段加权"
    response = run_async(_microdata)
    assert response.status_code == 200
