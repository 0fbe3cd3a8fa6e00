"""Bad input to every file loader (questionnaire, policy, frame, number blocks, margins,
registry): a clear, expected rejection or a valid result — never another exception. A few hundred
inputs here; scripts/reliability/fuzz.py runs ≥ 10,000 (figures in docs/reliability.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.reliability.fuzz_targets import TARGETS, run_target

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# a loader's error raised where it is only printed ("Exception ignored", e.g. inside pyarrow's
# invalid-row callback) is a defect too, not a warning
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_loader_rejects_bad_input_cleanly(name: str) -> None:
    _fn, strategy = TARGETS[name]

    @SETTINGS
    @given(strategy)
    def check(value: object) -> None:
        run_target(name, value)

    check()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_valid_example_is_accepted(name: str) -> None:
    """The mutation seeds are valid files: the harness can tell acceptance from rejection."""
    from tests.reliability import fuzz_targets as ft

    seeds = {
        "questionnaire": ft.SHIPPED_INSTRUMENTS[0],
        "policy": ft.SHIPPED_POLICIES[0],
        "frame": ft.VALID_FRAME,
        "blocks": ft.VALID_BLOCKS,
        "margin": ft.VALID_MARGIN,
        "registry": ft.VALID_REGISTRY,
    }
    assert run_target(name, seeds[name]) is True
    # …and a clearly broken one is rejected, not accepted.
    broken = "[[[" if name in ("questionnaire", "policy") else b"\xff\xfe\x00garbage"
    assert run_target(name, broken) is False


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_margin_cut_utf8_in_a_short_row_is_rejected_cleanly() -> None:
    """Found by the fuzzer: a last row of one byte that starts a UTF-8 sequence is too short
    (pyarrow's invalid-row callback decodes its text and failed inside pyarrow)."""
    assert run_target("margin", b"sex,Freq\r\n2,520\r\n\xd5") is False
