"""Demo samples for the open demo wave: a phone-number frame drawn for the mobile web survey and
a number-block (号段) sample for the telephone campaign, each with its first batch released.

Both go through the same import, draw and release paths as an analyst's files. Idempotent: a
second run finds the demo samples and adds nothing.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from survey.db.tables import Unit
from survey.demo_context import DemoContext
from survey.design.frames import import_blocks_table, import_frame_table
from survey.design.service import DesignSpec, draw_sample
from survey.design.tables import Sample
from survey.registry.tree import load_tree
from survey.release import release_batches
from survey.tabular import read_table

DEMO_USER = "demo"
# Carriers' mobile blocks (号段) and two landline blocks of the demo district (fictional numbers).
MOBILE_BLOCKS: tuple[tuple[str, str], ...] = (
    ("1380571", "中国移动"),
    ("1390571", "中国移动"),
    ("1505712", "中国移动"),
    ("1870571", "中国移动"),
    ("1305713", "中国联通"),
    ("1865712", "中国联通"),
    ("1335714", "中国电信"),
    ("1895716", "中国电信"),
)
LANDLINE_BLOCKS: tuple[tuple[str, str], ...] = (
    ("0571-8765", "中国电信"),
    ("0571-5612", "中国电信"),
)
FRAME_SHARE = 0.004  # phone-list rows per adult of a community (≈ 1,500 rows for the district)


async def demo_frame_csv(seed: int, district_code: str) -> bytes:
    """A phone-number frame for the district: rows per community in proportion to its adults."""
    district = await Unit.select(Unit.id).where(Unit.code == district_code).first()
    assert district is not None
    tree = await load_tree(int(district["id"]), population=True)
    assert tree is not None
    communities = tree.at_level("community")
    rng = np.random.default_rng(seed + 6)
    counts = [max(5, round(tree.adults(c.id) * FRAME_SHARE)) for c in communities]
    # Distinct fictional mobile numbers: 1370000xxxx … drawn without replacement.
    suffixes = rng.choice(10_000_000, size=sum(counts), replace=False)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["unit", "phone"])
    k = 0
    for community, count in zip(communities, counts, strict=True):
        for _ in range(count):
            writer.writerow([community.code, f"1370{int(suffixes[k]):07d}"])
            k += 1
    return out.getvalue().encode("utf-8")


def demo_blocks_csv(district_code: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["prefix", "carrier", "district"])
    for prefix, carrier in (*MOBILE_BLOCKS, *LANDLINE_BLOCKS):
        writer.writerow([prefix, carrier, district_code])
    return out.getvalue().encode("utf-8")


async def extend_demo(context: DemoContext) -> list[str]:
    """Frame, block list and two samples for the demo wave, first batch of each released."""
    existing = await Sample.select(Sample.id).where(
        (Sample.wave == context.wave_id) & (Sample.created_by == DEMO_USER)
    )
    link = f"{context.base_url}/design/waves/{context.wave_id}"
    if existing:
        return [f"抽样设计：示范样本已存在，见 {link}"]
    frame = await import_frame_table(
        context.wave_id,
        read_table("示范电话名单.csv", await demo_frame_csv(context.seed, context.district_code)),
        kind="phone",
        stratify_by="street",
        username=DEMO_USER,
    )
    web = await draw_sample(
        context.wave_id,
        DesignSpec(
            frame_id=frame.frame_id,
            mode="web",
            method="srswor",
            allocation="compromise",
            margin=0.15,
            p=0.9,
            response_rate=0.5,
            total=420,
            batch_shares=(0.7, 0.3),
        ),
        seed=context.seed,
        username=DEMO_USER,
    )
    web_release = await release_batches(web.sample_id, 1, username=DEMO_USER)
    blocks = await import_blocks_table(
        context.wave_id,
        read_table("示范号段表.csv", demo_blocks_csv(context.district_code)),
        username=DEMO_USER,
    )
    phone = await draw_sample(
        context.wave_id,
        DesignSpec(
            frame_id=blocks.frame_id,
            mode="phone",
            method="numbers",
            total=200,
            response_rate=0.15,
            batch_shares=(0.75, 0.25),
            landline_share=0.25,
        ),
        seed=context.seed + 1,
        username=DEMO_USER,
    )
    phone_release = await release_batches(phone.sample_id, 1, username=DEMO_USER)
    return [
        f"抽样设计：网页样本 #{web.sample_id}（{web.elements} 个号码，第 1 批 "
        f"{web_release.released_total} 个已释放），电话样本 #{phone.sample_id}（号段内 "
        f"{phone.elements} 个号码，第 1 批 {phone_release.released_total} 个已释放）；见 {link}"
    ]
