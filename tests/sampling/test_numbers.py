"""Random numbers in blocks: inside the blocks, no duplicates, exclusions, split, uniformity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sampling import (
    LandlineBlock,
    MobileBlock,
    SamplingError,
    block_problem,
    build_exclusions,
    generate_mobile_numbers,
    generate_phone_numbers,
    number_problem,
    parse_block,
)

MOBILE = [
    parse_block(p, carrier="中国移动", district="渝中区") for p in ("1380013", "1390023", "1500231")
]
LANDLINE = [parse_block("023-6388", carrier="中国电信", district="渝中区"), parse_block("0571-876")]


def test_numbers_inside_blocks_unique_and_equiprobable() -> None:
    g = generate_mobile_numbers(MOBILE, 5_000, np.random.default_rng(1))
    numbers = g.numbers.tolist()
    assert len(numbers) == 5_000 == len(set(numbers))
    assert all(
        len(n) == 11 and n.isdigit() and n[:7] in {"1380013", "1390023", "1500231"} for n in numbers
    )
    assert [MOBILE[b].prefix for b in g.block_index.tolist()] == [n[:7] for n in numbers]
    assert np.allclose(g.selection.inclusion_probabilities, 5_000 / 30_000)
    assert all(number_problem(n) is None for n in numbers)


def test_block_counts_and_last_digits_are_uniform() -> None:
    blocks = [MobileBlock(f"13{i:05d}") for i in range(200)]
    n = 200_000
    g = generate_mobile_numbers(blocks, n, np.random.default_rng(2026))
    # Without replacement from M = 2,000,000: block counts are multivariate hypergeometric, so
    # the χ² statistic over blocks scaled by 1/(1 − n/M) is χ²(199).
    f = n / 2_000_000
    per_block = np.bincount(g.block_index, minlength=200)
    chi2 = ((per_block - n / 200) ** 2 / (n / 200)).sum() / (1 - f)
    assert stats.chi2.sf(chi2, 199) > 1e-4
    last = np.array([int(x[-4:]) for x in g.numbers.tolist()])
    per_thousand = np.bincount(last // 100, minlength=100)
    chi2 = ((per_thousand - n / 100) ** 2 / (n / 100)).sum() / (1 - f)
    assert stats.chi2.sf(chi2, 99) > 1e-4
    # The same statistic detects a generator that moves 5 % of its numbers into the lower half
    # of each block (an upper-half number x drawn as x − 5000).
    skewed = last.copy()
    upper = np.flatnonzero(skewed >= 5000)[: n // 20]
    skewed[upper] -= 5000
    counts = np.bincount(skewed // 100, minlength=100)
    chi2 = ((counts - skewed.size / 100) ** 2 / (skewed.size / 100)).sum()
    assert stats.chi2.sf(chi2, 99) < 1e-6


def test_exclusions_are_respected_in_both_paths() -> None:
    block = [MobileBlock("1380013")]
    dnc = [f"1380013{i:04d}" for i in range(9_000)]
    recent = [["+86 138-0013-9000", "13800139001"], ["13800139002"]]
    exclusions = build_exclusions(dnc, recent, last_waves=1)
    assert "13800139000" in exclusions and "13800139002" not in exclusions
    # Dense path: 998 of the 998 eligible numbers.
    g = generate_mobile_numbers(block, 998, np.random.default_rng(3), exclude=exclusions)
    assert sorted(g.numbers.tolist()) == [f"1380013{i:04d}" for i in range(9_002, 10_000)]
    assert np.allclose(g.selection.inclusion_probabilities, 1.0)
    # Sparse path: 100 of them, none excluded.
    g = generate_mobile_numbers(block, 100, np.random.default_rng(4), exclude=exclusions)
    assert not set(g.numbers.tolist()) & exclusions
    assert np.allclose(g.selection.inclusion_probabilities, 100 / 998)
    with pytest.raises(SamplingError, match="只有 998 个可用号码"):
        generate_mobile_numbers(block, 999, np.random.default_rng(5), exclude=exclusions)


def test_mobile_landline_split_and_landline_format() -> None:
    g = generate_phone_numbers(
        MOBILE, LANDLINE, 1_000, np.random.default_rng(6), batch_shares=(4, 1)
    )
    kinds = g.kinds
    assert kinds.count("mobile") == 750 and kinds.count("landline") == 250
    land = [n for n, k in zip(g.numbers.tolist(), kinds, strict=True) if k == "landline"]
    assert all(
        (n.startswith("0236388") and len(n) == 11) or (n.startswith("0571876") and len(n) == 11)
        for n in land
    )
    assert all(number_problem(n) is None for n in land)
    pi = {"mobile": 750 / 30_000, "landline": 250 / 20_000}
    assert np.allclose(g.selection.inclusion_probabilities, [pi[k] for k in kinds])
    first = g.released(1)
    assert len(first) == 800
    assert np.allclose(first.selection.inclusion_probabilities, [pi[k] * 0.8 for k in first.kinds])
    assert first.numbers.tolist() == g.numbers[g.selection.batches == 1].tolist()


def test_per_district_pools_and_reproducibility() -> None:
    blocks = [*MOBILE, MobileBlock("1860231", "中国联通", "江北区")]
    a = generate_mobile_numbers(blocks, {"渝中区": 30, "江北区": 10}, np.random.default_rng(9))
    b = generate_mobile_numbers(blocks, {"江北区": 10, "渝中区": 30}, np.random.default_rng(9))
    assert a.numbers.tolist() == b.numbers.tolist()
    assert sum(n.startswith("1860231") for n in a.numbers.tolist()) == 10
    with pytest.raises(SamplingError, match="区县「渝北区」没有号段"):
        generate_mobile_numbers(blocks, {"渝北区": 5}, np.random.default_rng(9))


@pytest.mark.parametrize(
    "text",
    ["138001", "13800131", "1200013", "abc", "0571-0765", "0571-87", "0171-8765", "05718765", ""],
)
def test_malformed_blocks(text: str) -> None:
    assert block_problem(text) is not None
    with pytest.raises(SamplingError):
        parse_block(text)


def test_wellformed_blocks() -> None:
    assert parse_block(" 1380013 ") == MobileBlock("1380013")
    assert parse_block("010-6543") == LandlineBlock("010", "6543")
    assert parse_block("0571-876").dial_prefix == "0571876"
    with pytest.raises(SamplingError, match="重复"):
        generate_mobile_numbers(
            [MobileBlock("1380013"), MobileBlock("1380013")], 1, np.random.default_rng(0)
        )
