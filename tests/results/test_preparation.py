"""The pure helpers of a wave's preparation (``survey.results.preparation``), by hand."""

from __future__ import annotations

import gc
import math

import pytest

from survey.results.preparation import ResponseColumns, answer_columns, decode_answers


def test_stored_answers_decode_and_become_columns() -> None:
    texts = ['{"a": 1, "b": [1, 2]}', None, "", '{"b": [3], "c": "文字"}']
    decoded = decode_answers(texts)
    assert decoded == [{"a": 1, "b": [1, 2]}, {}, {}, {"b": [3], "c": "文字"}]
    # Every key any response has, sorted; None where a response lacks it.
    assert answer_columns(decoded) == {
        "a": [1, None, None, None],
        "b": [[1, 2], None, None, [3]],
        "c": [None, None, None, "文字"],
    }
    assert decode_answers([]) == [] and answer_columns([]) == {}


def test_what_msgspec_refuses_gets_the_standard_librarys_verdict() -> None:
    # json.loads reads NaN (a stored text written by json.dumps of a float NaN); msgspec does
    # not: the decoding falls back, so the same texts are accepted as before.
    (decoded,) = decode_answers(['{"a": NaN, "b": 2}'])
    assert math.isnan(decoded["a"]) and decoded["b"] == 2
    with pytest.raises(ValueError):
        decode_answers(['{"a": 1', '{"b": 2}'])


@pytest.mark.parametrize("text", ["1", '{"a": 1}, {"b": 2}', "[1, 2]"])
def test_a_stored_text_that_is_not_one_object_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_answers(['{"a": 1}', text])


def test_response_columns_take_rows_and_give_records() -> None:
    responses = ResponseColumns({"id": (7, 8, 9), "sex": ("M", "F", "M")})
    assert len(responses) == 3
    picked = responses.take([2, 0])
    assert list(picked["id"]) == [9, 7] and list(picked["sex"]) == ["M", "M"]
    assert picked.records() == [{"id": 9, "sex": "M"}, {"id": 7, "sex": "M"}]


def test_the_collector_pause_is_counted_across_overlapping_computations() -> None:
    from survey.results.compute import _gc_paused

    assert gc.isenabled()
    first, second = _gc_paused(), _gc_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # the first computation ends while the second runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()  # a process that had it off keeps it off
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
