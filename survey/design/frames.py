"""Import of sampling frames and number-block lists (号段表) into a wave.

A file is read with :func:`survey.tabular.read_table`, every row is checked, and only a file
without any problem is written — in one transaction, so nothing is ever half-imported. Every
problem is reported as ``第N行, 列 X: …`` (see ``docs/frame-format.md``). Importing a file whose
content is already a frame of the wave returns that frame and writes nothing.

The frame's fingerprint (:func:`sampling.frame_fingerprint`) is taken over the stored canonical
columns in row order — ``unit, stratum, household_id, phone`` for a frame and
``prefix, carrier, district`` for a block list — so it can be recomputed from the database when a
sample is verified.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from sampling import block_problem, frame_fingerprint, normalize_number, number_problem, parse_block
from survey import audit
from survey.db import lock_row, write_transaction
from survey.db.tables import Wave
from survey.design.bulk import bulk_insert
from survey.design.regions import (
    STRATIFY_BY,
    DesignError,
    Region,
    load_region,
    load_wave,
    require_open,
)
from survey.design.tables import Frame, FrameRow, Sample, SampledElement
from survey.tabular import ImportRejected, Problem, Table, read_upload, require_columns
from survey.waves import WaveRef

FRAME_KINDS: dict[str, str] = {"household": "住户名单", "phone": "电话号码名单"}
FRAME_HEADER = ("unit", "stratum", "household_id", "phone")
BLOCK_HEADER = ("prefix", "carrier", "district")
_MAX_TEXT = 60


@dataclass(frozen=True, slots=True)
class FrameSummary:
    """What an import stored (or found already stored): the frame and its size."""

    frame_id: int
    kind: str
    rows: int
    strata: int
    fingerprint: str
    created: bool

    def describe(self) -> str:
        what = "号段表" if self.kind == "blocks" else FRAME_KINDS.get(self.kind, self.kind)
        state = "已导入" if self.created else "与已有的抽样框相同，未重复导入"
        unit = "个号段" if self.kind == "blocks" else "行"
        return (
            f"{what} #{self.frame_id} {state}：{self.rows} {unit}，{self.strata} 层，"
            f"指纹 {self.fingerprint[:12]}"
        )


@dataclass(frozen=True, slots=True)
class _Row:
    row_number: int
    unit_id: int
    unit_code: str
    stratum: str
    household_id: str
    phone: str
    extra: str


def _stratum_of(
    unit_code: str, region: Region, stratify_by: str, given: str
) -> tuple[str, str | None]:
    """(stratum, problem) for a row's unit under the frame's stratification."""
    unit = region.units[unit_code]
    if stratify_by == "column":
        if not given:
            return "", "层为空（按 stratum 列分层时每行必须填写）"
        if len(given) > _MAX_TEXT:
            return "", f"层名称超过 {_MAX_TEXT} 个字符"
        return given, None
    if stratify_by == "street":
        return (unit.street_code, None) if unit.street_code else ("", "单位不在任何街道/乡镇之下")
    if unit.level != "community":
        what = "派出所" if stratify_by == "station" else "社区/村"
        return "", f"按{what}分层时必须填写社区/村代码，「{unit_code}」是{_LEVELS[unit.level]}"
    if stratify_by == "station":
        if not unit.station_code:
            return "", f"社区「{unit_code} {unit.name}」没有对应的派出所"
        return unit.station_code, None
    return unit.code, None


_LEVELS = {"city": "市级单位", "district": "区县", "street": "街道/乡镇", "community": "社区/村"}


def check_frame(
    table: Table, region: Region, kind: str, stratify_by: str
) -> tuple[list[_Row], list[Problem]]:
    """Every problem of a frame file, and its rows when there is none."""
    if kind not in FRAME_KINDS:
        raise DesignError(f"未知的抽样框类型「{kind}」（可选: {', '.join(FRAME_KINDS)}）")
    if stratify_by not in STRATIFY_BY:
        raise DesignError(f"未知的分层方式「{stratify_by}」（可选: {', '.join(STRATIFY_BY)}）")
    required = ["unit", "phone"]
    if kind == "household":
        required.append("household_id")
    if stratify_by == "column":
        required.append("stratum")
    problems = require_columns(table, required)
    if problems:
        return [], problems
    if not table.rows:
        return [], [Problem(2, "", "文件没有数据行")]
    extra_columns = [h for h in table.header if h and h not in FRAME_HEADER]
    rows: list[_Row] = []
    seen_phone: dict[str, int] = {}
    seen_household: dict[str, int] = {}
    for number, cells in table.rows:
        code = cells["unit"]
        stratum = ""
        unit_id = 0
        if not code:
            problems.append(Problem(number, "unit", "单位代码为空"))
        elif code not in region.units:
            problems.append(
                Problem(number, "unit", f"未知的单位代码「{code}」（不在 {region.name} 的区划中）")
            )
        elif region.units[code].level not in ("street", "community"):
            level = _LEVELS.get(region.units[code].level, region.units[code].level)
            problems.append(
                Problem(number, "unit", f"「{code}」是{level}，请填写社区/村或街道/乡镇代码")
            )
        else:
            unit_id = region.units[code].id
            stratum, problem = _stratum_of(code, region, stratify_by, cells.get("stratum", ""))
            if problem:
                column = "stratum" if stratify_by == "column" else "unit"
                problems.append(Problem(number, column, problem))
        phone = cells["phone"]
        bad = number_problem(phone) if phone else "电话号码为空"
        if bad:
            problems.append(Problem(number, "phone", bad))
        else:
            phone = normalize_number(phone)
            if phone in seen_phone:
                problems.append(Problem(number, "phone", f"号码与第{seen_phone[phone]}行重复"))
            seen_phone.setdefault(phone, number)
        household = cells.get("household_id", "")
        if kind == "household":
            if not household:
                problems.append(Problem(number, "household_id", "住户编号为空"))
            elif len(household) > _MAX_TEXT:
                problems.append(Problem(number, "household_id", f"超过 {_MAX_TEXT} 个字符"))
            elif household in seen_household:
                problems.append(
                    Problem(
                        number,
                        "household_id",
                        f"住户编号「{household}」与第{seen_household[household]}行重复",
                    )
                )
            seen_household.setdefault(household, number)
        extra = {c: cells[c] for c in extra_columns if cells.get(c)}
        rows.append(
            _Row(
                number,
                unit_id,
                code,
                stratum,
                household,
                phone,
                json.dumps(extra, ensure_ascii=False),
            )
        )
    return ([] if problems else rows), problems


def check_blocks(table: Table, region: Region) -> tuple[list[_Row], list[Problem]]:
    """Every problem of a block list (prefix, carrier, district), and its rows when none."""
    problems = require_columns(table, BLOCK_HEADER)
    if problems:
        return [], problems
    if not table.rows:
        return [], [Problem(2, "", "文件没有数据行")]
    districts = region.districts()
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        prefix, carrier, district = cells["prefix"], cells["carrier"], cells["district"]
        kind = ""
        bad = block_problem(prefix) if prefix else "号段为空"
        if bad:
            problems.append(Problem(number, "prefix", bad))
        else:
            block = parse_block(prefix)
            kind = block.kind
            if block.dial_prefix in seen:
                problems.append(
                    Problem(
                        number, "prefix", f"号段「{prefix}」与第{seen[block.dial_prefix]}行重复"
                    )
                )
            seen.setdefault(block.dial_prefix, number)
        if not carrier:
            problems.append(Problem(number, "carrier", "运营商为空"))
        elif len(carrier) > _MAX_TEXT:
            problems.append(Problem(number, "carrier", f"超过 {_MAX_TEXT} 个字符"))
        unit_id = 0
        if not district:
            problems.append(Problem(number, "district", "区县代码为空"))
        elif district not in districts:
            problems.append(
                Problem(
                    number, "district", f"未知的区县代码「{district}」（不在 {region.name} 中）"
                )
            )
        else:
            unit_id = districts[district].id
        rows.append(
            _Row(
                number,
                unit_id,
                district,
                f"{district}-{kind}",
                "",
                prefix,
                json.dumps({"carrier": carrier}, ensure_ascii=False),
            )
        )
    return ([] if problems else rows), problems


def _canonical(kind: str, rows: Sequence[_Row]) -> tuple[tuple[str, ...], list[list[str]]]:
    if kind == "blocks":
        return BLOCK_HEADER, [[r.phone, json.loads(r.extra)["carrier"], r.unit_code] for r in rows]
    return FRAME_HEADER, [[r.unit_code, r.stratum, r.household_id, r.phone] for r in rows]


async def _store(
    wave: WaveRef, kind: str, stratify_by: str, name: str, rows: list[_Row], username: str
) -> FrameSummary:
    header, canonical = _canonical(kind, rows)
    fingerprint = frame_fingerprint(header, canonical)
    strata = len({r.stratum for r in rows})
    async with write_transaction():
        # Two imports of one file at once: the second waits here, then finds the first's frame.
        await lock_row(Wave, wave.id)
        existing = (
            await Frame.select(Frame.id)
            .where(
                (Frame.wave == wave.id)
                & (Frame.fingerprint == fingerprint)
                & (Frame.kind == kind)
                & (Frame.stratify_by == stratify_by)
            )
            .first()
        )
        if existing is not None:
            return FrameSummary(int(existing["id"]), kind, len(rows), strata, fingerprint, False)
        result = await Frame.insert(
            Frame(
                wave=wave.id,
                name=name[:200],
                kind=kind,
                stratify_by=stratify_by,
                fingerprint=fingerprint,
                row_count=len(rows),
                created_by=username,
            )
        ).returning(Frame.id)
        frame_id = int(result[0]["id"])
        await bulk_insert(
            FrameRow,
            ("frame", "row_number", "unit", "stratum", "phone", "household_id", "extra"),
            [
                (frame_id, r.row_number, r.unit_id, r.stratum, r.phone, r.household_id, r.extra)
                for r in rows
            ],
        )
        await audit.record(
            username,
            "import-frame" if kind != "blocks" else "import-blocks",
            f"wave {wave.id} frame {frame_id}: {name} ({len(rows)} rows, {fingerprint})",
        )
    return FrameSummary(frame_id, kind, len(rows), strata, fingerprint, True)


async def import_frame_table(
    wave_id: int,
    table: Table,
    *,
    kind: str = "phone",
    stratify_by: str = "street",
    username: str = "",
) -> FrameSummary:
    """Check and store a frame (households or phone numbers with their unit) for a wave.

    Raises ``ImportRejected`` listing every bad row (nothing written) or ``DesignError``."""
    wave = await load_wave(wave_id)
    require_open(wave)
    region = await load_region(wave.region_id)
    # Pure CPU over every row: on a worker thread, so a large file stalls no other request.
    rows, problems = await anyio.to_thread.run_sync(check_frame, table, region, kind, stratify_by)
    if problems:
        raise ImportRejected(table.source, problems)
    return await _store(wave, kind, stratify_by, Path(table.source).name, rows, username)


async def import_frame_file(
    wave_id: int,
    path: str | Path,
    data: bytes | None = None,
    *,
    kind: str = "phone",
    stratify_by: str = "street",
    username: str = "",
) -> FrameSummary:
    """Read a CSV/XLSX frame file (``data`` for uploads) and import it (see ``import_frame_table``)."""
    return await import_frame_table(
        wave_id,
        await read_upload(path, data),
        kind=kind,
        stratify_by=stratify_by,
        username=username,
    )


async def import_blocks_table(wave_id: int, table: Table, *, username: str = "") -> FrameSummary:
    """Check and store a number-block list (号段表) for a wave; raises ``ImportRejected``."""
    wave = await load_wave(wave_id)
    require_open(wave)
    region = await load_region(wave.region_id)
    rows, problems = check_blocks(table, region)
    if problems:
        raise ImportRejected(table.source, problems)
    return await _store(wave, "blocks", "", Path(table.source).name, rows, username)


async def import_blocks_file(
    wave_id: int, path: str | Path, data: bytes | None = None, *, username: str = ""
) -> FrameSummary:
    """Read a CSV/XLSX block list and import it (see ``import_blocks_table``)."""
    return await import_blocks_table(wave_id, await read_upload(path, data), username=username)


async def purge_phones(wave_id: int, *, dry_run: bool = False) -> tuple[int, int]:
    """Blank the residents' numbers of a wave's frames and sampled elements (rows stay, so frame
    sizes and samples stay countable); returns how many (frame rows, elements) held one. Number
    block lists (号段表, kind ``blocks``) hold carriers' prefixes, not residents' numbers: they
    stay, so number samples can still be redrawn block by block. ``survey.lifecycle.retention``
    calls it inside its transaction."""
    frames = Frame.select(Frame.id).where((Frame.wave == wave_id) & (Frame.kind != "blocks"))
    samples = Sample.select(Sample.id).where(Sample.wave == wave_id)
    rows = await FrameRow.count().where(FrameRow.frame.is_in(frames) & (FrameRow.phone != ""))
    elements = await SampledElement.count().where(
        SampledElement.sample.is_in(samples) & (SampledElement.phone != "")
    )
    if not dry_run:
        await FrameRow.update({FrameRow.phone: ""}).where(FrameRow.frame.is_in(frames))
        await SampledElement.update({SampledElement.phone: ""}).where(
            SampledElement.sample.is_in(samples)
        )
    return rows, elements
