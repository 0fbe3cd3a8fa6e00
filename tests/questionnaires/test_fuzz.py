"""Fuzzing the loader: any text, and any TOML built from the format's own keys, gives either an
``Instrument`` or an ``InstrumentError`` — never another exception."""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questionnaires import (
    Instrument,
    InstrumentError,
    default_instruments,
    drop_hidden,
    screening_outcome,
    shipped_instrument_paths,
    validate_answers,
    visible_items,
)
from questionnaires.loader import build_instrument

SHIPPED = [p.read_text(encoding="utf-8") for p in shipped_instrument_paths()]

KEYS = [
    "id", "version", "title", "intro", "outro", "modes", "scales", "departments", "default",
    "screening", "on_fail", "messages", "items", "eligible", "unit", "levels", "level", "prompt",
    "pages", "type", "text", "options", "scale", "required", "show_if", "skip_if", "note",
    "max_length", "min_choices", "max_choices", "per_department", "weighting", "code", "label",
    "score", "dont_know", "refused", "exclusive", "indices", "name", "kind", "item", "positive",
    "dk_policy", "unit_level", "target", "pass_score", "of", "weights", "default_weight",
    "primary", "in", "answered", "all", "any", "not", "q1", "gongan",
]  # fmt: skip
WORDS = [
    "single", "multiple", "text", "rating_0_10", "q1", "q2", "p1", "gongan", "street",
    "community", "top_box_share", "mean_score", "composite", "exclude", "not_positive",
    "void_interview", "station", "district", "department", "ask_other_adult", "end", "web",
    "phone", "{department}", "很安全", "", "X",
]  # fmt: skip

SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def check(text: str) -> None:
    try:
        result = build_instrument(text, "fuzz.toml")
    except InstrumentError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == "fuzz.toml" and problem.message
            assert problem.line is None or problem.line >= 1
        return
    assert isinstance(result, Instrument) and len(result.content_hash) == 64


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"


values = st.recursive(
    st.booleans()
    | st.integers(-3, 120)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(WORDS),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=10)


@SETTINGS
@given(st.text(alphabet=string.printable + "[]{}=\"'#中文", max_size=400))
def test_arbitrary_text(text: str) -> None:
    check(text)


@SETTINGS
@given(documents)
def test_structured_toml_from_format_keys(doc: dict[str, object]) -> None:
    check("\n".join(f"{k} = {toml_value(v)}" for k, v in doc.items()))


@SETTINGS
@given(
    st.sampled_from(SHIPPED),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["drop", "dup", "swap", "cut", "edit"])),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(['"q1"', "7", "true", "[]", "{}", '"x"', "-1", '{ item = "q_anquan" }']),
)
def test_mutated_shipped_files(text: str, edits: list[tuple[int, str]], replacement: str) -> None:
    lines = text.splitlines()
    for position, action in edits:
        if not lines:
            break
        i = position % len(lines)
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "cut":
            lines[i] = lines[i][: len(lines[i]) // 2]
        elif "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "= " + replacement
    check("\n".join(lines))


def test_regression_index_item_that_is_a_list() -> None:
    # Found by test_mutated_shipped_files: a list where an item id belongs (unhashable lookup).
    manyidu = next(t for t in SHIPPED if 'id = "manyidu"' in t)
    check(manyidu.replace('item = "q_manyi"', "item = []"))


ANSWER_KEYS = sorted(
    {it.id for inst in default_instruments().values() for it in inst.items}
    | {"street", "community", "x"}
)
answer_values = (
    st.none()
    | st.booleans()
    | st.integers(-5, 120)
    | st.text(max_size=5)
    | st.lists(st.integers(-2, 12) | st.text(max_size=2), max_size=4)
    | st.floats(allow_nan=True)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)
)


@SETTINGS
@given(
    st.sampled_from(list(default_instruments().values())),
    st.dictionaries(st.sampled_from(ANSWER_KEYS), answer_values, max_size=12),
    st.booleans(),
)
def test_tampered_answers_never_crash(
    instrument: Instrument, answers: dict[str, object], partial: bool
) -> None:
    errors = validate_answers(instrument, answers, partial)
    assert all(e.message_zh for e in errors)
    shown = visible_items(instrument, answers)
    assert set(drop_hidden(instrument, answers)) <= {it.id for it in shown} | {
        "street",
        "community",
    }
    assert screening_outcome(instrument, answers).status in {
        "eligible",
        "not_eligible",
        "incomplete",
    }
