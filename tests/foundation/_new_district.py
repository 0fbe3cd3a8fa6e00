"""A new district's files, as a district would write them: registry (units, long-format
population), a custom policy and a delivered-interview file whose answers make the committee's
view known in advance (see ``EXPECTED``)."""

from __future__ import annotations

import csv
from pathlib import Path

DISTRICT = ("990201", "北城区")
PROGRAMME = "beicheng-lsyd"
MONTH = "2027-01"
PASSWORD = "beicheng-2027"
STREETS = (("990201001", "北关街道", "S01"), ("990201002", "南关街道", "S02"))
STATIONS = (("S01", "北关派出所"), ("S02", "南关派出所"))
DEPARTMENTS = (
    ("gongan", "北城区公安分局"),
    ("jianchayuan", "北城区人民检察院"),
    ("fayuan", "北城区人民法院"),
    ("sifa", "北城区司法局"),
)
SEXES = ("M", "F")
AGES = ("18-29", "30-44", "45-59", "60+")

#: The district's own rules: the bottom police station is criticised; a department below its
#: pass score is criticised, and the 检察院 must reach 95 (a plain department code).
POLICY = """\
id = "beicheng"
version = 1
title = "北城区两率一度测评结果运用办法"
min_n_eff = 5

[indices.anquangan]
name = "安全感"
unit = "%"

[indices.manyidu_bumen]
name = "满意度"
unit = "分"

[[sanctions]]
id = "anquangan_houyiwei"
index = "anquangan"
when = "bottom_k"
k = 1
ladder = [{ waves = 1, level = "criticism", measure = "通报批评" }]

[[sanctions]]
id = "manyidu_weidabiao"
index = "manyidu_bumen"
when = "below"
threshold = 60
thresholds = { jianchayuan = 95 }
ladder = [{ waves = 1, level = "criticism", measure = "通报批评" }]
"""

#: Version 2 lowers the 检察院's pass score: it must not change the published wave.
POLICY_V2 = POLICY.replace("version = 1", "version = 2").replace(
    "jianchayuan = 95", "jianchayuan = 75"
)


def communities() -> list[tuple[str, str, str, str]]:
    """(code, name, street code, station code): two communities per street."""
    out = []
    for street, name, station in STREETS:
        for k in (1, 2):
            out.append((f"{street}00{k}", f"{name}第{k}社区", street, station))
    return out


def write_registry(folder: Path) -> tuple[Path, Path]:
    """The units file (wide format without counts) and the population in long format."""
    units = folder / "units.csv"
    with units.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["kind", "code", "name", "parent_code", "station_code"])
        out.writerow(["区", DISTRICT[0], DISTRICT[1], "", ""])
        for code, name in STATIONS:
            out.writerow(["派出所", code, name, DISTRICT[0], ""])
        for code, name in DEPARTMENTS:
            out.writerow(["部门", code, name, DISTRICT[0], ""])
        for code, name, _station in STREETS:
            out.writerow(["街道", code, name, DISTRICT[0], ""])
        for code, name, street, station in communities():
            out.writerow(["社区", code, name, street, station])
    population = folder / "population.csv"
    with population.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["community", "sex", "age_group", "count"])
        for code, *_rest in communities():
            for s, sex in enumerate(SEXES):
                for a, age in enumerate(AGES):
                    out.writerow([code, sex, age, 300 + 40 * a + 10 * s])
    return units, population


#: Per respondent: 安全感 very safe (1) in 北关 (S01), "not very safe" (4) in 南关 (S02), so S02
#: is the bottom station whatever the weights; every respondent rates 公安 and 司法局 很满意
#: (100) and 检察院 and 法院 满意 (80), so each department's weighted mean is exactly that
#: score: 检察院 80 < 95 (its own pass score) → 通报批评, 法院 80 ≥ 60 → none.
ANSWERS = {"q_manyi_gongan": 1, "q_manyi_jianchayuan": 2, "q_manyi_fayuan": 2, "q_manyi_sifa": 1}
PER_CELL = 2  # respondents per community × sex × age group and mode file


def write_delivered(folder: Path, name: str, start: int, ages: tuple[str, ...] = AGES) -> Path:
    """A delivered-interview file: PER_CELL respondents in every community × sex × age group
    of ``ages``."""
    path = folder / name
    header = [
        "respondent_id", "community", "sex", "age_group", "q_anquan", "q_zhixiao",
        *ANSWERS, "s_age", "s_resident",
    ]  # fmt: skip
    rid = start
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for code, _name, _street, station in communities():
            for sex in SEXES:
                for age in ages:
                    for _ in range(PER_CELL):
                        rid += 1
                        anquan = 1 if station == "S01" else 4
                        out.writerow(
                            [f"R{rid:04d}", code, sex, age, anquan, 1, *ANSWERS.values(), 1, 1]
                        )
    return path


def n_per_station(files: int) -> int:
    """Interviews per station: two communities × 2 sexes × 4 ages × PER_CELL, per file."""
    return 2 * len(SEXES) * len(AGES) * PER_CELL * files
