"""The format description in ``questionnaires.__doc__`` names every key the loader accepts."""

from __future__ import annotations

import re

import questionnaires
from questionnaires import schema
from questionnaires.model import DK_POLICIES, INDEX_KINDS, ITEM_TYPES, UNIT_LEVELS


def test_format_doc_names_every_accepted_key_and_value() -> None:
    doc = questionnaires.__doc__ or ""
    words = set(re.findall(r"[a-z_0-9]+", doc))
    keys = (
        schema.TOP_KEYS
        | schema.ITEM_KEYS
        | schema.SCREENING_ITEM_KEYS
        | schema.OPTION_KEYS
        | schema.INDEX_KEYS
    )
    values = set(ITEM_TYPES) | set(INDEX_KINDS) | set(DK_POLICIES) | set(UNIT_LEVELS)
    assert sorted((keys | values) - words) == []
