"""The one coding between an instrument's demographic answers and the weighting cells.

Weighting (raking to the registry's population) uses two variables with fixed codes: sex
``"M"``/``"F"`` and four age groups. An instrument asks them with its own items (``weighting =
"sex"`` / ``"age_group"``) and its own option codes, so the link is made here, once, for every
mode — web pages, the pollster console and imported files:

- sex: the substantive option whose label begins with 男 is ``"M"``, with 女 ``"F"`` (labels,
  not codes: an instrument may number its options as it likes);
- age group: the n-th substantive option of a four-band item is the n-th of ``AGE_GROUPS``.

Anything else (not answered, don't-know/refused, an item that cannot be mapped) codes as ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the codes below are read by the tables (survey.db.tables), without the model
    from questionnaires.model import Instrument, Item, Option

#: Weighting codes of sex, in the registry population's order.
SEXES: tuple[str, ...] = ("M", "F")
#: Weighting codes of the age groups, in the registry population's order.
AGE_GROUPS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")
_SEX_LABELS: dict[str, str] = {"M": "男", "F": "女"}


def _substantive(item: Item) -> list[Option]:
    return [o for o in item.options if o.substantive]


def weighting_code(item: Item, variable: str, value: object) -> str:
    """The weighting code (``"M"``, ``"45-59"`` …) of answer ``value`` to ``item`` asking
    ``variable`` (``sex`` or ``age_group``); ``""`` when it has none."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    option = item.option(value)
    if option is None or not option.substantive:
        return ""
    if variable == "sex":
        return next((code for code, label in _SEX_LABELS.items() if option.label[:1] == label), "")
    if variable == "age_group":
        bands = _substantive(item)
        if len(bands) == len(AGE_GROUPS):
            return AGE_GROUPS[bands.index(option)]
    return ""


def demographic_codes(instrument: Instrument, answers: Mapping[str, object]) -> tuple[str, str]:
    """``(sex, age_group)`` weighting codes of an interview's answers (``""`` when unknown)."""
    codes = {"sex": "", "age_group": ""}
    for demographic in instrument.demographics:
        if demographic.variable in codes:
            item = instrument.item(demographic.item)
            code = weighting_code(item, demographic.variable, answers.get(demographic.item))
            codes[demographic.variable] = code or codes[demographic.variable]
    return codes["sex"], codes["age_group"]


def demographic_answer(
    instrument: Instrument, item_id: str, variable: str, code: str
) -> int | None:
    """The inverse: the option code of ``item_id`` whose weighting code is ``code`` (a file that
    delivers sex and age group as columns fills the instrument's items with it); None if none."""
    item = instrument.item(item_id)
    return next(
        (o.code for o in _substantive(item) if weighting_code(item, variable, o.code) == code),
        None,
    )
