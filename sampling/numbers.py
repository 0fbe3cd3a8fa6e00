"""Random telephone numbers inside number blocks (号段), without duplicates, with exclusions.

Blocks. A mobile block is a 7-digit prefix (``1380013``: 1, then 3–9, then 5 digits) whose
10,000 numbers are ``13800130000`` … ``13800139999``. A landline block is written
``AREA-LOCAL``: the area code (``010``, ``02x`` or a 4-digit ``0xxx``) and the first digits of
the local number (first digit 2–9), leaving 4 free digits: ``0571-8765`` holds the 8-digit local
numbers 8765 0000 … 8765 9999 (dialled ``057187650000`` …), and ``0912-876`` the 7-digit local
numbers 876 0000 … 876 9999. Every block therefore holds exactly 10,000 numbers.

Draw. The numbers of a pool (all blocks of one kind, or of one district) are numbered
``block · 10,000 + last four digits``, where ``block`` is the position in the block list given.
A pool with M numbers, E of them excluded, yields a simple random sample without replacement of
n of its M − E eligible numbers, in random order: every eligible number has π = n / (M − E).
When n ≤ (M − E)/4 uniform ids are drawn and duplicates and exclusions skipped (sequential
sampling), otherwise every eligible id gets a random key and the n smallest are taken; both
consume only the raw stream of ``rng`` (see ``sampling._random``). Reserve batches are
consecutive slices of that random order (see ``sampling.selection``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from sampling._random import bounded_integers, raw_keys
from sampling.allocation import round_largest_remainder
from sampling.errors import SamplingError
from sampling.selection import (
    IntArray,
    Selection,
    finish_selection,
    normalised_shares,
    smallest_keys,
)

BLOCK_SIZE = 10_000

_MOBILE_PREFIX = re.compile(r"1[3-9]\d{5}")
_LANDLINE_BLOCK = re.compile(r"(0\d{2,3})-([2-9]\d{2,3})")
_AREA_CODE = re.compile(r"010|02\d|0[3-9]\d{2}")


@dataclass(frozen=True)
class MobileBlock:
    """A mobile number block (号段): ``prefix`` is 7 digits; ``carrier`` e.g. 中国移动."""

    prefix: str
    carrier: str = ""
    district: str = ""

    @property
    def kind(self) -> Literal["mobile"]:
        return "mobile"

    @property
    def dial_prefix(self) -> str:
        """The digits every number of the block starts with (all but the last four)."""
        return self.prefix

    def __str__(self) -> str:
        return self.prefix


@dataclass(frozen=True)
class LandlineBlock:
    """A landline block: ``area_code`` (``0571``) and ``local_prefix`` (``8765``, 3 or 4 digits)."""

    area_code: str
    local_prefix: str
    carrier: str = ""
    district: str = ""

    @property
    def kind(self) -> Literal["landline"]:
        return "landline"

    @property
    def dial_prefix(self) -> str:
        """The digits every number of the block starts with (all but the last four)."""
        return self.area_code + self.local_prefix

    def __str__(self) -> str:
        return f"{self.area_code}-{self.local_prefix}"


Block = MobileBlock | LandlineBlock


def block_problem(text: str) -> str | None:
    """Why ``text`` is not a valid block (message in 简体中文), or None when it is valid."""
    t = text.strip()
    if _MOBILE_PREFIX.fullmatch(t):
        return None
    m = _LANDLINE_BLOCK.fullmatch(t)
    if m:
        if not _AREA_CODE.fullmatch(m.group(1)):
            return f"区号「{m.group(1)}」无效（应为 010、02x 或 0 开头的 4 位区号）"
        return None
    if t.isdigit() and t.startswith("1"):
        return f"手机号段「{t}」应为 7 位数字，以 13–19 开头（例如 1380013）"
    return (
        f"号段「{t}」格式错误：手机号段为 7 位数字（例如 1380013），"
        "固话号段为 区号-本地号码前缀（例如 0571-8765）"
    )


def parse_block(text: str, *, carrier: str = "", district: str = "") -> Block:
    """A block from its text (``1380013`` or ``0571-8765``); :class:`SamplingError` if malformed."""
    problem = block_problem(text)
    if problem is not None:
        raise SamplingError(problem)
    t = text.strip()
    if "-" in t:
        area, local = t.split("-")
        return LandlineBlock(area_code=area, local_prefix=local, carrier=carrier, district=district)
    return MobileBlock(prefix=t, carrier=carrier, district=district)


def normalize_number(text: str) -> str:
    """Digits only, without separators or the +86 / 0086 country prefix (``138 0013 8000``)."""
    digits = re.sub(r"[\s\-()]", "", text)
    for country in ("+86", "0086"):
        if digits.startswith(country):
            return digits[len(country) :]
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    return digits


def number_problem(text: str) -> str | None:
    """Why ``text`` is not a Chinese mobile or landline number (简体中文), or None when it is."""
    digits = normalize_number(text)
    if not digits.isdigit():
        return f"号码「{text}」含有非数字字符"
    if digits.startswith("1"):
        if len(digits) == 11 and _MOBILE_PREFIX.fullmatch(digits[:7]):
            return None
        return f"手机号码「{text}」应为 11 位数字，以 13–19 开头"
    if digits.startswith("0"):
        for area_len in (3, 4):
            area, local = digits[:area_len], digits[area_len:]
            if _AREA_CODE.fullmatch(area) and len(local) in (7, 8) and local[0] in "23456789":
                return None
        return f"固话号码「{text}」应为区号加 7–8 位本地号码"
    return f"号码「{text}」既不是手机号码也不是带区号的固话号码"


def build_exclusions(
    do_not_call: Iterable[str] = (),
    used_by_wave: Sequence[Iterable[str]] = (),
    last_waves: int = 0,
) -> frozenset[str]:
    """The numbers never to draw: the do-not-call list and the numbers used in the last waves.

    ``used_by_wave`` lists the numbers used per wave, most recent wave first; the first
    ``last_waves`` of them are excluded. Numbers are normalised with :func:`normalize_number`.
    """
    if last_waves < 0:
        raise SamplingError("last_waves 不能为负数")
    out = {normalize_number(n) for n in do_not_call}
    for wave in used_by_wave[:last_waves]:
        out.update(normalize_number(n) for n in wave)
    return frozenset(out)


@dataclass(frozen=True, eq=False)
class GeneratedNumbers:
    """Numbers drawn from blocks, in draw order.

    numbers: the dialled digits (``'13800138000'``, ``'057187650123'``), a numpy str array.
    block_index: position of each number's block in ``blocks``.
    selection: the draw as a :class:`~sampling.selection.Selection` whose strata are the pools
        (``'mobile'``/``'landline'`` or districts), ``indices`` the number ids
        (block · 10,000 + last four digits), with π, design weights and batches.
    """

    numbers: npt.NDArray[np.str_]
    block_index: IntArray
    blocks: tuple[Block, ...]
    selection: Selection

    def __len__(self) -> int:
        return int(self.numbers.size)

    @property
    def kinds(self) -> list[str]:
        """``'mobile'`` or ``'landline'`` for each number."""
        return [self.blocks[b].kind for b in self.block_index.tolist()]

    def released(self, batches: int) -> GeneratedNumbers:
        """The numbers of batches 1…``batches`` with recomputed inclusion probabilities."""
        keep = self.selection.batches <= batches
        return GeneratedNumbers(
            numbers=_ro(self.numbers[keep]),
            block_index=_ro(self.block_index[keep]),
            blocks=self.blocks,
            selection=self.selection.released(batches),
        )


_A = TypeVar("_A", bound=np.ndarray)


def _ro(array: _A) -> _A:
    array.setflags(write=False)
    return array


def _exclusion_ids(blocks: Sequence[Block], exclude: Iterable[str]) -> IntArray:
    """Sorted unique ids (block · 10,000 + suffix) of excluded numbers that lie in the blocks."""
    where = {block.dial_prefix: i for i, block in enumerate(blocks)}
    ids = []
    for text in exclude:
        digits = normalize_number(text)
        block = where.get(digits[:-4])
        if block is not None and len(digits) >= 5 and digits[-4:].isdigit():
            ids.append(block * BLOCK_SIZE + int(digits[-4:]))
    return np.unique(np.array(ids, dtype=np.int64))


def _draw_pool(
    rng: np.random.Generator, block_ids: IntArray, excluded: IntArray, n: int, label: str
) -> IntArray:
    """n distinct eligible number ids of the pool made of ``block_ids``, in random order."""
    size = block_ids.size * BLOCK_SIZE
    # Excluded ids of this pool, as local ids 0 … size−1.
    local_block = np.searchsorted(block_ids, excluded // BLOCK_SIZE)
    in_pool = (local_block < block_ids.size) & (
        block_ids[np.minimum(local_block, max(block_ids.size - 1, 0))] == excluded // BLOCK_SIZE
    )
    excl_local = np.sort(local_block[in_pool] * BLOCK_SIZE + excluded[in_pool] % BLOCK_SIZE)
    eligible = size - excl_local.size
    if n > eligible:
        raise SamplingError(
            f"号码池「{label}」只有 {eligible} 个可用号码（已排除 {excl_local.size} 个），"
            f"少于要求的 {n} 个"
        )
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if 4 * n > eligible:  # dense: key every eligible number, keep the n smallest
        all_ids = np.setdiff1d(np.arange(size, dtype=np.int64), excl_local, assume_unique=True)
        local = all_ids[smallest_keys(raw_keys(rng, all_ids.size), n)]
    else:  # sparse: uniform ids, skipping repeats and excluded numbers
        drawn = np.empty(0, dtype=np.int64)
        local = drawn
        while local.size < n:
            need = n - local.size
            drawn = np.concatenate([drawn, bounded_integers(rng, size, need + need // 8 + 16)])
            uniq, first = np.unique(drawn, return_index=True)
            first = first[_not_in(uniq, excl_local)]
            local = drawn[np.sort(first)]
        local = local[:n]
    return block_ids[local // BLOCK_SIZE] * BLOCK_SIZE + local % BLOCK_SIZE


def _not_in(values: IntArray, sorted_set: IntArray) -> npt.NDArray[np.bool_]:
    if sorted_set.size == 0:
        return np.ones(values.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return np.asarray(sorted_set[pos] != values)


def _generate(
    blocks: Sequence[Block],
    pools: Mapping[str, IntArray],
    n_per_pool: Mapping[str, int],
    rng: np.random.Generator,
    exclude: Iterable[str],
    batch_shares: Sequence[float],
) -> GeneratedNumbers:
    normalised_shares(batch_shares)
    labels = sorted(pools)
    excluded = _exclusion_ids(blocks, exclude)
    ids_parts, strata_parts, rank_parts = [], [], []
    eligible = np.zeros(len(labels), dtype=np.int64)
    n_h = np.array([n_per_pool.get(label, 0) for label in labels], dtype=np.int64)
    for h, label in enumerate(labels):
        block_ids = np.sort(pools[label])
        ids = _draw_pool(rng, block_ids, excluded, int(n_h[h]), label)
        pool_excluded = int(np.isin(excluded // BLOCK_SIZE, block_ids).sum())
        eligible[h] = block_ids.size * BLOCK_SIZE - pool_excluded
        ids_parts.append(ids)
        strata_parts.append(np.full(ids.size, h, dtype=np.int64))
        rank_parts.append(np.arange(ids.size, dtype=np.int64))
    ids = np.concatenate(ids_parts)
    strata = np.concatenate(strata_parts)
    rank = np.concatenate(rank_parts)
    pis = np.divide(n_h[strata], eligible[strata], dtype=np.float64)
    selection = finish_selection(
        "numbers", labels, eligible, n_h, ids, strata, rank, pis, batch_shares
    )
    block_index = selection.indices // BLOCK_SIZE
    prefixes = np.array([block.dial_prefix for block in blocks], dtype=str)
    suffix = (selection.indices % BLOCK_SIZE).astype("U4")
    numbers = np.strings.add(prefixes[block_index], np.strings.zfill(suffix, 4))
    return GeneratedNumbers(
        numbers=_ro(numbers),
        block_index=_ro(block_index.astype(np.int64)),
        blocks=tuple(blocks),
        selection=selection,
    )


def _check_blocks(blocks: Sequence[Block]) -> None:
    seen: dict[str, int] = {}
    for i, block in enumerate(blocks):
        problem = block_problem(str(block))
        if problem is not None:
            raise SamplingError(f"第 {i + 1} 个号段: {problem}")
        if block.dial_prefix in seen:
            raise SamplingError(
                f"第 {i + 1} 个号段「{block}」与第 {seen[block.dial_prefix] + 1} 个重复"
            )
        seen[block.dial_prefix] = i


def generate_mobile_numbers(
    blocks: Sequence[Block],
    n: int | Mapping[str, int],
    rng: np.random.Generator,
    *,
    exclude: Iterable[str] = (),
    batch_shares: Sequence[float] = (1.0,),
) -> GeneratedNumbers:
    """Draw ``n`` distinct numbers uniformly from the 10,000 numbers of each block.

    ``n`` an int: one pool ``'mobile'`` over all ``blocks``. ``n`` a mapping
    ``{district: n_d}``: one pool per district over the blocks whose ``district`` matches
    (every district in the mapping needs blocks). ``exclude``: numbers never to draw (see
    :func:`build_exclusions`). Blocks may be landline blocks too; the name says the usual use.
    """
    if not blocks:
        raise SamplingError("没有号段")
    _check_blocks(blocks)
    if isinstance(n, Mapping):
        pools: dict[str, list[int]] = {}
        for i, block in enumerate(blocks):
            pools.setdefault(block.district, []).append(i)
        missing = [d for d, k in n.items() if k > 0 and d not in pools]
        if missing:
            raise SamplingError(f"区县「{missing[0]}」没有号段")
        counts = dict(n)
    else:
        pools = {"mobile": list(range(len(blocks)))}
        counts = {"mobile": n}
    for label, k in counts.items():
        if int(k) != k or k < 0:
            raise SamplingError(f"号码池「{label}」的样本量必须是非负整数，收到 {k}")
    arrays = {label: np.array(ids, dtype=np.int64) for label, ids in pools.items()}
    return _generate(blocks, arrays, counts, rng, exclude, batch_shares)


def generate_phone_numbers(
    mobile_blocks: Sequence[Block],
    landline_blocks: Sequence[Block],
    n: int,
    rng: np.random.Generator,
    *,
    split: tuple[float, float] = (3.0, 1.0),
    exclude: Iterable[str] = (),
    batch_shares: Sequence[float] = (1.0,),
) -> GeneratedNumbers:
    """Draw ``n`` numbers split mobile : landline = ``split`` (3 : 1 by default).

    The counts are n·3/4 and n·1/4 rounded by largest remainder (ties to mobile); each kind is
    its own pool with its own π. Without landline blocks every number is mobile.
    """
    if not mobile_blocks and not landline_blocks:
        raise SamplingError("没有号段")
    if any(b.kind != "mobile" for b in mobile_blocks):
        raise SamplingError("mobile_blocks 中含有固话号段")
    if any(b.kind != "landline" for b in landline_blocks):
        raise SamplingError("landline_blocks 中含有手机号段")
    if int(n) != n or n < 0:
        raise SamplingError(f"样本量必须是非负整数，收到 {n}")
    blocks: list[Block] = [*mobile_blocks, *landline_blocks]
    _check_blocks(blocks)
    if not landline_blocks:
        weights = np.array([1.0, 0.0])
    elif not mobile_blocks:
        weights = np.array([0.0, 1.0])
    else:
        weights = np.asarray(split, dtype=np.float64)
        if weights.shape != (2,) or np.any(weights < 0) or weights.sum() <= 0:
            raise SamplingError("split 必须是两个非负数（手机 : 固话），例如 (3, 1)")
    mobile_n, landline_n = round_largest_remainder(n * weights / weights.sum(), int(n)).tolist()
    pools = {
        "mobile": np.arange(len(mobile_blocks), dtype=np.int64),
        "landline": np.arange(len(mobile_blocks), len(blocks), dtype=np.int64),
    }
    pools = {k: v for k, v in pools.items() if v.size}
    counts = {"mobile": mobile_n, "landline": landline_n}
    return _generate(blocks, pools, counts, rng, exclude, batch_shares)
