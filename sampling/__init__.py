"""Sample design for 两率一度 waves: sizes, allocation, seeded selection, phone numbers, checks.

Pure core: imports the standard library, numpy and scipy only (no web framework, ORM or
templates), so it can be used on its own from a notebook. Invalid input raises
:class:`SamplingError` with a message in 简体中文; frame and block files are checked by the
``validate_*`` functions, which return every problem at once.

Public API
----------
Sizes (``sampling.sizes``), Cochran's formulas with design effect, fpc and response rate:

* ``SampleSizeSpec(margin, confidence=0.95, p=None, sd=None, deff=1.0, population=None,
  response_rate=1.0)`` → ``sample_size(spec) -> SampleSize`` (``n0``, ``n``, ``completes``,
  ``issued``);
* ``sample_size_proportion(margin, *, p=0.5, confidence, deff, population, response_rate)``,
  ``sample_size_mean(margin, sd, *, ...)``;
* ``margin_of_error(n, *, p=None, sd=None, confidence=0.95, deff=1.0, population=None) -> float``;
* ``unit_minimum_sizes(populations, margin, *, p, sd, confidence, deff, response_rate,
  what="completes"|"issued") -> ndarray`` — per ranked unit.

Allocation (``sampling.allocation``):

* ``allocate(total, population_sizes, *, method="proportional"|"equal"|"neyman"|"power"|
  "compromise", sds, power, importance, cvs, minimums, maximums) -> Allocation``
  (``strata``, ``sizes``, ``exact``, ``lower``, ``upper``, ``as_dict()``); totals exact by
  largest remainder, bounds capped at N_h;
* ``round_largest_remainder(exact, total, upper=None) -> ndarray``.

Selection (``sampling.selection``), every one with an explicit ``numpy.random.Generator`` and
optional reserve batches ``batch_shares``; each returns a ``Selection`` (``indices`` into the
frame, ``strata``, ``inclusion_probabilities``, ``design_weights``, ``batches``,
``released(k)``):

* ``select_srswor(strata_codes, n_per_stratum, rng, *, batch_shares=(1.0,))``;
* ``select_systematic(strata_codes, n_per_stratum, rng, *, sort_by=None, batch_shares)``;
* ``select_pps(strata_codes, sizes, n_per_stratum, rng, *, randomize_order=False,
  batch_shares)`` and ``pps_inclusion_probabilities(sizes, n)``;
* ``select_bernoulli(strata_codes, rates, rng, *, batch_shares)``.

Phone numbers (``sampling.numbers``), 10,000 numbers per block (号段):

* ``parse_block(text, *, carrier="", district="") -> MobileBlock | LandlineBlock``
  (``1380013``; landline ``0571-8765`` = area code + local prefix);
* ``generate_mobile_numbers(blocks, n | {district: n}, rng, *, exclude=(), batch_shares)`` and
  ``generate_phone_numbers(mobile_blocks, landline_blocks, n, rng, *, split=(3, 1), exclude,
  batch_shares)`` → ``GeneratedNumbers`` (``numbers``, ``block_index``, ``selection``,
  ``released(k)``);
* ``build_exclusions(do_not_call, used_by_wave, last_waves) -> frozenset[str]``,
  ``normalize_number``, ``number_problem``, ``block_problem``.

Checks and provenance:

* ``validate_frame(header, rows, *, stratum_column, unit_column, known_units, phone_column,
  id_column, requested, first_row=2) -> list[Problem]``, ``validate_design(population_sizes,
  requested)``, ``read_number_blocks(header, rows, ...) -> (blocks, problems)``,
  ``validate_number_blocks(header, rows, ...)``; ``Problem(row, column, message)`` prints as
  ``第 3 行, unit: 未知的单位代码「X」``;
* ``frame_fingerprint(header, rows) -> str`` (SHA-256 hex of the exact content, row order
  included).

Typical use (one district, stations as strata, reserve batch of 30 %)::

    import numpy as np
    import sampling

    frame_n = {"东城派出所": 4_000, "西城派出所": 12_000, "南城派出所": 800}
    mins = sampling.unit_minimum_sizes(frame_n, 0.08, p=0.9, response_rate=0.4, what="issued")
    alloc = sampling.allocate(
        1_200, frame_n, method="compromise", minimums=dict(zip(frame_n, mins.tolist()))
    )
    codes = np.repeat(list(frame_n), list(frame_n.values()))  # one stratum code per frame row
    drawn = sampling.select_srswor(codes, alloc, np.random.default_rng(20261124),
                                   batch_shares=(0.7, 0.3))
    main = drawn.released(1)  # field these first; weights = main.design_weights

Reproducibility: store the method, its parameters, the seed, ``frame_fingerprint`` and
``ALGORITHM_VERSION``. The same inputs and seed give the identical selection: randomness is
taken only from the bit generator's raw stream in a documented order (``sampling.selection``),
which numpy keeps stable for a seeded bit generator. ``ALGORITHM_VERSION`` changes whenever a
change in this package would draw a different sample from the same inputs.
"""

from sampling.allocation import METHODS, Allocation, allocate, round_largest_remainder
from sampling.errors import SamplingError
from sampling.fingerprint import FINGERPRINT_VERSION, frame_fingerprint
from sampling.numbers import (
    BLOCK_SIZE,
    Block,
    GeneratedNumbers,
    LandlineBlock,
    MobileBlock,
    block_problem,
    build_exclusions,
    generate_mobile_numbers,
    generate_phone_numbers,
    normalize_number,
    number_problem,
    parse_block,
)
from sampling.selection import (
    Selection,
    pps_inclusion_probabilities,
    select_bernoulli,
    select_pps,
    select_srswor,
    select_systematic,
)
from sampling.sizes import (
    SampleSize,
    SampleSizeSpec,
    margin_of_error,
    sample_size,
    sample_size_mean,
    sample_size_proportion,
    unit_minimum_sizes,
)
from sampling.validation import (
    Problem,
    read_number_blocks,
    validate_design,
    validate_frame,
    validate_number_blocks,
)

ALGORITHM_VERSION = "1"

__all__ = [
    "ALGORITHM_VERSION",
    "BLOCK_SIZE",
    "FINGERPRINT_VERSION",
    "METHODS",
    "Allocation",
    "Block",
    "GeneratedNumbers",
    "LandlineBlock",
    "MobileBlock",
    "Problem",
    "SampleSize",
    "SampleSizeSpec",
    "SamplingError",
    "Selection",
    "allocate",
    "block_problem",
    "build_exclusions",
    "frame_fingerprint",
    "generate_mobile_numbers",
    "generate_phone_numbers",
    "margin_of_error",
    "normalize_number",
    "number_problem",
    "parse_block",
    "pps_inclusion_probabilities",
    "read_number_blocks",
    "round_largest_remainder",
    "sample_size",
    "sample_size_mean",
    "sample_size_proportion",
    "select_bernoulli",
    "select_pps",
    "select_srswor",
    "select_systematic",
    "unit_minimum_sizes",
    "validate_design",
    "validate_frame",
    "validate_number_blocks",
]
