"""Read-side queries of the sample-design pages and commands (scoped to a user's district)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from survey.cells import safe_cell
from survey.design.regions import STRATIFY_BY, DesignError, load_region, load_wave
from survey.design.service import ALLOCATIONS, METHODS, MODES, released_batches
from survey.design.tables import Frame, Sample, SampledElement, StratumTarget
from survey.waves import WaveRef, visible_wave, waves_for

KIND_NAMES = {"household": "住户名单", "phone": "电话号码名单", "blocks": "号段表"}


async def resolve_wave(text: str) -> int:
    """A wave id from ``12``, ``2026-11`` (one programme only) or ``CODE/2026-11``."""
    from survey.waves import WaveError
    from survey.waves import resolve_wave as resolve

    try:
        return await resolve(text)
    except WaveError as exc:
        raise DesignError(str(exc)) from exc


async def resolve_sample(wave_id: int, sample_id: int | None) -> int:
    """The given sample (checked to belong to the wave), or the wave's only sample."""
    rows = await Sample.select(Sample.id).where(Sample.wave == wave_id).order_by(Sample.id)
    ids = [int(r["id"]) for r in rows]
    if sample_id is not None:
        if sample_id not in ids:
            raise DesignError(f"样本 #{sample_id} 不属于测评期 {wave_id}（或不存在）")
        return sample_id
    if not ids:
        raise DesignError(f"测评期 {wave_id} 还没有样本，请先抽样")
    if len(ids) > 1:
        listed = "、".join(f"#{i}" for i in ids)
        raise DesignError(f"测评期 {wave_id} 有多个样本（{listed}），请用 --sample 指定")
    return ids[0]


async def latest_frame_id(wave_id: int) -> int:
    row = (
        await Frame.select(Frame.id)
        .where(Frame.wave == wave_id)
        .order_by(Frame.id, ascending=False)
        .first()
    )
    if row is None:
        raise DesignError(f"测评期 {wave_id} 还没有抽样框或号段表，请先导入")
    return int(row["id"])


@dataclass(frozen=True, kw_only=True)
class DesignWave(WaveRef):
    """A wave of the design list, with how many frames and samples it has."""

    frames: int
    samples: int


async def design_waves(limit_to: int | None) -> list[DesignWave]:
    """The waves a user may design for (``survey.waves.waves_for``), newest first."""
    return [
        DesignWave(
            **asdict(wave),
            frames=await Frame.count().where(Frame.wave == wave.id),
            samples=await Sample.count().where(Sample.wave == wave.id),
        )
        for wave in await waves_for(limit_to)
    ]


async def may_see_wave(wave_id: int, limit_to: int | None) -> bool:
    """True when the wave exists and the user sees it (``survey.waves.visible_wave``)."""
    return await visible_wave(wave_id, limit_to) is not None


async def wave_of_sample(sample_id: int) -> int | None:
    row = await Sample.select(Sample.wave).where(Sample.id == sample_id).first()
    return None if row is None else int(row["wave"])


@dataclass(frozen=True, slots=True)
class FrameView:
    id: int
    name: str
    kind: str
    kind_name: str
    stratify_name: str
    rows: int
    fingerprint: str
    created_at: str
    created_by: str


@dataclass(frozen=True, slots=True)
class SampleView:
    id: int
    frame_id: int | None
    mode: str
    mode_name: str
    method_name: str
    seed: int
    elements: int
    released: int
    released_batches: int
    batches: int
    frame_fingerprint: str
    package_version: str
    created_at: str
    created_by: str


@dataclass(frozen=True, slots=True)
class TargetView:
    stratum: str
    name: str
    target: int


@dataclass(frozen=True, slots=True)
class WaveDesignView:
    """Context of the wave page: the wave, its frames, samples and stratum targets."""

    id: int
    label: str
    status: str
    region: str
    frames: tuple[FrameView, ...]
    samples: tuple[SampleView, ...]
    targets: tuple[TargetView, ...]

    @property
    def target_total(self) -> int:
        return sum(t.target for t in self.targets)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)[:16]


async def wave_design(wave_id: int) -> WaveDesignView:
    wave = await load_wave(wave_id)
    region = await load_region(wave.region_id)
    frames = tuple(
        FrameView(
            id=int(f["id"]),
            name=f["name"],
            kind=f["kind"],
            kind_name=KIND_NAMES.get(f["kind"], f["kind"]),
            stratify_name=STRATIFY_BY.get(f["stratify_by"], "按区县与号码类型"),
            rows=int(f["row_count"]),
            fingerprint=f["fingerprint"],
            created_at=_when(f["created_at"]),
            created_by=f["created_by"],
        )
        for f in await Frame.select(
            Frame.id,
            Frame.name,
            Frame.kind,
            Frame.stratify_by,
            Frame.row_count,
            Frame.fingerprint,
            Frame.created_at,
            Frame.created_by,
        )
        .where(Frame.wave == wave_id)
        .order_by(Frame.id, ascending=False)
    )
    samples = []
    for s in (
        await Sample.select(
            Sample.id,
            Sample.frame,
            Sample.mode,
            Sample.method,
            Sample.seed,
            Sample.params,
            Sample.frame_fingerprint,
            Sample.package_version,
            Sample.created_at,
            Sample.created_by,
        )
        .where(Sample.wave == wave_id)
        .order_by(Sample.id, ascending=False)
    ):
        params = json.loads(s["params"])
        samples.append(
            SampleView(
                id=int(s["id"]),
                frame_id=s["frame"],
                mode=s["mode"],
                mode_name=MODES.get(s["mode"], s["mode"]),
                method_name=METHODS.get(s["method"], s["method"]),
                seed=int(s["seed"]),
                elements=await SampledElement.count().where(SampledElement.sample == s["id"]),
                released=await SampledElement.count().where(
                    (SampledElement.sample == s["id"]) & SampledElement.released.eq(True)
                ),
                released_batches=await released_batches(int(s["id"])),
                batches=int(params.get("batches", 1)),
                frame_fingerprint=s["frame_fingerprint"],
                package_version=s["package_version"],
                created_at=_when(s["created_at"]),
                created_by=s["created_by"],
            )
        )
    targets = tuple(
        TargetView(t["stratum"], region.name_of(t["stratum"]), int(t["target"]))
        for t in await StratumTarget.select(StratumTarget.stratum, StratumTarget.target)
        .where(StratumTarget.wave == wave_id)
        .order_by(StratumTarget.stratum)
    )
    return WaveDesignView(
        id=wave.id,
        label=wave.label,
        status=wave.status_name,
        region=wave.region_name,
        frames=frames,
        samples=tuple(samples),
        targets=targets,
    )


@dataclass(frozen=True, slots=True)
class SampleStratumView:
    stratum: str
    name: str
    population: int
    drawn: int
    per_batch: tuple[int, ...]
    released: int
    weight: float | None  # design weight of a released element (None: none released / varies)


@dataclass(frozen=True, slots=True)
class SampleDetailView:
    """Context of the sample page: provenance and per-stratum counts by batch."""

    sample: SampleView
    wave_id: int
    wave_label: str
    params: dict[str, Any]
    allocation_name: str
    strata: tuple[SampleStratumView, ...]


async def sample_detail(sample_id: int) -> SampleDetailView | None:
    wave_id = await wave_of_sample(sample_id)
    if wave_id is None:
        return None
    view = await wave_design(wave_id)
    sample = next(s for s in view.samples if s.id == sample_id)
    row = await Sample.select(Sample.params).where(Sample.id == sample_id).first()
    assert row is not None
    params = json.loads(row["params"])
    wave = await load_wave(wave_id)
    region = await load_region(wave.region_id)
    rows = await SampledElement.select(
        SampledElement.stratum,
        SampledElement.batch,
        SampledElement.released,
        SampledElement.design_weight,
    ).where(SampledElement.sample == sample_id)
    per: dict[str, list[int]] = defaultdict(lambda: [0] * sample.batches)
    released: dict[str, int] = defaultdict(int)
    weights: dict[str, set[float]] = defaultdict(set)
    for r in rows:
        per[r["stratum"]][int(r["batch"]) - 1] += 1
        if r["released"]:
            released[r["stratum"]] += 1
            weights[r["stratum"]].add(round(float(r["design_weight"]), 9))
    populations = params.get("populations", {})
    sizes = params.get("sizes", {})
    strata = []
    for label in sorted(sizes):
        counts = per.get(label, [0] * sample.batches)
        w = weights.get(label, set())
        strata.append(
            SampleStratumView(
                stratum=label,
                name=region.name_of(label),
                population=int(populations.get(label, 0)),
                drawn=sum(counts),
                per_batch=tuple(counts),
                released=released.get(label, 0),
                weight=next(iter(w)) if len(w) == 1 else None,
            )
        )
    return SampleDetailView(
        sample=sample,
        wave_id=wave_id,
        wave_label=view.label,
        params=params,
        allocation_name=ALLOCATIONS.get(params.get("allocation", ""), ""),
        strata=tuple(strata),
    )


ELEMENT_COLUMNS = (
    "position",
    "stratum",
    "batch",
    "released",
    "inclusion_prob",
    "design_weight",
    "frame_row",
)


async def sample_elements_csv(sample_id: int) -> str:
    """The sample's elements in draw order, as CSV, without contact data: the frame row (the
    spreadsheet row of the imported frame or block list) identifies each one."""
    import csv
    import io

    rows = (
        await SampledElement.select(
            SampledElement.position,
            SampledElement.stratum,
            SampledElement.batch,
            SampledElement.released,
            SampledElement.inclusion_prob,
            SampledElement.design_weight,
            SampledElement.frame_row.row_number,
        )
        .where(SampledElement.sample == sample_id)
        .order_by(SampledElement.position)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ELEMENT_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r["position"] + 1,
                safe_cell(r["stratum"]),
                r["batch"],
                1 if r["released"] else 0,
                repr(float(r["inclusion_prob"])),
                repr(float(r["design_weight"])),
                r["frame_row.row_number"],
            ]
        )
    return out.getvalue()
