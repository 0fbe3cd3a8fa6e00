"""Typed, immutable model of an instrument (问卷/测评工具) and of the problems found loading one.

Everything here is plain frozen dataclasses over stdlib types, so an ``Instrument`` can be shared
between requests, hashed into a canonical form and handed to the estimation core unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from questionnaires.conditions import Condition

ItemType = Literal["single", "rating_0_10", "multiple", "text"]
ITEM_TYPES: tuple[ItemType, ...] = ("single", "rating_0_10", "multiple", "text")

IndexKind = Literal["top_box_share", "mean_score", "composite"]
INDEX_KINDS: tuple[IndexKind, ...] = ("top_box_share", "mean_score", "composite")

DkPolicy = Literal["exclude", "not_positive", "void_interview"]
DK_POLICIES: tuple[DkPolicy, ...] = ("exclude", "not_positive", "void_interview")

UnitLevel = Literal["station", "street", "district", "department"]
UNIT_LEVELS: tuple[UnitLevel, ...] = ("station", "street", "district", "department")

ScreeningAction = Literal["ask_other_adult", "end"]
SCREENING_ACTIONS: tuple[ScreeningAction, ...] = ("ask_other_adult", "end")

AreaLevel = Literal["street", "community"]
AREA_LEVELS: tuple[AreaLevel, ...] = ("street", "community")

Mode = Literal["web", "phone"]
MODES: tuple[Mode, ...] = ("web", "phone")

RATING_MIN = 0
RATING_MAX = 10

# Screen ids of the screening questions and of the unit identification (reserved for pages).
SCREENING_PAGE = "screening"
UNIT_PAGE = "unit"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an instrument file: where (file, 1-based line if known, item id), what."""

    file: str
    line: int | None
    item: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.item:
            return f"{where}: {self.item}: {self.message}"
        return f"{where}: {self.message}"


class InstrumentError(Exception):
    """An instrument could not be loaded; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        first = str(self.problems[0]) if self.problems else "无效的问卷"
        more = f"（另有 {len(self.problems) - 1} 个问题）" if len(self.problems) > 1 else ""
        super().__init__(first + more)


@dataclass(frozen=True)
class Option:
    """One answer option: integer ``code`` as stored, ``label`` shown or read out, optional score.

    ``score`` is on the instrument's scale (e.g. 100/80/60/30/0) and is ``None`` for options that
    carry no score (don't-know, refused, or unscored items).
    """

    code: int
    label: str
    score: float | None = None
    dont_know: bool = False
    refused: bool = False
    exclusive: bool = False

    @property
    def substantive(self) -> bool:
        """True for a real answer (neither don't-know nor refused)."""
        return not (self.dont_know or self.refused)


@dataclass(frozen=True)
class Item:
    """One question. ``condition`` (None = always shown) decides visibility from earlier answers.

    Answers are: ``single`` → one option code (int); ``rating_0_10`` → an int 0–10 or the code of a
    don't-know/refused option; ``multiple`` → a tuple of option codes; ``text`` → a str of at most
    ``max_length`` characters. ``department`` is the registry code of the department for items made
    from a per-department template (``template`` is then the template id).
    """

    id: str
    type: ItemType
    text: str
    options: tuple[Option, ...] = ()
    required: bool = True
    condition: Condition | None = None
    note: str = ""
    max_length: int | None = None
    min_choices: int | None = None
    max_choices: int | None = None
    department: str | None = None
    template: str | None = None
    weighting: str | None = None

    def option(self, code: int) -> Option | None:
        """The option with this code, or None."""
        for opt in self.options:
            if opt.code == code:
                return opt
        return None

    @property
    def codes(self) -> tuple[int, ...]:
        """All option codes in declared order."""
        return tuple(opt.code for opt in self.options)

    @property
    def scored(self) -> bool:
        """True when the substantive options carry scores (a mean score can be computed)."""
        subs = [o for o in self.options if o.substantive]
        return bool(subs) and all(o.score is not None for o in subs)


@dataclass(frozen=True)
class ScreeningQuestion:
    """A screening item and the codes that make the respondent eligible; ``action`` if not."""

    item: Item
    eligible: tuple[int, ...]
    action: ScreeningAction


@dataclass(frozen=True)
class Screening:
    """Eligibility questions (18+, resident ≥ 6 months) and what to say to someone not eligible.

    ``messages`` maps each action to the text read out / shown (e.g. ask for another adult).
    """

    questions: tuple[ScreeningQuestion, ...] = ()
    messages: tuple[tuple[ScreeningAction, str], ...] = ()

    @property
    def items(self) -> tuple[Item, ...]:
        """The screening items in order."""
        return tuple(q.item for q in self.questions)

    def message(self, action: ScreeningAction) -> str:
        """The text for ``action`` ('' when the file declares none)."""
        return dict(self.messages).get(action, "")


@dataclass(frozen=True)
class AreaPrompt:
    """One level of the unit identification: the answer under ``id`` is a registry code (str)."""

    id: str
    level: AreaLevel
    prompt: str
    required: bool = True


@dataclass(frozen=True)
class UnitIdentification:
    """Where the respondent lives (street, then community), picked from the registry.

    The community fixes the police station and the street fixes the district, so the answer is
    attributed to every ranked unit through the registry, not through the instrument.
    """

    levels: tuple[AreaPrompt, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """Answer keys of the levels, in order."""
        return tuple(level.id for level in self.levels)


@dataclass(frozen=True)
class Page:
    """A screen (web) or block (phone) of items shown together, in order."""

    id: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Demographic:
    """A weighting variable (``sex``, ``age_group``, ``education``, ``occupation``) and its item."""

    variable: str
    item: str


@dataclass(frozen=True)
class Department:
    """A 政法 department: registry ``code`` and display ``name``."""

    code: str
    name: str


@dataclass(frozen=True)
class IndexDefinition:
    """How an index is computed from answers; every formula of DESIGN.md §3 is one of these.

    - ``top_box_share``: 1 for a code in ``positive``, 0 for another substantive answer; estimate
      is a proportion (0–1); ``target`` is a proportion too (0.90 = 90 %).
    - ``mean_score``: the option score (or the 0–10 rating value); ``pass_score`` on that scale.
    - ``composite``: weighted mean over departments of the index ``component``; ``weights`` by
      department code, ``default_weight`` for departments without an explicit weight.

    ``items`` lists the item ids scored (one per department for department indices, in the
    order of ``departments``). ``dk_policy`` says what a don't-know/refused answer does:
    ``exclude`` (out of the base), ``not_positive`` (counts as 0), ``void_interview``.
    """

    id: str
    name: str
    kind: IndexKind
    items: tuple[str, ...] = ()
    positive: tuple[int, ...] = ()
    dk_policy: DkPolicy = "exclude"
    unit_level: UnitLevel = "district"
    target: float | None = None
    pass_score: float | None = None
    component: str | None = None
    weights: tuple[tuple[str, float], ...] = ()
    default_weight: float = 1.0
    departments: tuple[str, ...] = ()
    primary: bool = False

    def weight_for(self, department: str) -> float:
        """The declared (unnormalised) weight of a department, else ``default_weight``."""
        return dict(self.weights).get(department, self.default_weight)


@dataclass(frozen=True)
class Instrument:
    """A loaded, validated questionnaire; a stored response records ``(id, version, content_hash)``.

    ``content_hash`` is the SHA-256 (hex) of a canonical JSON form of everything below except the
    source fields, so comments and layout of the file do not change it but any wording, code,
    score, condition, index or department does.
    """

    id: str
    version: int
    title: str
    intro: str
    outro: str
    modes: tuple[Mode, ...]
    screening: Screening
    unit: UnitIdentification
    pages: tuple[Page, ...]
    indices: tuple[IndexDefinition, ...]
    departments: tuple[Department, ...] = ()
    content_hash: str = ""
    source_name: str = field(default="", compare=False)
    source_text: str = field(default="", compare=False, repr=False)

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item in asking order: screening items first, then the pages' items."""
        return self.screening.items + tuple(it for page in self.pages for it in page.items)

    def iter_items(self) -> Iterator[Item]:
        """Iterate over ``items`` without building the tuple."""
        yield from self.screening.items
        for page in self.pages:
            yield from page.items

    def item(self, item_id: str) -> Item:
        """The item with this id; KeyError if none."""
        for it in self.iter_items():
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def index(self, index_id: str) -> IndexDefinition:
        """The index definition with this id; KeyError if none."""
        for ind in self.indices:
            if ind.id == index_id:
                return ind
        raise KeyError(index_id)

    @property
    def primary_indices(self) -> tuple[IndexDefinition, ...]:
        """The headline indices (declared ``primary = true``)."""
        return tuple(ind for ind in self.indices if ind.primary)

    @property
    def demographics(self) -> tuple[Demographic, ...]:
        """Weighting variables and the items that ask them, in asking order."""
        return tuple(
            Demographic(variable=it.weighting, item=it.id)
            for it in self.iter_items()
            if it.weighting is not None
        )

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of ``content_hash`` (for display)."""
        return self.content_hash[:12]

    def with_departments(self, departments: list[tuple[str, str]]) -> Instrument:
        """The same instrument with the per-department items made for ``[(code, name), ...]``.

        Used at wave time with the registry's department list. Raises ``InstrumentError`` if the
        list is invalid (empty, duplicate or malformed codes) or breaks a reference in the file.
        Results are cached (instruments are immutable), so calling it per request is cheap.
        """
        from questionnaires.loader import build_with_departments

        return build_with_departments(self.source_text, self.source_name, departments)

    def canonical(self) -> dict[str, object]:
        """The canonical, JSON-ready form hashed into ``content_hash``."""
        data = dataclasses.asdict(self)
        for key in ("content_hash", "source_name", "source_text"):
            data.pop(key)
        return data
