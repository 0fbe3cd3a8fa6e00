"""The format description in ``questionnaires.__doc__`` names every key the loader accepts."""

from __future__ import annotations

import re

import questionnaires
from questionnaires import loader
from questionnaires.model import DK_POLICIES, INDEX_KINDS, ITEM_TYPES, UNIT_LEVELS


def test_format_doc_names_every_accepted_key_and_value() -> None:
    doc = questionnaires.__doc__ or ""
    words = set(re.findall(r"[a-z_0-9]+", doc))
    keys = (
        loader._TOP_KEYS
        | loader._ITEM_KEYS
        | loader._SCREENING_ITEM_KEYS
        | loader._OPTION_KEYS
        | loader._INDEX_KEYS
    )
    values = set(ITEM_TYPES) | set(INDEX_KINDS) | set(DK_POLICIES) | set(UNIT_LEVELS)
    assert sorted((keys | values) - words) == []
