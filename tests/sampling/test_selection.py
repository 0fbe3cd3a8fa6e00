"""Selection: sizes, inclusion frequencies (fixed seeds, stated tolerances), batches, errors."""

from __future__ import annotations

import numpy as np
import pytest

from sampling import (
    SamplingError,
    allocate,
    pps_inclusion_probabilities,
    select_bernoulli,
    select_pps,
    select_srswor,
    select_systematic,
)
from tests.sampling._freq import (
    bernoulli_pvalue,
    bonferroni_binomial_pvalue,
    srswor_pvalue,
)

# Tolerance of every frequency test: p-value > 1e-4 with the fixed seed (a correct selector
# fails such a test with probability 1e-4); a wrong π must give p < 1e-6.
ALPHA = 1e-4
DRAWS = 4000

CODES = np.array(["b"] * 12 + ["a"] * 6 + ["c"] * 9 + ["a"] * 4 + ["b"] * 3)  # 34 rows
N_H = {"a": 10, "b": 15, "c": 9}
N_REQ = {"a": 3, "b": 6, "c": 2}


def _counts(draw, size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    counts = np.zeros(size, dtype=np.int64)
    for _ in range(DRAWS):
        counts[draw().indices] += 1
    return counts


def test_srswor_sizes_strata_and_probabilities() -> None:
    s = select_srswor(CODES, N_REQ, np.random.default_rng(1))
    assert len(s) == 11
    assert len(set(s.indices.tolist())) == 11
    labels = CODES[s.indices]
    for h, n in N_REQ.items():
        assert int((labels == h).sum()) == n
    assert s.stratum_of == labels.tolist()
    expected = np.array([N_REQ[h] / N_H[h] for h in labels])
    assert np.allclose(s.inclusion_probabilities, expected)
    assert np.allclose(s.design_weights, 1 / expected)
    assert s.population_sizes.tolist() == [10, 15, 9]


def test_srswor_inclusion_frequencies() -> None:
    rng = np.random.default_rng(20261124)
    counts = _counts(lambda: select_srswor(CODES, N_REQ, rng), CODES.size)
    pi = np.array([N_REQ[h] / N_H[h] for h in CODES])
    assert srswor_pvalue(counts, pi, CODES, DRAWS) > ALPHA


def test_frequency_test_catches_a_biased_selector() -> None:
    # An off-by-one selector that never draws the first row of a stratum: our test must see it.
    rng = np.random.default_rng(7)
    codes = np.array(["a"] * 10)
    counts = np.zeros(10, dtype=np.int64)
    for _ in range(DRAWS):
        counts[1 + rng.permutation(9)[:3]] += 1
    assert srswor_pvalue(counts, np.full(10, 0.3), codes, DRAWS) < 1e-6
    # A subtler bias: row 0 weighted 1.3 (drawn about 37 % of the time instead of 30 %) fails
    # the stated tolerance.
    counts = np.zeros(10, dtype=np.int64)
    weights = np.array([1.3] + [1.0] * 9)
    for _ in range(DRAWS):
        counts[rng.choice(10, 3, replace=False, p=weights / weights.sum())] += 1
    assert srswor_pvalue(counts, np.full(10, 0.3), codes, DRAWS) < ALPHA


def test_srswor_follows_its_documented_algorithm() -> None:
    # sampling.selection: one raw 64-bit key per row in (stratum label, row index) order; the
    # n_h smallest keys of each stratum are taken, in key order. Re-derived here from the raw
    # stream of the same seed, which numpy keeps stable for PCG64.
    s = select_srswor(CODES, N_REQ, np.random.default_rng(99), batch_shares=(1, 1))
    keys = np.random.default_rng(99).bit_generator.random_raw(CODES.size)
    grouped = [i for h in sorted(N_H) for i in range(CODES.size) if CODES[i] == h]
    key_of = {row: int(keys[g]) for g, row in enumerate(grouped)}
    for h, n in N_REQ.items():
        rows = sorted((key_of[i], i) for i in range(CODES.size) if CODES[i] == h)[:n]
        got = [int(i) for i in s.indices if CODES[i] == h]
        first = (n + 1) // 2  # batch 1 gets n/2, rounded up on a tie
        assert sorted(got[:first]) == sorted(i for _, i in rows[:first])
        assert sorted(got) == sorted(i for _, i in rows)


def test_same_seed_same_sample_and_mapping_order_irrelevant() -> None:
    one = select_srswor(CODES, N_REQ, np.random.default_rng(5), batch_shares=(2, 1))
    two = select_srswor(
        CODES, dict(reversed(N_REQ.items())), np.random.default_rng(5), batch_shares=(2, 1)
    )
    assert one.indices.tolist() == two.indices.tolist()
    assert one.batches.tolist() == two.batches.tolist()
    other = select_srswor(CODES, N_REQ, np.random.default_rng(6))
    assert other.indices.tolist() != one.indices.tolist()
    alloc = allocate(11, N_H, minimums=2)
    from_alloc = select_srswor(CODES, alloc, np.random.default_rng(5))
    from_dict = select_srswor(CODES, alloc.as_dict(), np.random.default_rng(5))
    assert from_alloc.indices.tolist() == from_dict.indices.tolist()


def test_integer_codes_match_string_codes() -> None:
    labels = sorted(N_H)
    ints = np.array([labels.index(c) for c in CODES], dtype=np.int32)
    by_int = select_srswor(
        ints, {i: N_REQ[h] for i, h in enumerate(labels)}, np.random.default_rng(3)
    )
    by_str = select_srswor(CODES, N_REQ, np.random.default_rng(3))
    assert by_int.indices.tolist() == by_str.indices.tolist()


def test_reserve_batches_are_representative() -> None:
    shares = (0.5, 0.25, 0.25)
    s = select_srswor(
        CODES, {"a": 8, "b": 12, "c": 4}, np.random.default_rng(11), batch_shares=shares
    )
    # Batch sizes per stratum: a 4/2/2, b 6/3/3, c 2/1/1.
    for h, sizes in {"a": [4, 2, 2], "b": [6, 3, 3], "c": [2, 1, 1]}.items():
        mask = CODES[s.indices] == h
        assert np.bincount(s.batches[mask], minlength=4)[1:].tolist() == sizes
    assert s.batches.tolist() == sorted(s.batches.tolist())
    first = s.released(1)
    assert first.indices.tolist() == s.indices[s.batches == 1].tolist()
    released_pi = {"a": 4 / 10, "b": 6 / 15, "c": 2 / 9}
    assert np.allclose(
        first.inclusion_probabilities, [released_pi[h] for h in CODES[first.indices]]
    )
    # Weights of the released part add up to each stratum's N_h.
    for h, big_n in N_H.items():
        assert first.design_weights[CODES[first.indices] == h].sum() == pytest.approx(big_n)
    two = s.released(2)
    assert two.indices.tolist()[: len(first)] == first.indices.tolist()
    assert s.released(3) is s
    with pytest.raises(SamplingError):
        s.released(4)


def test_released_batch_frequencies_match_released_probabilities() -> None:
    rng = np.random.default_rng(424242)
    req = {"a": 6, "b": 9, "c": 4}

    def draw():  # type: ignore[no-untyped-def]
        return select_srswor(CODES, req, rng, batch_shares=(1, 1, 1)).released(1)

    counts = _counts(draw, CODES.size)
    pi = np.array([{"a": 2 / 10, "b": 3 / 15, "c": 2 / 9}[h] for h in CODES])  # 4 → 2/1/1
    assert srswor_pvalue(counts, pi, CODES, DRAWS) > ALPHA


def test_systematic_frequencies_and_implicit_stratification() -> None:
    rng = np.random.default_rng(31337)
    counts = _counts(lambda: select_systematic(CODES, N_REQ, rng), CODES.size)
    pi = np.array([N_REQ[h] / N_H[h] for h in CODES])
    assert bonferroni_binomial_pvalue(counts, pi, DRAWS) > ALPHA
    # Sorted by street, 12 of 120 rows: each street of 30 gets exactly 3 (a systematic sample
    # of a sorted list spreads over the sort key; SRSWOR would not guarantee it).
    streets = np.tile(np.array(["s1", "s2", "s3", "s4"]), 30)
    for seed in range(20):
        s = select_systematic(
            np.zeros(120, dtype=int), {0: 12}, np.random.default_rng(seed), sort_by=streets
        )
        assert np.unique(streets[s.indices], return_counts=True)[1].tolist() == [3, 3, 3, 3]
        assert np.allclose(s.inclusion_probabilities, 0.1)


def test_pps_inclusion_probabilities_closed_form() -> None:
    # x = 60, 10, 10, 10, 10, n = 2: 2·60/100 = 1.2 > 1 → certain; the other unit spread over
    # four equal sizes: 1 · 10/40 = 0.25 each.
    assert pps_inclusion_probabilities([60, 10, 10, 10, 10], 2).tolist() == [
        1.0,
        0.25,
        0.25,
        0.25,
        0.25,
    ]
    pi = pps_inclusion_probabilities([1, 2, 3, 4], 2)
    assert pi.tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8])


@pytest.mark.parametrize("randomize", [False, True])
def test_pps_frequencies(randomize: bool) -> None:
    rng = np.random.default_rng(2718 + randomize)
    sizes = np.arange(1, CODES.size + 1, dtype=float)
    sizes[0] = 500.0  # a certainty unit in stratum b
    s = select_pps(CODES, sizes, N_REQ, rng, randomize_order=randomize)
    pi = np.zeros(CODES.size)
    for h, n in N_REQ.items():
        rows = np.flatnonzero(h == CODES)
        pi[rows] = pps_inclusion_probabilities(sizes[rows], n)
    assert np.allclose(s.inclusion_probabilities, pi[s.indices])
    assert 0 in s.indices.tolist()
    counts = _counts(
        lambda: select_pps(CODES, sizes, N_REQ, rng, randomize_order=randomize), CODES.size
    )
    uncertain = pi < 1
    assert counts[~uncertain].tolist() == [DRAWS]
    assert bonferroni_binomial_pvalue(counts[uncertain], pi[uncertain], DRAWS) > ALPHA
    # The same counts judged against equal probabilities n_h/N_h must fail.
    equal = np.array([N_REQ[h] / N_H[h] for h in CODES])
    assert bonferroni_binomial_pvalue(counts[uncertain], equal[uncertain], DRAWS) < 1e-6


def test_bernoulli_frequencies_and_batches() -> None:
    rng = np.random.default_rng(1618)
    rates = {"a": 0.2, "b": 0.5, "c": 0.05}
    pi = np.array([rates[h] for h in CODES])
    counts = _counts(lambda: select_bernoulli(CODES, rates, rng), CODES.size)
    assert bernoulli_pvalue(counts, pi, DRAWS) > ALPHA
    assert bernoulli_pvalue(counts, np.clip(pi * 1.1, 0, 0.99), DRAWS) < 1e-6
    first = np.zeros(CODES.size, dtype=np.int64)
    for _ in range(DRAWS):
        s = select_bernoulli(CODES, rates, rng, batch_shares=(3, 1))
        r = s.released(1)
        assert np.allclose(r.inclusion_probabilities, [rates[h] * 0.75 for h in CODES[r.indices]])
        first[r.indices] += 1
    assert bernoulli_pvalue(first, pi * 0.75, DRAWS) > ALPHA


def test_bernoulli_follows_its_documented_algorithm() -> None:
    s = select_bernoulli(CODES, {"a": 0.3, "b": 0.3, "c": 0.3}, np.random.default_rng(8))
    raw = np.random.default_rng(8).bit_generator.random_raw(CODES.size)
    u = (raw >> np.uint64(11)).astype(float) / 2.0**53
    assert sorted(s.indices.tolist()) == np.flatnonzero(u < 0.3).tolist()


@pytest.mark.parametrize(
    ("codes", "request_", "fragment"),
    [
        (["a", "a"], {"a": 1, "b": 2}, "层「b」在抽样框中没有记录"),
        (["a", "a", "b"], {"a": 3, "b": 1}, "层「a」只有 2 条记录，少于要求的样本量 3"),
        (["a", "x", "a"], {"a": 1}, "第 2 条记录的层「x」没有指定样本量"),
        (["a"], {"a": -1}, "非负整数"),
    ],
)
def test_bad_frames_are_explained(
    codes: list[str], request_: dict[str, int], fragment: str
) -> None:
    with pytest.raises(SamplingError, match=fragment):
        select_srswor(np.array(codes), request_, np.random.default_rng(0))


def test_pps_rejects_non_positive_sizes_and_bad_rng() -> None:
    with pytest.raises(SamplingError, match="第 2 条记录的规模度量"):
        select_pps(np.array(["a", "a"]), [1.0, 0.0], {"a": 1}, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        select_srswor(np.array(["a"]), {"a": 1}, np.random.RandomState(0))  # type: ignore[arg-type]


def test_large_integer_stratum_ids_work() -> None:
    # Registry codes like 500103001 as stratum ids (no lookup table of that size is built).
    codes = np.array([500103001, 500103002, 500103001, 500103002, 500103001])
    s = select_srswor(codes, {500103001: 2, 500103002: 1}, np.random.default_rng(0))
    assert sorted(codes[s.indices].tolist()) == [500103001, 500103001, 500103002]


def test_systematic_follows_its_documented_algorithm() -> None:
    # One uniform start per stratum in label order: u = (raw >> 11) / 2⁵³; positions
    # floor((u + j) · N_h / n_h) in frame order inside the stratum.
    s = select_systematic(CODES, N_REQ, np.random.default_rng(12))
    raw = np.random.default_rng(12).bit_generator.random_raw(3)
    u = (raw >> np.uint64(11)).astype(float) / 2.0**53
    for k, h in enumerate(sorted(N_H)):
        rows = np.flatnonzero(h == CODES)
        n = N_REQ[h]
        expected = rows[np.floor((u[k] + np.arange(n)) * (N_H[h] / n)).astype(int)]
        assert sorted(int(i) for i in s.indices if CODES[i] == h) == sorted(expected.tolist())
