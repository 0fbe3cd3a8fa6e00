"""The format doc names every accepted column and option; the demo samples are idempotent."""

from __future__ import annotations

import re

import pytest

from survey.demo import build_demo
from survey.design.frames import BLOCK_HEADER, FRAME_HEADER, FRAME_KINDS
from survey.design.regions import STRATIFY_BY
from survey.design.tables import Frame, Sample, SampledElement, StratumTarget
from tests.conftest import REPO

DOC = REPO / "docs" / "frame-format.md"


def test_format_doc_names_every_column_and_option() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z_]+)`", text))
    for name in (*FRAME_HEADER, *BLOCK_HEADER, *STRATIFY_BY, *FRAME_KINDS):
        assert name in named, f"docs/frame-format.md does not describe `{name}`"


@pytest.mark.anyio
async def test_demo_samples_are_built_once(demo_city: None) -> None:
    samples = await Sample.select(Sample.id, Sample.mode, Sample.method).order_by(Sample.id)
    assert [(s["mode"], s["method"]) for s in samples] == [("web", "srswor"), ("phone", "numbers")]
    released = await SampledElement.count().where(SampledElement.released.eq(True))
    before = (
        await Frame.count(),
        await SampledElement.count(),
        released,
        await StratumTarget.count(),
    )
    assert before[2] > 0 and before[3] == 12 + 2  # 12 streets, mobile and landline pools
    report = await build_demo()
    assert any("示范样本已存在" in line for line in report.notes)
    released = await SampledElement.count().where(SampledElement.released.eq(True))
    after = (
        await Frame.count(),
        await SampledElement.count(),
        released,
        await StratumTarget.count(),
    )
    assert after == before
