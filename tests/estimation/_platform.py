"""The platform-shaped fixture (tests/fixtures/estimation/platform) as numpy arrays."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from survey import estimation as est
from tests.estimation._api import FIXTURES, read_rows

PLATFORM = FIXTURES / "platform"
SCORES = {1: 100.0, 2: 80.0, 3: 60.0, 4: 30.0, 5: 0.0}  # 很安全 … 不安全; 9 = 说不清


@dataclass(frozen=True)
class Platform:
    rows: list[dict[str, str]]

    def col(self, name: str) -> np.ndarray:
        return np.array([r[name] for r in self.rows], dtype=object).astype(str)

    def num(self, name: str) -> np.ndarray:
        return np.array([float(r[name]) for r in self.rows])

    @property
    def score(self) -> np.ndarray:
        return np.array([SCORES.get(int(c), np.nan) for c in self.num("safety")])

    @property
    def safe(self) -> np.ndarray:
        s = self.num("safety")
        return np.where(s == 9, np.nan, (s <= 3).astype(float))

    @property
    def aware(self) -> np.ndarray:
        return (self.col("aware") == "知道").astype(float)

    def design(self) -> est.Design:
        return est.Design.from_arrays(self.num("w"), strata=self.col("district"), fpc=self.num("N"))

    def streets(self) -> tuple[np.ndarray, list[str]]:
        codes, labels = est.factorize(self.col("street"))
        return codes, [str(x) for x in labels]

    def margin(self, name: str, column: str) -> est.Margin:
        table = read_rows(PLATFORM / f"margin_{name}.csv")
        keys = [(r["district"], r[column]) for r in table]
        index = {k: i for i, k in enumerate(keys)}
        cells = np.array(
            [index[k] for k in zip(self.col("district"), self.col(column), strict=True)]
        )
        return est.Margin(cells, np.array([float(r["Freq"]) for r in table]), name)


def load_platform() -> Platform:
    return Platform(read_rows(PLATFORM / "platform.csv"))


def platform_expected() -> dict[str, Any]:
    return json.loads((PLATFORM / "platform_expected.json").read_text(encoding="utf-8"))
