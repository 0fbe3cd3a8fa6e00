"""The instrument file format as data: the keys each table accepts, limits and fixed names.

Where to add a field: its key here (the loader reports any other key as 未知字段, and
``tests/questionnaires/test_docs.py`` checks that the format description in
``questionnaires.__doc__`` names it), then its check in ``questionnaires.sections``.
"""

from __future__ import annotations

import re

#: max_length of a text item that sets none, and the largest it may set.
DEFAULT_TEXT_MAX_LENGTH = 200
MAX_TEXT_MAX_LENGTH = 5000
#: How deep show_if/skip_if conditions may nest (all/any/not).
MAX_CONDITION_DEPTH = 20
#: Stands for the department's name in the text of a per-department item.
DEPARTMENT_PLACEHOLDER = "{department}"

#: Department codes (registry codes, also used in item ids) and weighting variable names.
DEPT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
VARIABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: Keys of the file, of an item, of a screening item, of an option and of an index.
TOP_KEYS = frozenset(
    {"id", "version", "title", "intro", "outro", "modes"}
    | {"scales", "departments", "screening", "unit", "pages", "indices"}
)
ITEM_KEYS = frozenset(
    {"id", "type", "text", "options", "scale", "required", "show_if", "skip_if", "note"}
    | {"max_length", "min_choices", "max_choices", "per_department", "weighting"}
)
SCREENING_ITEM_KEYS = frozenset(
    {"id", "type", "text", "options", "scale", "required", "note", "eligible", "on_fail"}
)
OPTION_KEYS = frozenset({"code", "label", "score", "dont_know", "refused", "exclusive"})
INDEX_KEYS = frozenset(
    {"id", "name", "kind", "item", "positive", "dk_policy", "unit_level", "target"}
    | {"pass_score", "of", "weights", "default_weight", "primary"}
)

#: Item types as named in messages.
TYPE_NAMES: dict[str, str] = {
    "single": "单选题",
    "rating_0_10": "0–10 评分题",
    "multiple": "多选题",
    "text": "文本题",
}
