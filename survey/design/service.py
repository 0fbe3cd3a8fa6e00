"""Sample design for a wave: plan (sizes and allocation), draw, release reserve batches, verify.

API (all ``async``; errors are ``DesignError`` / ``DesignRejected`` with Chinese messages):

* ``plan_design(wave_id, spec) -> DesignPlan`` — sizes per stratum from a frame or a block list;
  every problem at once (empty stratum, N_h < n_h, …) as ``DesignRejected.problems``.
* ``save_targets(plan, username) -> int`` — the plan's completes per stratum as ``StratumTarget``.
* ``draw_sample(wave_id, spec, *, seed=None, username="") -> DrawResult`` — plan, select with
  ``numpy.random.default_rng(seed)`` and store the sample, its elements (no batch released yet)
  and the targets, in one transaction.
* ``release_batches(sample_id, batches=None, *, fielding, username="") -> ReleaseResult`` —
  release batches 1…k (default: the next one), recompute design weights from the released
  share, then hand the released elements to the collection modes through ``fielding`` (what
  they provide: ``survey.release.FIELDING`` wires web invitations and CATI cases; the design
  imports neither — call ``survey.release.release_batches``).
* ``verify_sample(sample_id) -> Verification`` — redraw from the stored parameters, seed and
  frame and compare with the stored sample.

Weights. ``SampledElement.inclusion_prob`` is π in the whole drawn sample. When batches 1…k are
released, each released element of stratum h gets ``design_weight = 1 / (π · f_hk)`` with
``f_hk`` the release factor of :class:`sampling.Selection` (the released share m_hk / n_h), so
weights always describe the fielded sample; unreleased elements keep weight 0. Copies of the
weight made by collection (invitation, case, response) are updated in the same transaction, by
the ``Fielding.reweigh`` functions of those areas.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from piccolo.query.functions.aggregate import Count

import sampling
from sampling import SamplingError
from survey import audit
from survey.db import is_postgres, write_transaction
from survey.db.tables import Wave
from survey.design.bulk import bulk_insert
from survey.design.choices import ALLOCATIONS, METHODS, MODES
from survey.design.frames import BLOCK_HEADER, FRAME_HEADER
from survey.design.regions import (
    DesignError,
    Region,
    load_region,
    load_wave,
    require_open,
)
from survey.design.tables import Frame, FrameRow, Sample, SampledElement, StratumTarget
from survey.registry.tree import load_tree
from survey.waves import WaveRef


@dataclass(frozen=True)
class Fielding:
    """What the collection modes do with a release; the design calls it and imports neither.

    hand_off: sample mode → the function making the mode's work items (invitations, cases)
      for a sample's released elements; idempotent, returns how many it made.
    reweigh: functions copying a new design weight to an area's copies (invitations, cases,
      responses) of the given sampled elements; run inside the release's transaction."""

    hand_off: Mapping[str, Callable[[int], Awaitable[int]]]
    reweigh: Sequence[Callable[[list[int], float], Awaitable[None]]]


BIT_GENERATOR = "numpy.random.PCG64 (default_rng)"
MAX_SEED = 2**63 - 1  # stored in a signed 64-bit column
_CHUNK = 500


class DesignRejected(DesignError):
    """A design cannot be drawn; ``problems`` lists every reason (Chinese, one line each)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            f"设计无法执行，共 {len(self.problems)} 个问题：" + "；".join(self.problems)
        )


@dataclass(frozen=True)
class DesignSpec:
    """What the analyst asks for.

    frame_id: the frame (households/phones) or block list (号段表) to sample from.
    mode: ``web`` (SMS invitation to the mobile web survey) or ``phone`` (CATI case).
    method: ``srswor`` or ``systematic`` for a frame; block lists always generate numbers.
    allocation: how ``total`` is shared across strata (see ``ALLOCATIONS``).
    total: cases to issue in all (None: the sum of the per-stratum minimums).
    margin, p, confidence, deff: each stratum (ranked unit) must reach this 95 % margin for a
        proportion near p (margin as a fraction: 0.08 = ±8 points); None = no minimum.
    response_rate: expected completes per issued case, in (0, 1] (RDD: include dead numbers).
    min_per_stratum, max_per_stratum: bounds on issued cases per stratum.
    batch_shares: reserve batches as shares of each stratum's sample, e.g. (0.7, 0.3).
    landline_share: share of landline numbers when landline blocks exist (phone mode).
    exclude_last_waves: block lists: skip numbers drawn in this many earlier waves.
    do_not_call: numbers never to draw (block lists).
    """

    frame_id: int
    mode: str = "phone"
    method: str = "srswor"
    allocation: str = "proportional"
    total: int | None = None
    margin: float | None = None
    p: float = 0.9
    confidence: float = 0.95
    deff: float = 1.0
    response_rate: float = 1.0
    min_per_stratum: int = 0
    max_per_stratum: int | None = None
    batch_shares: tuple[float, ...] = (0.7, 0.3)
    landline_share: float = 0.25
    exclude_last_waves: int = 3
    do_not_call: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """What is wrong with the request itself (before looking at the frame)."""
        out = []
        if self.mode not in MODES:
            out.append(f"调查方式「{self.mode}」无效（可选: web、phone）")
        if self.method not in METHODS:
            out.append(f"抽样方法「{self.method}」无效（可选: {', '.join(METHODS)}）")
        if self.allocation not in ALLOCATIONS:
            out.append(f"分配方法「{self.allocation}」无效（可选: {', '.join(ALLOCATIONS)}）")
        if self.total is not None and self.total < 1:
            out.append(f"总样本量必须是正整数，收到 {self.total}")
        if self.margin is not None and not 0 < self.margin < 1:
            out.append(
                f"目标误差必须在 0 与 1 之间（例如 0.08 表示 ±8 个百分点），收到 {self.margin}"
            )
        if not 0 < self.p < 1:
            out.append(f"预期比例 p 必须在 0 与 1 之间，收到 {self.p}")
        if not 0 < self.confidence < 1:
            out.append(f"置信水平必须在 0 与 1 之间，收到 {self.confidence}")
        if not self.deff >= 1:
            out.append(f"设计效应必须不小于 1，收到 {self.deff}")
        if not 0 < self.response_rate <= 1:
            out.append(f"预期应答率必须在 0 与 1 之间（含 1），收到 {self.response_rate}")
        if self.min_per_stratum < 0:
            out.append("每层最低样本量不能为负数")
        if self.max_per_stratum is not None and self.max_per_stratum < max(self.min_per_stratum, 1):
            out.append("每层最高样本量必须为正数且不小于最低样本量")
        if not self.batch_shares or any(not s > 0 for s in self.batch_shares):
            out.append("批次比例必须是正数，例如 0.7,0.3")
        if not 0 <= self.landline_share < 1:
            out.append(f"固话比例必须在 0 与 1 之间，收到 {self.landline_share}")
        if self.exclude_last_waves < 0:
            out.append("排除最近测评期数不能为负数")
        if self.total is None and self.margin is None and self.min_per_stratum == 0:
            out.append("请给出总样本量，或每层目标误差，或每层最低样本量")
        return out

    def as_params(self) -> dict[str, Any]:
        """The spec as JSON-ready parameters (numbers to avoid normalised and sorted)."""
        params = asdict(self)
        params["batch_shares"] = list(self.batch_shares)
        params["do_not_call"] = sorted({sampling.normalize_number(n) for n in self.do_not_call})
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DesignSpec:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in params.items() if k in known}
        values["batch_shares"] = tuple(values.get("batch_shares", (1.0,)))
        values["do_not_call"] = tuple(values.get("do_not_call", ()))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class StratumPlan:
    """One stratum of a plan: N_h, the lower bound used, issued n_h and target completes."""

    stratum: str
    name: str
    population: int
    minimum: int
    size: int
    target: int
    margin: float | None  # expected margin (fraction) at the target completes


@dataclass(frozen=True)
class DesignPlan:
    """The sizes a design gives, per stratum, before anything is drawn."""

    wave: WaveRef
    spec: DesignSpec
    frame_kind: str
    stratify_by: str
    frame_fingerprint: str
    strata: tuple[StratumPlan, ...]
    exclusions: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def total(self) -> int:
        return sum(s.size for s in self.strata)

    @property
    def target_total(self) -> int:
        return sum(s.target for s in self.strata)

    def sizes(self) -> dict[str, int]:
        return {s.stratum: s.size for s in self.strata}


@dataclass(frozen=True, slots=True)
class DrawResult:
    sample_id: int
    seed: int
    elements: int
    batches: int
    strata: int

    def describe(self) -> str:
        return (
            f"样本 #{self.sample_id} 已抽取：{self.elements} 个单元，{self.strata} 层，"
            f"{self.batches} 批（尚未释放），随机种子 {self.seed}"
        )


def _batches(last: int) -> str:
    """「第 1 批」 or 「第 1–k 批」: batches 1…``last`` in a message."""
    return "第 1 批" if last == 1 else f"第 1–{last} 批"


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    sample_id: int
    released_batches: int
    batches: int
    newly_released: int
    released_total: int
    handed_off: int | None
    note: str

    def describe(self) -> str:
        text = (
            f"样本 #{self.sample_id} 已释放{_batches(self.released_batches)}（共 {self.batches} 批）："
            f"本次新增 {self.newly_released} 个，已释放 {self.released_total} 个"
        )
        if self.handed_off is not None:
            text += f"；新建邀请/电话任务 {self.handed_off} 个"
        return text + (f"；{self.note}" if self.note else "")


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of redrawing a sample. ``fingerprint_matches`` and ``exclusions_match`` are
    ``None`` when they can no longer be checked because phone numbers were deleted at the end of
    their retention period (``purged_numbers`` of this sample's elements, frame rows or the
    earlier samples whose numbers it excluded); the elements are then compared without their
    numbers (stratum, frame row or number block, batch, inclusion probability)."""

    sample_id: int
    identical: bool
    fingerprint_matches: bool | None
    exclusions_match: bool | None
    elements: int
    mismatches: int
    purged_numbers: int = 0

    @property
    def consistent(self) -> bool:
        """Nothing found that differs (fully identical, or identical in all that can be checked)."""
        return (
            self.mismatches == 0
            and self.fingerprint_matches is not False
            and self.exclusions_match is not False
        )

    def describe(self) -> str:
        if self.identical:
            return f"样本 #{self.sample_id} 复现一致：按保存的参数、种子和抽样框重抽得到完全相同的 {self.elements} 个单元"
        unknown = []
        if self.fingerprint_matches is None:
            unknown.append("抽样框指纹")
        if self.exclusions_match is None:
            unknown.append("排除号码名单")
        purged = (
            f"电话号码已按保留期删除（{self.purged_numbers} 个），"
            + "、".join([*unknown, "号码本身"])
            + "已无法复核"
        )
        if self.consistent:
            return (
                f"样本 #{self.sample_id} 部分复核一致：重抽得到的 {self.elements} 个单元的层、"
                f"名单行（号段）、批次和入样概率与保存的完全相同；{purged}"
            )
        reasons = []
        if self.fingerprint_matches is False:
            reasons.append("抽样框内容已改变（指纹不符）")
        if self.exclusions_match is False:
            reasons.append("排除号码名单已改变")
        if self.mismatches:
            reasons.append(f"{self.mismatches} 个单元不同")
        text = f"样本 #{self.sample_id} 无法复现：" + "，".join(reasons)
        return text + (f"（{purged}）" if self.purged_numbers else "")


# --- planning -------------------------------------------------------------------------------


async def _load_frame(frame_id: int, wave_id: int) -> dict[str, Any]:
    frame = (
        await Frame.select(
            Frame.id, Frame.wave, Frame.kind, Frame.stratify_by, Frame.fingerprint, Frame.row_count
        )
        .where(Frame.id == frame_id)
        .first()
    )
    if frame is None or int(frame["wave"]) != wave_id:
        raise DesignError(f"抽样框 #{frame_id} 不属于测评期 {wave_id}（或不存在）")
    return frame


async def _frame_counts(frame_id: int) -> dict[str, int]:
    rows = (
        await FrameRow.select(FrameRow.stratum, Count(FrameRow.id, alias="n"))
        .where(FrameRow.frame == frame_id)
        .group_by(FrameRow.stratum)
    )
    return {r["stratum"]: int(r["n"]) for r in rows}


def _margin(completes: int, spec: DesignSpec, population: int | None) -> float | None:
    if completes < 1:
        return None
    if population is not None and completes > population:
        population = None
    return sampling.margin_of_error(
        completes, p=spec.p, confidence=spec.confidence, deff=spec.deff, population=population
    )


def _target(size: int, spec: DesignSpec) -> int:
    return int(size * spec.response_rate + 0.5)


async def plan_design(wave_id: int, spec: DesignSpec) -> DesignPlan:
    """Sizes per stratum for ``spec`` on its frame; ``DesignRejected`` lists every problem."""
    wave = await load_wave(wave_id)
    problems = spec.problems()
    if problems:
        raise DesignRejected(problems)
    frame = await _load_frame(spec.frame_id, wave_id)
    region = await load_region(wave.region_id)
    if frame["kind"] == "blocks":
        return await _plan_blocks(wave, spec, frame, region, None)
    return await _plan_frame(wave, spec, frame, region)


async def _plan_frame(
    wave: WaveRef, spec: DesignSpec, frame: dict[str, Any], region: Region
) -> DesignPlan:
    if spec.method not in ("srswor", "systematic"):
        raise DesignRejected([f"抽样框只能用 srswor 或 systematic 方法，收到 {spec.method}"])
    counts = await _frame_counts(int(frame["id"]))
    expected = region.expected_strata(frame["stratify_by"]) or {s: s for s in counts}
    problems = [
        f"层「{code} {name}」在抽样框中没有记录（空层）"
        for code, name in expected.items()
        if counts.get(code, 0) == 0
    ]
    if spec.mode == "web":
        landlines = (
            await FrameRow.select(FrameRow.row_number)
            .where((FrameRow.frame == frame["id"]) & FrameRow.phone.not_like("1%"))
            .order_by(FrameRow.row_number)
            .limit(5)
        )
        problems.extend(
            f"第{r['row_number']}行是固话号码：手机网页调查需要手机号码（短信邀请）"
            for r in landlines
        )
    labels = sorted(counts)
    minimum = dict.fromkeys(labels, spec.min_per_stratum)
    if spec.margin is not None:
        unit_mins = sampling.unit_minimum_sizes(
            [counts[s] for s in labels],
            spec.margin,
            p=spec.p,
            confidence=spec.confidence,
            deff=spec.deff,
            response_rate=spec.response_rate,
            what="issued",
        )
        minimum = {
            s: max(minimum[s], int(m)) for s, m in zip(labels, unit_mins.tolist(), strict=True)
        }
    for s in labels:
        if minimum[s] > counts[s]:
            problems.append(
                f"层「{s} {region.name_of(s)}」只有 {counts[s]} 条记录，少于要求的样本量 {minimum[s]}"
            )
    upper = {s: min(counts[s], spec.max_per_stratum or counts[s]) for s in labels}
    total = spec.total if spec.total is not None else sum(minimum.values())
    if total < sum(minimum.values()):
        problems.append(f"总样本量 {total} 小于各层最低样本量之和 {sum(minimum.values())}")
    if total > sum(upper.values()):
        problems.append(f"总样本量 {total} 大于抽样框（及每层上限）能提供的 {sum(upper.values())}")
    if problems:
        raise DesignRejected(problems)
    try:
        allocation = sampling.allocate(
            total,
            counts,
            method=spec.allocation,  # type: ignore[arg-type]
            minimums=minimum,
            maximums=spec.max_per_stratum,
        )
    except SamplingError as exc:
        raise DesignRejected([str(exc)]) from exc
    strata = tuple(
        StratumPlan(
            stratum=s,
            name=region.name_of(s),
            population=counts[s],
            minimum=minimum[s],
            size=allocation[s],
            target=_target(allocation[s], spec),
            margin=_margin(_target(allocation[s], spec), spec, counts[s]),
        )
        for s in labels
    )
    return DesignPlan(wave, spec, frame["kind"], frame["stratify_by"], frame["fingerprint"], strata)


async def _block_rows(frame_id: int) -> list[dict[str, Any]]:
    return list(
        await FrameRow.select(
            FrameRow.id, FrameRow.stratum, FrameRow.phone, FrameRow.extra, FrameRow.unit
        )
        .where(FrameRow.frame == frame_id)
        .order_by(FrameRow.row_number)
    )


async def _exclusions(wave: WaveRef, spec: DesignSpec, before_sample: int | None) -> frozenset[str]:
    """Numbers not to draw: do-not-call, numbers of the last N earlier waves of the programme,
    and numbers already drawn in this wave (by samples older than ``before_sample``)."""
    return (await _exclusions_checked(wave, spec, before_sample))[0]


async def _exclusions_checked(
    wave: WaveRef, spec: DesignSpec, before_sample: int | None
) -> tuple[frozenset[str], int]:
    """``_exclusions`` and how many of the numbers it should hold were deleted (retention)."""
    earlier = []
    if spec.exclude_last_waves > 0:
        earlier = [
            int(r["id"])
            for r in await Wave.select(Wave.id)
            .where((Wave.programme == wave.programme_id) & (Wave.month < wave.month))
            .order_by(Wave.month, ascending=False)
            .limit(spec.exclude_last_waves)
        ]
    query = Sample.select(Sample.id).where(Sample.wave.is_in([wave.id, *earlier]))
    if before_sample is not None:
        query = query.where((Sample.wave != wave.id) | (Sample.id < before_sample))
    sample_ids = [int(r["id"]) for r in await query]
    numbers = {sampling.normalize_number(n) for n in spec.do_not_call}
    deleted = 0
    for start in range(0, len(sample_ids), _CHUNK):
        rows = await SampledElement.select(SampledElement.phone).where(
            SampledElement.sample.is_in(sample_ids[start : start + _CHUNK])
        )
        for row in rows:
            if row["phone"]:
                numbers.add(row["phone"])
            else:
                deleted += 1
    return frozenset(numbers), deleted


def _exclusion_digest(numbers: frozenset[str]) -> str:
    return hashlib.sha256("\n".join(sorted(numbers)).encode()).hexdigest()


def _pools(rows: list[dict[str, Any]], mode: str) -> dict[str, list[dict[str, Any]]]:
    """Block rows grouped by pool label ``district-kind`` (web mode: mobile blocks only)."""
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if mode == "web" and r["stratum"].endswith("-landline"):
            continue
        pools[r["stratum"]].append(r)
    return dict(sorted(pools.items()))


def _eligible(blocks: list[dict[str, Any]], exclusions: frozenset[str]) -> int:
    prefixes = {sampling.parse_block(r["phone"]).dial_prefix for r in blocks}
    excluded = sum(1 for n in exclusions if n[:-4] in prefixes and n[-4:].isdigit())
    return len(prefixes) * sampling.BLOCK_SIZE - excluded


async def _plan_blocks(
    wave: WaveRef,
    spec: DesignSpec,
    frame: dict[str, Any],
    region: Region,
    before_sample: int | None,
) -> DesignPlan:
    if spec.method != "numbers":
        spec = DesignSpec(**{**asdict(spec), "method": "numbers"})
    rows = await _block_rows(int(frame["id"]))
    pools = _pools(rows, spec.mode)
    districts = sorted(region.districts())
    problems = [
        f"区县「{d} {region.name_of(d)}」没有手机号段（空层）"
        for d in districts
        if f"{d}-mobile" not in pools
    ]
    exclusions = await _exclusions(wave, spec, before_sample)
    present = [d for d in districts if f"{d}-mobile" in pools]
    tree = await load_tree(region.id, population=True)
    adults = tree.district_adults() if tree is not None else {}
    per_district: dict[str, int] = {}
    if spec.total is not None and present:
        if len(present) == 1:
            per_district = {present[0]: spec.total}
        else:
            weights = {d: max(adults.get(d, 0), 1) for d in present}
            per_district = sampling.allocate(spec.total, weights).as_dict()
    elif spec.margin is not None:
        for d in present:
            size = sampling.sample_size_proportion(
                spec.margin,
                p=spec.p,
                confidence=spec.confidence,
                deff=spec.deff,
                population=adults.get(d) or None,
                response_rate=spec.response_rate,
            )
            per_district[d] = size.issued
    else:
        per_district = dict.fromkeys(present, spec.min_per_stratum)
    strata: list[StratumPlan] = []
    for d in present:
        n = max(per_district[d], spec.min_per_stratum)
        labels = [f"{d}-mobile"] + ([f"{d}-landline"] if f"{d}-landline" in pools else [])
        shares = [1 - spec.landline_share, spec.landline_share][: len(labels)]
        sizes = sampling.round_largest_remainder(np.array(shares) * n / sum(shares), n).tolist()
        for label, size in zip(labels, sizes, strict=True):
            eligible = _eligible(pools[label], exclusions)
            if size > eligible:
                problems.append(
                    f"号码池「{region.name_of(label)}」只有 {eligible} 个可用号码，少于要求的 {size} 个"
                )
            strata.append(
                StratumPlan(
                    stratum=label,
                    name=region.name_of(label),
                    population=eligible,
                    minimum=spec.min_per_stratum,
                    size=int(size),
                    target=_target(int(size), spec),
                    margin=_margin(_target(int(size), spec), spec, None),
                )
            )
    if problems:
        raise DesignRejected(problems)
    return DesignPlan(
        wave, spec, "blocks", "", frame["fingerprint"], tuple(strata), frozenset(exclusions)
    )


async def save_targets(plan: DesignPlan, username: str = "") -> int:
    """Store the plan's completes per stratum as the wave's ``StratumTarget`` rows (upsert)."""
    async with write_transaction():
        count = await _save_targets(plan)
        await audit.record(
            username,
            "design-targets",
            f"wave {plan.wave.id}: {count} strata, {plan.target_total} completes",
        )
    return count


async def _save_targets(plan: DesignPlan) -> int:
    existing = {
        r["stratum"]: int(r["id"])
        for r in await StratumTarget.select(StratumTarget.id, StratumTarget.stratum).where(
            StratumTarget.wave == plan.wave.id
        )
    }
    for s in plan.strata:
        if s.stratum in existing:
            await StratumTarget.update({StratumTarget.target: s.target}).where(
                StratumTarget.id == existing[s.stratum]
            )
        else:
            await StratumTarget.insert(
                StratumTarget(wave=plan.wave.id, stratum=s.stratum, target=s.target)
            )
    return len(plan.strata)


# --- selection ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Element:
    frame_row: int
    stratum: str
    unit: int | None
    phone: str
    inclusion_prob: float
    batch: int


def _release_factors(selection: sampling.Selection) -> dict[str, list[float]]:
    return {
        str(label): [float(f) for f in selection.release_factors[h]]
        for h, label in enumerate(selection.stratum_labels)
    }


async def _select(
    plan_sizes: dict[str, int],
    spec: DesignSpec,
    frame_kind: str,
    frame_id: int,
    seed: int,
    exclusions: frozenset[str],
) -> tuple[list[_Element], dict[str, list[float]]]:
    """Run the selection (the only place randomness is drawn): elements in draw order."""
    rng = np.random.default_rng(seed)
    if frame_kind == "blocks":
        pools = _pools(await _block_rows(frame_id), spec.mode)
        rows = [r for label in sorted(plan_sizes) for r in pools[label]]
        blocks = [sampling.parse_block(r["phone"], carrier="", district=r["stratum"]) for r in rows]
        generated = sampling.generate_mobile_numbers(
            blocks, plan_sizes, rng, exclude=exclusions, batch_shares=spec.batch_shares
        )
        sel = generated.selection
        labels = sel.stratum_of
        elements = [
            _Element(
                frame_row=int(rows[b]["id"]),
                stratum=str(labels[i]),
                unit=rows[b]["unit"],
                phone=str(generated.numbers[i]),
                inclusion_prob=float(sel.inclusion_probabilities[i]),
                batch=int(sel.batches[i]),
            )
            for i, b in enumerate(generated.block_index.tolist())
        ]
        return elements, _release_factors(sel)
    frame_rows = list(
        await FrameRow.select(
            FrameRow.id, FrameRow.stratum, FrameRow.unit, FrameRow.phone, FrameRow.unit.code
        )
        .where(FrameRow.frame == frame_id)
        .order_by(FrameRow.row_number)
    )
    codes = np.array([r["stratum"] for r in frame_rows], dtype=str)
    if spec.method == "systematic":
        sort_by = np.array([r["unit.code"] or "" for r in frame_rows], dtype=str)
        sel = sampling.select_systematic(
            codes, plan_sizes, rng, sort_by=sort_by, batch_shares=spec.batch_shares
        )
    else:
        sel = sampling.select_srswor(codes, plan_sizes, rng, batch_shares=spec.batch_shares)
    labels = sel.stratum_of
    elements = [
        _Element(
            frame_row=int(frame_rows[i]["id"]),
            stratum=str(labels[k]),
            unit=frame_rows[i]["unit"],
            phone=frame_rows[i]["phone"],
            inclusion_prob=float(sel.inclusion_probabilities[k]),
            batch=int(sel.batches[k]),
        )
        for k, i in enumerate(sel.indices.tolist())
    ]
    return elements, _release_factors(sel)


async def draw_sample(
    wave_id: int, spec: DesignSpec, *, seed: int | None = None, username: str = ""
) -> DrawResult:
    """Plan and draw a sample of a wave; store it with everything needed to reproduce it.

    ``seed`` None draws a fresh one (recorded). Nothing is released: see ``release_batches``."""
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    if not 0 <= seed <= MAX_SEED:
        raise DesignError(f"随机种子必须在 0 与 {MAX_SEED} 之间，收到 {seed}")
    wave = await load_wave(wave_id)
    require_open(wave)
    plan = await plan_design(wave_id, spec)
    sizes = plan.sizes()
    try:
        elements, factors = await _select(
            sizes, plan.spec, plan.frame_kind, spec.frame_id, seed, plan.exclusions
        )
    except SamplingError as exc:
        raise DesignRejected([str(exc)]) from exc
    params = {
        **plan.spec.as_params(),
        "frame_kind": plan.frame_kind,
        "stratify_by": plan.stratify_by,
        "sizes": sizes,
        "targets": {s.stratum: s.target for s in plan.strata},
        "populations": {s.stratum: s.population for s in plan.strata},
        "batches": len(plan.spec.batch_shares),
        "release_factors": factors,
        "bit_generator": BIT_GENERATOR,
        "numpy_version": np.__version__,
        "exclusions": {"count": len(plan.exclusions), "sha256": _exclusion_digest(plan.exclusions)},
    }
    async with write_transaction():
        result = await Sample.insert(
            Sample(
                wave=wave_id,
                frame=spec.frame_id,
                method=plan.spec.method,
                mode=plan.spec.mode,
                params=json.dumps(params, ensure_ascii=False, sort_keys=True),
                seed=seed,
                frame_fingerprint=plan.frame_fingerprint,
                package_version=f"sampling {sampling.ALGORITHM_VERSION}",
                created_by=username,
            )
        ).returning(Sample.id)
        sample_id = int(result[0]["id"])
        await bulk_insert(
            SampledElement,
            ("sample", "position", "frame_row", "stratum", "unit", "phone", "inclusion_prob",
             "design_weight", "batch", "released"),
            [
                (sample_id, position, e.frame_row, e.stratum, e.unit, e.phone, e.inclusion_prob,
                 0.0, e.batch, False)
                for position, e in enumerate(elements)
            ],
        )  # fmt: skip
        await _save_targets(plan)
        await audit.record(
            username,
            "draw-sample",
            f"wave {wave_id} sample {sample_id}: {plan.spec.method}/{plan.spec.mode}, "
            f"{len(elements)} elements, seed {seed}, frame {plan.frame_fingerprint}",
        )
    return DrawResult(sample_id, seed, len(elements), len(plan.spec.batch_shares), len(sizes))


# --- release --------------------------------------------------------------------------------


async def _sample_row(sample_id: int, lock: bool = False) -> dict[str, Any]:
    query = Sample.select(
        Sample.id, Sample.wave, Sample.mode, Sample.params, Sample.seed, Sample.frame,
        Sample.frame_fingerprint, Sample.method,
    ).where(Sample.id == sample_id)  # fmt: skip
    if lock and is_postgres():
        query = query.lock_rows()  # two releases of one sample queue here
    row = await query.first()
    if row is None:
        raise DesignError(f"样本 #{sample_id} 不存在")
    return row


async def released_batches(sample_id: int) -> int:
    """How many batches of the sample are released (0 = none)."""
    row = (
        await SampledElement.select(SampledElement.batch)
        .where((SampledElement.sample == sample_id) & (SampledElement.released.eq(True)))
        .order_by(SampledElement.batch, ascending=False)
        .first()
    )
    return int(row["batch"]) if row else 0


async def release_batches(
    sample_id: int, batches: int | None = None, *, fielding: Fielding, username: str = ""
) -> ReleaseResult:
    """Release batches 1…``batches`` (default: one more than now) and hand them to collection
    through ``fielding``.

    Releasing what is already released changes nothing but retries the hand-off (both hand-off
    functions are idempotent)."""
    async with write_transaction():
        sample = await _sample_row(sample_id, lock=True)
        wave = await load_wave(int(sample["wave"]))
        require_open(wave)
        params = json.loads(sample["params"])
        total_batches = int(params["batches"])
        current = await released_batches(sample_id)
        k = current + 1 if batches is None else batches
        if current >= total_batches and batches is None:
            raise DesignError(f"样本 #{sample_id} 的 {total_batches} 批已全部释放")
        if not 1 <= k <= total_batches:
            raise DesignError(f"样本 #{sample_id} 只有{_batches(total_batches)}，不能释放第 {k} 批")
        if k < current:
            raise DesignError(f"{_batches(current)}已释放，不能撤回到第 {k} 批")
        newly = 0
        if k > current:
            newly = await _apply_release(sample_id, k, params["release_factors"], fielding)
            await audit.record(
                username,
                "release-batch",
                f"sample {sample_id}: batches 1-{k} released ({newly} new elements)",
            )
        released_total = await SampledElement.count().where(
            (SampledElement.sample == sample_id) & (SampledElement.released.eq(True))
        )
    handed, note = await _hand_off(sample_id, sample["mode"], fielding)
    return ReleaseResult(sample_id, k, total_batches, newly, released_total, handed, note)


async def _apply_release(
    sample_id: int, k: int, factors: dict[str, list[float]], fielding: Fielding
) -> int:
    rows = await SampledElement.select(
        SampledElement.id,
        SampledElement.stratum,
        SampledElement.inclusion_prob,
        SampledElement.released,
    ).where((SampledElement.sample == sample_id) & (SampledElement.batch <= k))
    groups: dict[float, list[int]] = defaultdict(list)
    newly = 0
    for r in rows:
        pi = float(r["inclusion_prob"]) * factors[r["stratum"]][k - 1]
        groups[1.0 / pi].append(int(r["id"]))
        newly += not r["released"]
    for weight, ids in groups.items():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            await SampledElement.update(
                {SampledElement.design_weight: weight, SampledElement.released: True}
            ).where(SampledElement.id.is_in(chunk))
            for reweigh in fielding.reweigh:
                await reweigh(chunk, weight)
    return newly


async def _hand_off(sample_id: int, mode: str, fielding: Fielding) -> tuple[int | None, str]:
    """Invitations (web) or CATI cases (phone) for the released elements."""
    function = fielding.hand_off.get(mode)
    if function is None:
        return None, f"调查方式「{mode}」未知，未交接"
    try:
        return int(await function(sample_id)), ""
    # The release is committed; any failure of the other area must say how to retry.
    except Exception as exc:
        raise DesignError(
            f"批次已释放，但生成邀请/电话任务失败：{exc}（可再次执行释放以重试）"
        ) from exc


# --- verification ---------------------------------------------------------------------------


async def frame_fingerprint_now(frame_id: int, kind: str) -> str:
    """The fingerprint of the frame as stored now (same encoding as at import)."""
    rows = (
        await FrameRow.select(
            FrameRow.unit.code,
            FrameRow.stratum,
            FrameRow.household_id,
            FrameRow.phone,
            FrameRow.extra,
        )
        .where(FrameRow.frame == frame_id)
        .order_by(FrameRow.row_number)
    )
    if kind == "blocks":
        canonical = [[r["phone"], json.loads(r["extra"])["carrier"], r["unit.code"]] for r in rows]
        return sampling.frame_fingerprint(BLOCK_HEADER, canonical)
    canonical = [[r["unit.code"], r["stratum"], r["household_id"], r["phone"]] for r in rows]
    return sampling.frame_fingerprint(FRAME_HEADER, canonical)


async def verify_sample(sample_id: int) -> Verification:
    """Redraw a stored sample from its parameters, seed and frame, and compare element by element.
    Numbers deleted at the end of their retention period (``survey purge-contacts``) cannot be
    compared: the check then covers everything else and says what it could not check."""
    sample = await _sample_row(sample_id)
    params = json.loads(sample["params"])
    spec = DesignSpec.from_params(params)
    kind = params["frame_kind"]
    frame_id = int(sample["frame"])
    purged_rows = 0
    if kind != "blocks":  # a number block list holds no resident's number and is never purged
        purged_rows = await FrameRow.count().where(
            (FrameRow.frame == frame_id) & (FrameRow.phone == "")
        )
    fingerprint_ok: bool | None = None
    if not purged_rows:
        fingerprint_ok = await frame_fingerprint_now(frame_id, kind) == sample["frame_fingerprint"]
    exclusions: frozenset[str] = frozenset()
    purged_excluded = 0
    if kind == "blocks":
        wave = await load_wave(int(sample["wave"]))
        exclusions, purged_excluded = await _exclusions_checked(wave, spec, sample_id)
    exclusions_ok: bool | None = None
    if not purged_excluded:
        exclusions_ok = _exclusion_digest(exclusions) == params["exclusions"]["sha256"]
    stored = [
        (r["frame_row"], r["stratum"], r["phone"], r["batch"], r["inclusion_prob"])
        for r in await SampledElement.select(
            SampledElement.frame_row,
            SampledElement.stratum,
            SampledElement.phone,
            SampledElement.batch,
            SampledElement.inclusion_prob,
        )
        .where(SampledElement.sample == sample_id)
        .order_by(SampledElement.position)
    ]
    purged_elements = sum(1 for element in stored if element[2] == "")
    try:
        elements, _ = await _select(
            params["sizes"], spec, kind, frame_id, int(sample["seed"]), exclusions
        )
        redrawn = [(e.frame_row, e.stratum, e.phone, e.batch, e.inclusion_prob) for e in elements]
    except SamplingError:
        redrawn = []
    if purged_elements:  # compare without the numbers
        stored = [(a, b, "", c, d) for a, b, _, c, d in stored]
        redrawn = [(a, b, "", c, d) for a, b, _, c, d in redrawn]
    mismatches = sum(a != b for a, b in zip(stored, redrawn, strict=False)) + abs(
        len(stored) - len(redrawn)
    )
    purged = purged_rows + purged_excluded + purged_elements
    identical = bool(fingerprint_ok and exclusions_ok and mismatches == 0 and not purged)
    return Verification(
        sample_id, identical, fingerprint_ok, exclusions_ok, len(stored), mismatches, purged
    )
