"""Write an instrument TOML as an XLSForm workbook (survey, choices, settings, indices).

Usage (from the repository root)::

    .venv/bin/python questionnaires/xlsform/make_xlsform.py questionnaires/anquangan.toml \\
        questionnaires/xlsform/anquangan.xlsx

The shipped ``anquangan.xlsx`` was made this way; ``survey questionnaire import-xlsform`` turns it
back into an equivalent TOML (tests/questionnaires/test_xlsform.py). Labels are in the column
``label::Chinese (zh)`` as KoboToolbox writes them; the street and community questions are
``select_one_from_file street.csv`` / ``community.csv`` (the registry's lists, uploaded as media
files in KoboToolbox).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from questionnaires.conditions import AllOf, Answered, AnyOf, Condition, ItemIn
from questionnaires.loader import load_instrument
from questionnaires.model import Instrument, Item

LANG = "Chinese (zh)"
SURVEY_COLUMNS = (
    "type",
    "name",
    f"label::{LANG}",
    f"hint::{LANG}",
    "required",
    "relevant",
    "constraint",
    "pingan::eligible",
    "pingan::weighting",
)
CHOICE_COLUMNS = (
    "list_name",
    "name",
    f"label::{LANG}",
    "score",
    "dont_know",
    "refused",
    "exclusive",
)
INDEX_COLUMNS = ("id", "name", "kind", "item", "positive", "dk_policy", "unit_level", "target")
INDEX_COLUMNS_2 = ("pass_score", "primary")


def relevant(condition: Condition, kinds: Mapping[str, str]) -> str:
    """A condition as an XLSForm ``relevant`` expression."""
    if isinstance(condition, ItemIn):
        if kinds.get(condition.item) == "multiple":
            parts = [f"selected(${{{condition.item}}}, '{c}')" for c in condition.codes]
        else:
            parts = [f"${{{condition.item}}} = '{c}'" for c in condition.codes]
        return " or ".join(parts)
    if isinstance(condition, Answered):
        return f"${{{condition.item}}} {'!=' if condition.answered else '='} ''"
    if isinstance(condition, AllOf | AnyOf):
        joiner = " and " if isinstance(condition, AllOf) else " or "
        return joiner.join(f"({relevant(c, kinds)})" for c in condition.conditions)
    return f"not({relevant(condition.condition, kinds)})"


def build(instrument: Instrument) -> Workbook:
    """The XLSForm workbook of ``instrument``."""
    kinds = {it.id: it.type for it in instrument.items}
    book = Workbook()
    survey = book.active
    assert survey is not None
    survey.title = "survey"
    choices = book.create_sheet("choices")
    settings = book.create_sheet("settings")
    indices = book.create_sheet("indices")
    survey.append(SURVEY_COLUMNS)
    choices.append(CHOICE_COLUMNS)
    lists: dict[tuple[tuple[int, str, float | None, bool, bool, bool], ...], str] = {}

    def list_for(item: Item) -> str:
        key = tuple(
            (o.code, o.label, o.score, o.dont_know, o.refused, o.exclusive) for o in item.options
        )
        if key not in lists:
            lists[key] = item.id
            for o in item.options:
                score = (
                    "" if o.score is None else (int(o.score) if o.score.is_integer() else o.score)
                )
                choices.append(
                    [
                        item.id,
                        o.code,
                        o.label,
                        score,
                        "yes" if o.dont_know else "",
                        "yes" if o.refused else "",
                        "yes" if o.exclusive else "",
                    ]
                )
        return lists[key]

    def row(item: Item, eligible: tuple[int, ...] = ()) -> list[object]:
        if item.type == "single":
            kind, constraint = f"select_one {list_for(item)}", ""
        elif item.type == "multiple":
            kind = f"select_multiple {list_for(item)}"
            constraint = f"count-selected(.) <= {item.max_choices}" if item.max_choices else ""
        elif item.type == "rating_0_10":
            kind, constraint = "integer", ". >= 0 and . <= 10"
        else:
            kind = "text"
            constraint = f"string-length(.) <= {item.max_length}" if item.max_length else ""
        return [
            kind,
            item.id,
            item.text,
            item.note,
            "yes" if item.required else "no",
            relevant(item.condition, kinds) if item.condition is not None else "",
            constraint,
            ",".join(str(c) for c in eligible),
            item.weighting or "",
        ]

    if instrument.intro:
        survey.append(["note", "intro", instrument.intro])
    if instrument.screening.questions:
        survey.append(["begin group", "screening", "筛选"])
        for question in instrument.screening.questions:
            survey.append(row(question.item, question.eligible))
        for action, text in instrument.screening.messages:
            survey.append(["note", action, text])
        survey.append(["end group"])
    for level in instrument.unit.levels:
        survey.append(
            [f"select_one_from_file {level.level}.csv", level.id, level.prompt, "", "yes"]
        )
    for page in instrument.pages:
        survey.append(["begin group", page.id, page.title])
        for item in page.items:
            survey.append(row(item))
        survey.append(["end group"])
    if instrument.outro:
        survey.append(["note", "outro", instrument.outro])

    settings.append(["form_title", "form_id", "version", "default_language"])
    settings.append([instrument.title, instrument.id, instrument.version, LANG])
    indices.append([*INDEX_COLUMNS, *INDEX_COLUMNS_2])
    for index in instrument.indices:
        indices.append(
            [
                index.id,
                index.name,
                index.kind,
                ",".join(index.items),
                ",".join(str(c) for c in index.positive),
                index.dk_policy,
                index.unit_level,
                "" if index.target is None else index.target,
                "" if index.pass_score is None else index.pass_score,
                "yes" if index.primary else "",
            ]
        )
    for sheet in (survey, choices, settings, indices):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    return book


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build(load_instrument(argv[0])).save(Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
