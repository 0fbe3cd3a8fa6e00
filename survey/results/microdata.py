"""The weighted microdata of a wave as one labelled table (for CSV, XLSX, SPSS and Stata).

One row per interview that the computation uses (``prepare_wave``), with

* the design: ``response_id`` (= ``psu``), ``stratum`` (the sample's stratum, else the district),
  the units at every level by code and name (district, street, community, station);
* the weights: ``design_weight`` (the sample's design weight as stored, empty when none),
  ``base_weight`` (design weight or 1, scaled to the district's adults: where raking starts),
  ``raked_weight`` (raked from ``base_weight`` to district × sex and district × age group, before
  trimming) and ``weight`` (the final weight: trimmed and re-raked; every published figure);
* ``mode``, ``sex``, ``age_group``, ``duration_seconds``;
* every item of the wave's instruments (a multiple-choice item as one 0/1 variable per option);
* the per-respondent values of every index (0/1 for shares, points for scores; empty = not in
  the index's base).

Each variable carries its Chinese label (the question text) and, where the answer is a code, its
value labels (the options); don't-know and refused codes are listed as ``missing`` (user-missing
values in SPSS). Besides the table: the raking margins (adults by district × sex and district ×
age group, from the registry) and each published index's definition, so that a script can redo
the calibration and every figure (``survey.results.scripts``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from questionnaires import default_instruments
from questionnaires.model import Instrument, Item
from survey.db.tables import AGE_GROUPS, SEXES
from survey.results.compute import (
    ComputeError,
    WaveRef,
    load_registry,
    load_responses,
    prepare_wave,
    wave_by_id,
    wave_policy,
)
from survey.results.queries import community_units
from survey.results.statistics import (
    TRIM_FACTOR_LOWER,
    TRIM_FACTOR_UPPER,
    WaveInput,
    WeightingSummary,
    weight_stages,
)

SEX_LABELS: dict[int, str] = {1: "男", 2: "女"}
AGE_LABELS: dict[int, str] = {k + 1: f"{g} 岁" for k, g in enumerate(AGE_GROUPS)}
MODE_CODES: dict[str, int] = {"web": 1, "phone": 2, "import": 3}
MODE_LABELS: dict[int, str] = {1: "网络问卷", 2: "电话访问", 3: "导入（第三方数据）"}
LEVEL_LABELS: dict[str, str] = {
    "district": "区县",
    "street": "街道（乡镇）",
    "station": "派出所",
    "department": "政法部门",
}


@dataclass(frozen=True)
class Variable:
    """One column: ``name`` (ASCII, ≤ 32 characters: valid in SPSS, Stata and R), Chinese
    ``label``, ``kind`` (``number`` or ``text``), the option labels of its codes and the codes
    that mean don't-know or refused (``missing``)."""

    name: str
    label: str
    kind: Literal["number", "text"] = "number"
    value_labels: Mapping[int, str] = field(default_factory=dict)
    missing: tuple[int, ...] = ()


@dataclass(frozen=True)
class PublishedIndex:
    """How one published index is computed from the microdata's index columns.

    ``kind``: ``share`` (proportion of 1s, logit CI with the domain's df, published × 100),
    ``score`` (mean, t CI with the design's df) or ``composite`` (Σ weight × department mean per
    district, t CI with the design's df). ``columns``: the index column (one), or the department
    columns of a composite; ``weights``: the composite's weight per column; ``levels``: the unit
    levels it is published at (``station``/``street``/``district``)."""

    id: str
    name: str
    kind: Literal["share", "score", "composite"]
    columns: tuple[str, ...]
    levels: tuple[str, ...]
    weights: tuple[float, ...] = ()
    department: str = ""


@dataclass(frozen=True)
class Microdata:
    """The labelled table of a wave and what reproducing its figures needs."""

    wave: WaveRef
    variables: tuple[Variable, ...]
    records: tuple[dict[str, Any], ...]
    margins: tuple[dict[str, Any], ...]
    indices: tuple[PublishedIndex, ...]
    summary: WeightingSummary

    @property
    def stem(self) -> str:
        return f"microdata-{self.wave.programme_code}-{self.wave.month}"

    def variable(self, name: str) -> Variable:
        """The variable called ``name``; KeyError if none."""
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)


MARGIN_COLUMNS: tuple[str, ...] = (
    "margin", "district", "sex", "age_group", "population", "weighted_total",
)  # fmt: skip

TRIM_BOUNDS: tuple[float, float] = (TRIM_FACTOR_LOWER, TRIM_FACTOR_UPPER)


def margin_rows(
    data: WaveInput, weights: np.ndarray, district_code: str | None
) -> list[dict[str, Any]]:
    """The raking margins (adults by district × sex and district × age group, from the registry)
    beside the sum of the final weights in each cell — equal where calibration converged."""
    rows: list[dict[str, Any]] = []
    for d, code in enumerate(data.districts):
        in_district = data.district == d
        if (district_code is not None and code != district_code) or not in_district.any():
            continue
        for s, sex in enumerate(SEXES):
            rows.append({
                "margin": "区县×性别", "district": code, "sex": sex, "age_group": "",
                "population": float(data.population[d, s, :].sum()),
                "weighted_total": float(weights[in_district & (data.sex == s)].sum()),
            })  # fmt: skip
        for a, age in enumerate(AGE_GROUPS):
            rows.append({
                "margin": "区县×年龄段", "district": code, "sex": "", "age_group": age,
                "population": float(data.population[d, :, a].sum()),
                "weighted_total": float(weights[in_district & (data.age == a)].sum()),
            })  # fmt: skip
    return rows


def _design_variables() -> list[Variable]:
    return [
        Variable("response_id", "问卷编号（PSU）"),
        Variable("psu", "初级抽样单元（= 问卷编号）"),
        Variable("stratum", "抽样层（样本的层，无则为区县）", "text"),
        Variable("district", "区县代码", "text"),
        Variable("district_name", "区县", "text"),
        Variable("street", "街道（乡镇）代码", "text"),
        Variable("street_name", "街道（乡镇）", "text"),
        Variable("community", "社区（村）代码", "text"),
        Variable("community_name", "社区（村）", "text"),
        Variable("community_id", "社区（村）登记号", "number"),
        Variable("station", "派出所代码", "text"),
        Variable("station_name", "派出所", "text"),
        Variable("mode", "访问方式", value_labels=MODE_LABELS),
        Variable("sex", "性别", value_labels=SEX_LABELS),
        Variable("age_group", "年龄段", value_labels=AGE_LABELS),
        Variable("duration_seconds", "答题时长（秒）"),
        Variable("design_weight", "抽样设计权重（样本中存储的，无则为空）"),
        Variable("base_weight", "基础权重（设计权重或 1，按区县成年人口定标；耙权的起点）"),
        Variable("raked_weight", "耙权权重（修剪前）"),
        Variable("weight", "最终权重（修剪后再耙权；所有公布结果所用）"),
    ]


def _label(text: str) -> str:
    return " ".join(text.split())


def _item_variables(item: Item) -> list[tuple[Variable, str, int | None]]:
    """``(variable, item id, option code)``: one per item, or one 0/1 per option of a
    multiple-choice item."""
    if item.type == "multiple":
        return [
            (
                Variable(
                    f"{item.id}_{o.code}",
                    _label(f"{item.text}：{o.label}"),
                    value_labels={0: "未选", 1: "选中"},
                ),
                item.id,
                o.code,
            )
            for o in item.options
        ]
    if item.type == "text":
        return [(Variable(item.id, _label(item.text), "text"), item.id, None)]
    missing = tuple(o.code for o in item.options if o.dont_know or o.refused)
    labels = {o.code: o.label for o in item.options}
    return [
        (Variable(item.id, _label(item.text), value_labels=labels, missing=missing), item.id, None)
    ]


def _item_value(answer: Any, kind: str, code: int | None) -> Any:
    if code is not None:
        if answer is None:
            return None
        chosen = answer if isinstance(answer, list) else [answer]
        return 1 if code in chosen else 0
    if answer is None or answer == "":
        return None
    if kind == "text":
        return str(answer)
    try:
        return int(answer)
    except (TypeError, ValueError):
        return None


def _published_indices(
    instruments: Sequence[Instrument], data: WaveInput, department_names: Mapping[str, str]
) -> list[PublishedIndex]:
    out: list[PublishedIndex] = []
    seen: set[str] = set()
    by_id = {index.id: index for index in data.indices}
    for instrument in instruments:
        for definition in instrument.indices:
            if definition.id in seen:
                continue
            seen.add(definition.id)
            if definition.kind == "composite":
                component = by_id.get(definition.component or "")
                if component is None or not component.composite_weights:
                    continue
                codes = tuple(component.composite_weights)
                out.append(
                    PublishedIndex(
                        definition.id,
                        definition.name,
                        "composite",
                        tuple(f"{component.id}_{c}" for c in codes),
                        ("district",),
                        tuple(float(component.composite_weights[c]) for c in codes),
                    )
                )
                continue
            index = by_id.get(definition.id)
            if index is None:
                continue
            kind: Literal["share", "score"] = "share" if index.kind == "share" else "score"
            if index.departments:
                out.extend(
                    PublishedIndex(
                        f"{index.id}",
                        f"{index.name}（{department_names.get(code, name)}）",
                        kind,
                        (f"{index.id}_{code}",),
                        ("district",),
                        department=code,
                    )
                    for code, name in index.departments
                )
                continue
            levels: tuple[str, ...] = (index.unit_level,)
            if index.unit_level != "district":
                levels = (index.unit_level, "district")
            out.append(PublishedIndex(index.id, index.name, kind, (index.id,), levels))
    return out


async def load_microdata(
    wave_id: int, *, include_non_probability: bool = False, district_code: str | None = None
) -> Microdata:
    """The labelled microdata of a wave (the rows and weights ``compute_wave`` uses);
    ``district_code`` keeps only that district's interviews (the weights stay those of the
    whole wave)."""
    wave = await wave_by_id(wave_id)
    registry = await load_registry(wave.region_id)
    responses = await load_responses(wave.id, include_non_probability=include_non_probability)
    policy = await wave_policy(wave, recorded=True)
    try:
        prepared = prepare_wave(registry, responses, collapse_age_groups=policy.collapse_age_groups)
        data = prepared.data
        stages = weight_stages(data)
    except ValueError as exc:  # EstimationError (an empty weighting cell…) or a bad stored code
        raise ComputeError(f"加权失败，无法导出微观数据：{exc}") from exc
    levels = data.levels
    by_id = {r["id"]: r for r in responses.records()}
    communities = await community_units(sorted(set(responses["community"])))

    known = default_instruments()
    instruments: list[Instrument] = []
    for info in prepared.instruments:
        instrument = known[info["id"]]
        if registry.departments and any(ind.departments for ind in instrument.indices):
            instrument = instrument.with_departments(list(registry.departments))
        if all(i.id != instrument.id for i in instruments):
            instruments.append(instrument)

    variables = _design_variables()
    item_columns: list[tuple[Variable, str, int | None]] = []
    names = {v.name for v in variables}
    for instrument in instruments:
        for item in instrument.iter_items():
            for variable, item_id, code in _item_variables(item):
                if variable.name not in names:
                    names.add(variable.name)
                    item_columns.append((variable, item_id, code))
    variables.extend(v for v, _i, _c in item_columns)

    department_names = dict(registry.departments)
    index_columns: list[tuple[Variable, np.ndarray]] = []
    for index in data.indices:
        if index.values is not None:
            label = f"{index.name}（{'0/1' if index.kind == 'share' else '分'}）"
            index_columns.append((Variable(index.id, label), index.values))
        for dept, values in index.department_values.items():
            label = f"{index.name}：{department_names.get(dept, dept)}（分）"
            index_columns.append((Variable(f"{index.id}_{dept}", label), values))
    variables.extend(v for v, _values in index_columns)
    for v in variables:
        if len(v.name) > 32 or not v.name.isascii():
            raise ValueError(f"变量名 {v.name} 超过 32 个字符或含非 ASCII 字符，无法导出")

    district_levels = levels["district"]
    records: list[dict[str, Any]] = []
    for i, response_id in enumerate(prepared.response_ids):
        district = district_levels.codes[data.district[i]]
        if district_code is not None and district != district_code:
            continue
        source = by_id[response_id]
        answers = json.loads(source["answers"] or "{}")
        station_row = levels["station"].row_unit[i]
        street_row = levels["street"].row_unit[i]
        community = communities.get(int(source["community"]), ("", ""))
        row: dict[str, Any] = {
            "response_id": response_id,
            "psu": response_id,
            "stratum": source["stratum"] or district,
            "district": district,
            "district_name": district_levels.names[data.district[i]],
            "street": levels["street"].codes[street_row],
            "street_name": levels["street"].names[street_row],
            "community": community[0],
            "community_name": community[1],
            "community_id": source["community"],
            "station": levels["station"].codes[station_row] if station_row >= 0 else None,
            "station_name": levels["station"].names[station_row] if station_row >= 0 else None,
            "mode": MODE_CODES.get(source["mode"]),
            "sex": SEXES.index(source["sex"]) + 1,
            "age_group": AGE_GROUPS.index(source["age_group"]) + 1,
            "duration_seconds": source["duration_seconds"],
            "design_weight": (
                float(source["design_weight"]) if source["design_weight"] is not None else None
            ),
            "base_weight": float(stages.base[i]),
            "raked_weight": float(stages.raked[i]),
            "weight": float(stages.final[i]),
        }
        for variable, item_id, code in item_columns:
            row[variable.name] = _item_value(answers.get(item_id), variable.kind, code)
        for variable, values in index_columns:
            value = float(values[i])
            row[variable.name] = value if np.isfinite(value) else None
        records.append(row)
    return Microdata(
        wave=wave,
        variables=tuple(variables),
        records=tuple(records),
        margins=tuple(margin_rows(data, stages.final, district_code)),
        indices=tuple(_published_indices(instruments, data, department_names)),
        summary=stages.summary,
    )
