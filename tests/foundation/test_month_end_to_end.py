"""One month end to end, as the README's "One month, end to end" lists it: a new wave, a frame, a
web sample, opening, releasing, the SMS file, residents answering through the links in it, closing,
computing, publishing and the monthly report — every step through ``survey.cli.main`` or HTTP."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import httpx
import numpy as np
import pytest

from survey.cli import main
from survey.collection.tables import Response
from survey.db.tables import Unit, Wave
from survey.results.tables import IndexResult
from tests.collection._support import walk
from tests.conftest import build_test_demo, pooled_engine, run_async
from tests.helpers import login

#: screening answers every resident gives so that the interview completes
ELIGIBLE = {"s_age": "1", "s_resident": "1"}
RESIDENTS_AT_ONCE = 8


def _frame(path: Path, communities: list[str], rng: np.random.Generator) -> None:
    numbers = rng.choice(10**8, size=1500, replace=False)
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["unit", "phone"])
        for i, number in enumerate(numbers):
            out.writerow([communities[i % len(communities)], f"139{number:08d}"])


async def _answer(client: httpx.AsyncClient, link: str, rng: np.random.Generator) -> None:
    """Answer the survey behind ``link`` screen by screen, each question with a random option."""
    token = httpx.URL(link).path.removeprefix("/s/")
    await walk(client, token, ELIGIBLE, choose=lambda _name, values: str(rng.choice(values)))
    assert "您已完成本次调查" in (await client.get(f"/s/{token}")).text


def test_one_month_as_the_readme_lists_it(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(20261201)
    run_async(lambda: build_test_demo(()))

    async def communities() -> list[str]:
        rows = await Unit.select(Unit.code).where(Unit.level == "community")
        return sorted(str(r["code"]) for r in rows)

    frame = tmp_path / "phones.csv"
    _frame(frame, run_async(communities), rng)
    sms = tmp_path / "sms.csv"
    month = "2026-12"
    for args in (
        ["wave", "create", "nancheng-lsyd", month],
        ["sample", "frame", month, str(frame)],
        ["sample", "draw", month, "--total", "240", "--mode", "web", "--seed", "11"],
        ["wave", "open", month],
        ["sample", "release", month],
        ["invitations", "export-sms", month, "-o", str(sms), "--base-url", "http://testserver"],
    ):
        assert main(args) == 0, (args, capsys.readouterr().err)
    with sms.open(encoding="utf-8-sig") as f:
        links = [row["link"] for row in csv.DictReader(f)]
    assert len(links) >= 100

    async def residents_answer() -> None:
        from survey.web.app import create_app

        app = create_app()

        async def resident(n: int, link: str) -> None:
            # each resident from a phone of their own (the per-address rate limit), with answers
            # of their own (a generator per resident: the same answers whatever the order)
            phone = (f"10.1.{n // 250}.{n % 250 + 1}", 40000 + n)
            transport = httpx.ASGITransport(app=app, client=phone)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                await _answer(c, link, np.random.default_rng([20261201, n]))

        async with app.lifespan():
            # Eight residents at a time, as a server sees them: each one's waits for the
            # database overlap with the others' (one after the other this took minutes).
            for first in range(0, len(links), RESIDENTS_AT_ONCE):
                batch = links[first : first + RESIDENTS_AT_ONCE]
                await asyncio.gather(*(resident(first + k, link) for k, link in enumerate(batch)))

    run_async(residents_answer)

    async def completed() -> int:
        wave = await Wave.select(Wave.id).where(Wave.month == month).first()
        assert wave is not None
        return await Response.count().where(
            (Response.wave == wave["id"]) & (Response.status == "completed")
        )

    assert run_async(completed) == len(links)

    # before closing, publishing is refused; after computing, it is allowed
    assert main(["wave", "close", month]) == 0
    assert main(["wave", "publish", month]) == 1
    assert "尚未计算结果" in capsys.readouterr().err
    assert main(["results", "compute", month]) == 0
    assert f"使用 {len(links)} 份完成的问卷" in capsys.readouterr().out
    assert main(["wave", "publish", month]) == 0
    report = tmp_path / "report.html"
    assert main(["report", month, "--format", "html", "-o", str(report)]) == 0
    assert "2026-12 测评结果通报" in report.read_text(encoding="utf-8")

    async def stored_and_seen() -> tuple[int, str]:
        wave = await Wave.select(Wave.id).where(Wave.month == month).first()
        assert wave is not None
        stored = await IndexResult.count().where(IndexResult.wave == wave["id"])
        from survey.web.app import create_app

        app = create_app()
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                assert (await login(c, "committee")).status_code == 303
                page = await c.get("/results")
        return stored, page.text

    async def with_pool() -> tuple[int, str]:
        async with pooled_engine():
            return await stored_and_seen()

    stored, dashboard = run_async(with_pool)
    assert stored > 0
    assert "2026-12" in dashboard or "2026年12月" in dashboard
