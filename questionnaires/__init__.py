"""Instruments as data: the questionnaires of 两率一度 as TOML files, and their typed model.

Pure core: imports the standard library and numpy only (no web framework, ORM or templates).

Files
-----
One TOML file per questionnaire, shipped in this package: ``anquangan.toml`` (公众安全感),
``zhixiaolv.toml`` (平安建设知晓率), ``manyidu.toml`` (群众对政法队伍满意度) and
``liangshuaiyidu.toml`` (the combined 两率一度 phone instrument) and ``liangshuaiyidu_web.toml``
(the same instrument worded for self-completion on the web: same items, codes, scores and index
definitions, so web and phone answers pool into one index). An installation adds its own
files in the directory named by ``PINGAN_QUESTIONNAIRES`` (every ``*.toml``; ids must not repeat
a shipped one — to change a shipped instrument, copy it under a new id). Format,
top to bottom::

    id = "anquangan"            # [a-z][a-z0-9_]*, stable across versions
    version = 1                 # positive int; bump it to change an instrument in use
    title = "…"; intro = "…"; outro = "…"   # outro = thank-you text
    modes = ["web", "phone"]

    [scales.manyi]              # optional shared option lists; an item says scale = "manyi"
    options = [ { code = 1, label = "很满意", score = 100 }, …,
                { code = 8, label = "不了解", dont_know = true },
                { code = 9, label = "拒答", refused = true } ]

    [departments]               # default 政法 departments for per-department items
    default = [ { code = "gongan", name = "公安机关" }, … ]

    [screening]                 # eligibility; on_fail = "ask_other_adult" | "end"
    on_fail = "ask_other_adult"
    [screening.messages]        # text for each action
    ask_other_adult = "…"; end = "…"
    [[screening.items]]         # single-choice items with the eligible codes
    id = "s_age"; text = "…"; options = [...]; eligible = [1]   # on_fail may override per item

    [[unit.levels]]             # street, then community; answers are registry codes (str)
    id = "street"; level = "street"; prompt = "…"

    [[pages]]                   # a screen (web) / block (phone) of items
    id = "security"; title = "…"
    [[pages.items]]
    id = "q1"; type = "single" | "rating_0_10" | "multiple" | "text"; text = "…"  # default single
    options = [...] or scale = "…"; required = true (default); note = "…" (help / interviewer)
    show_if = { item = "q0", in = [1, 2] }      # also answered = true|false, all/any/not
    skip_if = { not = { item = "q0", in = [1] } }
    per_department = true       # a template: one item per department, "{department}" in text,
                                # ids "<id>_<department code>"
    weighting = "sex"           # a demographic used for weighting (sex, age_group, …)
    max_length = 200 (text); min_choices / max_choices (multiple)
    # option flags: dont_know / refused (not in the base by default), exclusive (selected alone)

    [[indices]]
    id = "anquangan"; name = "公众安全感"; primary = true
    kind = "top_box_share" (positive = [1, 2, 3]) | "mean_score" (option scores / 0–10 value)
         | "composite" (of = "<department index>", weights = { gongan = 2.0 }, default_weight = 1.0)
    item = "q1"                 # or a per-department template id → a department index
    dk_policy = "exclude" | "not_positive" | "void_interview"
    unit_level = "station" | "street" | "district" | "department"
    target = 0.90 (proportion for shares) ; pass_score = 85 (on the score scale)

Rules the validator enforces (each broken rule is a ``Problem`` with file, line, item, fix):
unique item/index/page ids and option codes; known item types, fields, scales and policies;
scores on every substantive option of a scored item and none on don't-know/refused options;
0–10 items may only add don't-know/refused options coded outside 0–10; conditions may only read
items on *earlier pages* (pages work without JavaScript, so an item cannot appear or vanish
inside the page being filled) — unknown items, codes not of the item, and cycles are reported;
indices must refer to existing items (single choice or 0–10), positive codes must be substantive
codes, mean scores need scored items, composites need a department index; share targets are
proportions in (0, 1].

API
---
Loading: ``load_instrument(path) -> Instrument``, ``load_instrument_text(text, name)``,
``default_instruments() -> dict[str, Instrument]`` (by id: shipped + ``PINGAN_QUESTIONNAIRES``),
``shipped_instrument_paths()``, ``check_files(paths) -> list[Problem]``;
failures raise ``InstrumentError`` whose ``problems`` is the full list of ``Problem(file, line,
item, message)``. The stages (``questionnaires.loader``): read and check the TOML
(``questionnaires.toml_check``, the public checker the ranking policies use too), each table
(``questionnaires.sections``), cross-references (``questionnaires.references``), build; the
accepted keys are in ``questionnaires.schema``.

Model (frozen dataclasses, ``questionnaires.model``): ``Instrument`` (``id``, ``version``,
``title``, ``intro``, ``outro``, ``modes``, ``screening``, ``unit``, ``pages``, ``indices``,
``departments``, ``content_hash``; ``items``, ``item(id)``, ``index(id)``, ``demographics``,
``with_departments([(code, name), …])``), ``Page``, ``Item``, ``Option``, ``Screening``,
``UnitIdentification``, ``IndexDefinition``, ``Department``, ``Demographic``. Conditions
(``questionnaires.conditions``): ``ItemIn``, ``Answered``, ``AllOf``, ``AnyOf``, ``Not``,
``evaluate``. Store ``(instrument.id, instrument.version, instrument.content_hash)`` with every
response; ``version_conflict(old, new)`` tells when a file changed without a new version.

Answers (``questionnaires.answers``): ``visible_items(instrument, answers) -> list[Item]``,
``visible_pages(instrument, answers) -> list[str]`` (screens to show: "screening", "unit", pages),
``validate_answers(instrument, answers, partial, *, page=None) -> list[AnswerError]``,
``drop_hidden``, ``screening_outcome(instrument, answers) -> ScreeningOutcome``,
``parse_form_answer(item, raw)``.

Interview engine (``questionnaires.flow``, used by the web pages and the pollster console):
``apply_screen(instrument, answers, screen, form, *, units, unit_per_level, back=False) ->
ScreenResult`` (answers, errors, next screen, final answers when done), ``screens``,
``restart_screening``. Demographic coding (``questionnaires.demographics``): ``SEXES``,
``AGE_GROUPS``, ``demographic_codes(instrument, answers) -> (sex, age_group)``,
``demographic_answer(instrument, item_id, variable, code)`` (the inverse, for imports).

Scoring (``questionnaires.scoring``): ``score_responses(instrument, index_id, answers_list, *,
department=None) -> Scores(values, dk_mask, void_mask)``, ``score_departments``,
``composite_weights(instrument, index_id, departments=None) -> dict[str, float]``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from lazy_exports import lazy_exports

if TYPE_CHECKING:
    from questionnaires.answers import (
        AnswerError,
        ScreeningOutcome,
        drop_hidden,
        parse_form_answer,
        screening_outcome,
        validate_answers,
        visible_items,
        visible_pages,
    )
    from questionnaires.loader import check_files, load_instrument, load_instrument_text
    from questionnaires.model import (
        Demographic,
        Department,
        IndexDefinition,
        Instrument,
        InstrumentError,
        Item,
        Option,
        Page,
        Problem,
        Screening,
        UnitIdentification,
    )
    from questionnaires.scoring import (
        Scores,
        composite_weights,
        score_departments,
        score_responses,
    )

# Every name is imported on first use: the command line imports this package (``questionnaires.cli``)
# to build its parser and pays for none of it; scoring needs numpy.
__getattr__ = lazy_exports(
    __name__,
    {
        "questionnaires.answers": (
            "AnswerError",
            "ScreeningOutcome",
            "drop_hidden",
            "parse_form_answer",
            "screening_outcome",
            "validate_answers",
            "visible_items",
            "visible_pages",
        ),
        "questionnaires.loader": ("check_files", "load_instrument", "load_instrument_text"),
        "questionnaires.model": (
            "Demographic",
            "Department",
            "IndexDefinition",
            "Instrument",
            "InstrumentError",
            "Item",
            "Option",
            "Page",
            "Problem",
            "Screening",
            "UnitIdentification",
        ),
        "questionnaires.scoring": (
            "Scores",
            "composite_weights",
            "score_departments",
            "score_responses",
        ),
    },
)

DEFAULT_FILES: tuple[str, ...] = (
    "anquangan.toml",
    "zhixiaolv.toml",
    "manyidu.toml",
    "liangshuaiyidu.toml",
    "liangshuaiyidu_web.toml",
)


#: A directory of the installation's own instrument files (every ``*.toml`` in it), loaded beside
#: the shipped ones — e.g. a district's questionnaire with 0–10 ratings. Read at first use.
EXTRA_DIR_VARIABLE = "PINGAN_QUESTIONNAIRES"


def shipped_instrument_paths() -> list[Path]:
    """Paths of the instrument files shipped with the platform, in ``DEFAULT_FILES`` order."""
    here = Path(__file__).resolve().parent
    return [here / name for name in DEFAULT_FILES]


def default_instrument_paths() -> list[Path]:
    """Paths of this installation's instrument files: the shipped ones, then the ``*.toml`` files
    of the directory named by ``PINGAN_QUESTIONNAIRES`` (if set) in name order. A directory that
    does not exist is an error (a typo must not silently drop a questionnaire)."""
    from questionnaires.model import InstrumentError, Problem

    paths = shipped_instrument_paths()
    extra = os.environ.get(EXTRA_DIR_VARIABLE, "").strip()
    if extra:
        folder = Path(extra)
        if not folder.is_dir():
            raise InstrumentError(
                [Problem(extra, None, None, f"{EXTRA_DIR_VARIABLE} 指向的目录不存在")]
            )
        paths += sorted(folder.glob("*.toml"))
    return paths


@cache
def _defaults() -> tuple[Instrument, ...]:
    """Every instrument file loaded; every problem of every file, and ids used twice, are
    reported together."""
    from questionnaires.loader import load_instrument
    from questionnaires.model import InstrumentError, Problem

    problems: list[Problem] = []
    loaded: list[Instrument] = []
    first_file: dict[str, Path] = {}
    for path in default_instrument_paths():
        try:
            instrument = load_instrument(path)
        except InstrumentError as exc:
            problems += exc.problems
            continue
        if instrument.id in first_file:
            problems.append(
                Problem(
                    str(path), None, None,
                    f"问卷编号 {instrument.id} 已由 {first_file[instrument.id]} 使用；"
                    "每份问卷的 id 必须不同（要改动系统自带的问卷，请复制后使用新的 id）",
                )
            )  # fmt: skip
            continue
        first_file[instrument.id] = path
        loaded.append(instrument)
    if problems:
        raise InstrumentError(problems)
    return tuple(loaded)


def default_instruments() -> dict[str, Instrument]:
    """This installation's instruments by id: the shipped ones and those of
    ``PINGAN_QUESTIONNAIRES`` (loaded once; the dict is a fresh copy each call)."""
    return {instrument.id: instrument for instrument in _defaults()}


def version_conflict(old: Instrument, new: Instrument) -> str | None:
    """Why ``new`` may not replace ``old`` (same id and version, different content), else None."""
    if old.id == new.id and old.version == new.version and old.content_hash != new.content_hash:
        return (
            f"问卷 {new.id} 第 {new.version} 版的内容已改变"
            f"（{old.short_hash} → {new.short_hash}）："
            "已用于测评的问卷不能修改，请提高 version"
        )
    return None


__all__ = [
    "DEFAULT_FILES",
    "AnswerError",
    "Demographic",
    "Department",
    "IndexDefinition",
    "Instrument",
    "InstrumentError",
    "Item",
    "Option",
    "Page",
    "Problem",
    "Scores",
    "Screening",
    "ScreeningOutcome",
    "UnitIdentification",
    "check_files",
    "composite_weights",
    "default_instrument_paths",
    "default_instruments",
    "drop_hidden",
    "load_instrument",
    "load_instrument_text",
    "parse_form_answer",
    "score_departments",
    "score_responses",
    "screening_outcome",
    "shipped_instrument_paths",
    "validate_answers",
    "version_conflict",
    "visible_items",
    "visible_pages",
]
