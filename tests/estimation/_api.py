"""The ``api`` reference data (R survey's data(api)) read as plain numpy arrays, and a checker
that walks every number of a JSON block of R's expected values."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "estimation"
REFERENCE = FIXTURES / "reference"
REL = 1e-8


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Api:
    """One api data set as columns (strings as object arrays, numbers as float; '' = NaN)."""

    rows: list[dict[str, str]]

    def col(self, name: str) -> np.ndarray:
        return np.array([r[name] for r in self.rows], dtype=object)

    def num(self, name: str) -> np.ndarray:
        return np.array([float(r[name]) if r[name] != "" else np.nan for r in self.rows])

    @property
    def n(self) -> int:
        return len(self.rows)


def load(name: str) -> Api:
    return Api(read_rows(REFERENCE / "data" / f"{name}.csv"))


def expected() -> dict[str, Any]:
    return json.loads((REFERENCE / "expected" / "api_expected.json").read_text(encoding="utf-8"))


def leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every numeric (or null) leaf of a JSON tree with its path; strings are not numbers."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))
    elif node is None or (isinstance(node, (int, float)) and not isinstance(node, bool)):
        yield path, node


def close(actual: float | None, expect: float | None, rel: float = REL) -> bool:
    if expect is None:
        return actual is None or not math.isfinite(actual)
    if actual is None:
        return False
    return abs(actual - expect) <= rel * abs(expect)


@dataclass
class Walker:
    """Compare numbers of one JSON block; ``finish()`` fails if any number was not looked at."""

    block: Any
    name: str
    seen: set[tuple[Any, ...]] = field(default_factory=set)
    skipped: dict[tuple[Any, ...], str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def at(self, path: Sequence[Any]) -> Any:
        node = self.block
        for k in path:
            node = node[k]
        return node

    def check(self, path: Sequence[Any], actual: Any, rel: float = REL) -> None:
        """Check the number (or list of numbers) at ``path`` against ``actual``."""
        node = self.at(path)
        if isinstance(node, list):
            values = list(np.atleast_1d(np.asarray(actual, dtype=object)))
            if len(values) != len(node):
                self.failures.append(
                    f"{self.name}{list(path)}: {len(values)} values, R has {len(node)}"
                )
            for i, (a, e) in enumerate(zip(values, node, strict=False)):
                self._one((*path, i), a, e, rel)
        else:
            self._one(tuple(path), actual, node, rel)

    def check_abs(self, path: Sequence[Any], actual: Any, bound: float, reason: str) -> None:
        """Check |actual| ≤ bound where R's value is rounding noise (``reason`` says why)."""
        node = self.at(path)
        values = np.atleast_1d(np.asarray(actual, dtype=np.float64))
        items = node if isinstance(node, list) else [node]
        for i, (a, e) in enumerate(zip(values, items, strict=True)):
            p = (*path, i) if isinstance(node, list) else tuple(path)
            self.seen.add(p)
            self.skipped[p] = reason
            if not (abs(a) <= bound and abs(e) <= bound):
                self.failures.append(f"{self.name}{list(p)}: ours {a!r}, R {e!r}, bound {bound}")

    def skip(self, path: Sequence[Any], reason: str) -> None:
        node = self.at(path)
        for p, _ in leaves(node, tuple(path)):
            self.skipped[p] = reason
            self.seen.add(p)

    def _one(self, path: tuple[Any, ...], actual: Any, expect: Any, rel: float) -> None:
        self.seen.add(path)
        a = None if actual is None else float(actual)
        if not close(a, expect, rel):
            self.failures.append(f"{self.name}{list(path)}: ours {a!r}, R {expect!r}")

    def finish(self) -> None:
        unseen = [p for p, _ in leaves(self.block) if p not in self.seen]
        assert not unseen, f"{self.name}: numbers not checked: {unseen}"
        assert not self.failures, "\n".join(self.failures)
