"""The command line: import, compute, export and report, with one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from survey.cli import main
from survey.collection.tables import Response
from survey.db.tables import AGE_GROUPS, Programme, StationCommunity, Wave
from tests.conftest import run_async
from tests.results.conftest import build_small_city

ITEMS = {
    "q_anquan": "2",
    "q_zhixiao": "1",
    "q_manyi_gongan": "1",
    "q_manyi_jianchayuan": "2",
    "q_manyi_fayuan": "3",
    "q_manyi_sifaju": "8",
    "s_age": "1",
    "s_resident": "1",
}


async def _setup() -> list[str]:
    await build_small_city()
    programme = await Programme.select(Programme.id).first()
    assert programme is not None
    await Wave.insert(Wave(programme=programme["id"], month="2026-12", status="closed"))
    rows = await StationCommunity.select(StationCommunity.community.code).order_by(
        StationCommunity.community.code
    )
    return [r["community.code"] for r in rows]


def _write(path: Path, communities: list[str], bad: bool = False) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(
            f,
            fieldnames=[
                *("respondent_id", "community", "sex", "age_group", "d_sex", "d_age_group"),
                *ITEMS,
            ],
        )
        writer.writeheader()
        for i in range(48):
            sex = i % 2
            age = (i // 2) % 4
            writer.writerow(
                {
                    "respondent_id": f"R{i:03d}",
                    "community": "000000" if bad and i == 1 else communities[i % len(communities)],
                    "sex": "MF"[sex],
                    "age_group": AGE_GROUPS[age],
                    "d_sex": str(sex + 1),
                    "d_age_group": str(age + 1),
                    **ITEMS,
                    "q_anquan": str(1 + i % 5),
                }
            )
    return path


def test_import_compute_export_report(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    communities = run_async(_setup)
    bad = _write(tmp_path / "bad.csv", communities, bad=True)
    assert main(["responses", "import", "2026-12", str(bad), "--instrument", "liangshuaiyidu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("错误: ") and "第3行, 列 community: 未知的社区代码 000000" in err

    good = _write(tmp_path / "good.csv", communities)
    args = ["responses", "import", "2026-12", str(good), "--instrument", "liangshuaiyidu"]
    assert main(args) == 0
    assert "已导入 48 份问卷" in capsys.readouterr().out
    assert main(args) == 0
    assert "没有任何改变" in capsys.readouterr().out

    assert main(["results", "compute", "nancheng-lsyd/2026-12"]) == 0
    assert "计算完成。2026-12: 使用 48 份" in capsys.readouterr().out
    out = tmp_path / "results.csv"
    assert main(["results", "export", "2026-12", "--format", "csv", "-o", str(out)]) == 0
    header = out.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("index,index_name,level,level_name,unit_code,unit_name,estimate,se")
    weighting = tmp_path / "weighting.csv"
    assert main(["results", "export", "2026-12", "--table", "weighting", "-o", str(weighting)]) == 0  # fmt: skip
    lines = weighting.read_text(encoding="utf-8-sig").splitlines()
    assert (
        "kish_deff" in lines[0] and "converged" in lines[0] and len(lines) == 3
    )  # all + 1 district
    micro = tmp_path / "micro.xlsx"
    assert main(["results", "export", "2026-12", "--format", "xlsx", "--microdata", "-o", str(micro)]) == 0  # fmt: skip
    assert micro.stat().st_size > 0
    report = tmp_path / "report.html"
    assert main(["report", "2026-12", "--format", "html", "-o", str(report)]) == 0
    assert "结果通报" in report.read_text(encoding="utf-8")
    capsys.readouterr()

    # A later wave while 2026-12 has results but 2027-01 is closed and not computed: the
    # streaks would be short, and the method box says so.
    async def later() -> str:
        from survey.results.compute import compute_wave, resolve_wave
        from survey.results.queries import run_for_wave

        programme = await Programme.select(Programme.id).first()
        assert programme is not None
        await Wave.insert(Wave(programme=programme["id"], month="2027-01", status="closed"))
        feb = await Wave.insert(
            Wave(programme=programme["id"], month="2027-02", status="closed")
        ).returning(Wave.id)
        dec = await resolve_wave("2026-12")
        await Response.update({Response.wave: feb[0]["id"]}).where(Response.wave == dec.id)
        await compute_wave(feb[0]["id"], username="t")
        run = await run_for_wave(feb[0]["id"])
        assert run is not None
        return str(run.method["ladder_note"])

    assert "2027-01 尚未计算结果" in run_async(later)
    assert main(["results", "compute", "2099-01"]) == 1
    assert "没有找到测评期「2099-01」" in capsys.readouterr().err
