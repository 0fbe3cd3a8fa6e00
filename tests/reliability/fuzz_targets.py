"""Fuzz targets shared by tests/reliability/test_fuzz.py (a few hundred inputs) and
scripts/reliability/fuzz.py (≥ 10,000): every loader that reads a user's file, fed arbitrary
bytes, CSV built from the format's own vocabulary, and mutations of a valid file.

Each target returns normally (the input was valid) or raises one of the loader's *expected*
rejection types with a message that names what is wrong (non-empty, Chinese, no traceback text).
Any other exception is a defect: :func:`run_target` re-raises it as ``UnexpectedError``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from questionnaires import InstrumentError, shipped_instrument_paths
from questionnaires.loader import build_instrument
from survey.cli_errors import CommandError
from survey.design.frames import check_blocks, check_frame
from survey.design.regions import DesignError, Region, RegionUnit
from survey.ranking import PolicyError, load_policy_text, policies_dir
from survey.registry.model import ExistingRegistry, validate_registry
from survey.tabular import ImportRejected, Problem, read_table


class UnexpectedError(AssertionError):
    """A loader raised something other than its documented rejection, or an unclear message."""


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def check_message(message: str, where: str) -> None:
    """A rejection message must say something, in Chinese, without a Python traceback."""
    if not message.strip() or not _has_chinese(message) or "Traceback" in message:
        raise UnexpectedError(f"{where}: unclear rejection message {message!r}")


def check_problems(problems: list[Problem], where: str) -> None:
    for p in problems:
        check_message(p.message, where)
        if p.row < 0:
            raise UnexpectedError(f"{where}: problem without a row: {p}")


# ----------------------------------------------------------------------------- a small region

_UNITS = [
    RegionUnit(1, "990102", "南城区", "district", "990102", "", ""),
    RegionUnit(2, "990102001", "城关街道", "street", "990102", "990102001", ""),
    RegionUnit(3, "990102002", "东门街道", "street", "990102", "990102002", ""),
    RegionUnit(4, "990102001001", "和平社区", "community", "990102", "990102001", "S1"),
    RegionUnit(5, "990102001002", "幸福社区", "community", "990102", "990102001", "S2"),
    RegionUnit(6, "990102002001", "光明社区", "community", "990102", "990102002", "S1"),
]
REGION = Region(
    id=1,
    code="990102",
    name="南城区",
    units={u.code: u for u in _UNITS},
    stations={"S1": "城关派出所", "S2": "东门派出所"},
)

# ----------------------------------------------------------------------------- vocabulary

CELLS = [
    "", " ", "0", "1", "-1", "2", "8", "9", "99", "1.5", "1e309", "nan", "NaN", "inf", "-0",
    "13900001234", "1390000123", "139000012345", "+8613900001234", "139 0000 1234", "10086",
    "990102", "990102001", "990102001001", "990102002001", "990103", "S1", "S2", "x", "男", "女",
    "M", "F", "18-29", "30-44", "45-59", "60+", "17", "区", "街道", "社区", "派出所", "部门",
    "city", "district", "street", "community", "station", "department", "138", "中国移动",
    "=cmd|' /C calc'!A0", "\x00", "é", "𠀀", "\u202e", "a,b", '"', "\n", "9" * 40,
]  # fmt: skip
FRAME_COLUMNS = ["unit", "phone", "household_id", "stratum", "extra", ""]
BLOCK_COLUMNS = ["prefix", "carrier", "district", "type", "block", ""]
REGISTRY_COLUMNS = [
    "kind", "code", "name", "parent_code", "station_code", "sort_order",
    "M_18-29", "M_30-44", "M_45-59", "M_60+", "F_18-29", "F_30-44", "F_45-59", "F_60+", "",
]  # fmt: skip
MARGIN_COLUMNS = ["sex", "age", "district", "Freq", "freq", ""]


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


def csv_from(columns: list[str]) -> st.SearchStrategy[bytes]:
    """CSV files whose header and cells come from the format's vocabulary (ragged rows too)."""
    header = st.lists(st.sampled_from(columns), min_size=0, max_size=len(columns) + 1)
    cell = st.one_of(st.sampled_from(CELLS), st.text(max_size=12))
    return st.builds(
        csv_bytes,
        header,
        st.lists(st.lists(cell, min_size=0, max_size=len(columns) + 2), max_size=12),
    )


def mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """A valid file with lines dropped, repeated or cut short, or a byte changed."""
    lines = valid.split(b"\n")

    def mutate(ops: list[tuple[int, int, int]]) -> bytes:
        out = list(lines)
        for op, i, b in ops:
            if not out:
                break
            i %= len(out)
            if op == 0:
                del out[i]
            elif op == 1:
                out.insert(i, out[i])
            elif op == 2:
                out[i] = out[i][: b % (len(out[i]) + 1)]
            else:
                row = bytearray(out[i] or b"x")
                row[b % len(row)] = b % 256
                out[i] = bytes(row)
        return b"\n".join(out)

    op = st.tuples(st.integers(0, 3), st.integers(0, 1000), st.integers(0, 10_000))
    return st.builds(mutate, st.lists(op, min_size=1, max_size=4))


def file_inputs(columns: list[str], valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), csv_from(columns), mutations(valid))


# ----------------------------------------------------------------------------- targets


def _table(name: str, data: bytes) -> object | None:
    """``read_table`` or None when it rejects the file (with a clear message)."""
    try:
        return read_table(name, data)
    except ImportRejected as exc:
        check_problems(exc.problems, name)
        check_message(str(exc), name)
        return None


VALID_FRAME = csv_bytes(
    ["unit", "phone"],
    [["990102001001", "13900001234"], ["990102001002", "13900001235"],
     ["990102002001", "13900001236"]],
)  # fmt: skip
VALID_BLOCKS = csv_bytes(["prefix", "carrier", "district"], [["1390000", "中国移动", "990102"]])


def frame_target(data: bytes, kind: str = "phone", stratify_by: str = "street") -> bool:
    """An uploaded sampling frame (CSV): read, then checked against the region."""
    table = _table("frame.csv", data)
    if table is None:
        return False
    try:
        _rows, problems = check_frame(table, REGION, kind, stratify_by)  # type: ignore[arg-type]
    except DesignError as exc:
        check_message(str(exc), "frame")
        return False
    check_problems(problems, "frame")
    return not problems


def blocks_target(data: bytes) -> bool:
    """An uploaded 号段表 (number blocks)."""
    table = _table("blocks.csv", data)
    if table is None:
        return False
    try:
        _rows, problems = check_blocks(table, REGION)  # type: ignore[arg-type]
    except DesignError as exc:
        check_message(str(exc), "blocks")
        return False
    check_problems(problems, "blocks")
    return not problems


def _valid_registry() -> bytes:
    from survey.demo import registry_csv

    text = registry_csv().decode("utf-8").splitlines()
    return ("\n".join(text[:40]) + "\n").encode()


VALID_REGISTRY = _valid_registry()


def registry_target(data: bytes) -> bool:
    """A registry file (regions, stations, departments, population counts)."""
    table = _table("registry.csv", data)
    if table is None:
        return False
    _plan, problems = validate_registry(table, ExistingRegistry())  # type: ignore[arg-type]
    check_problems(problems, "registry")
    return not problems


SHIPPED_INSTRUMENTS = [p.read_text(encoding="utf-8") for p in shipped_instrument_paths()]
SHIPPED_POLICIES = [p.read_text(encoding="utf-8") for p in sorted(policies_dir().glob("*.toml"))]


def questionnaire_target(text: str) -> bool:
    """A questionnaire TOML file."""
    try:
        build_instrument(text, "fuzz.toml")
    except InstrumentError as exc:
        check_message(str(exc), "questionnaire")
        return False
    return True


def policy_target(text: str) -> bool:
    """A ranking policy TOML file."""
    try:
        load_policy_text(text, "fuzz.toml")
    except PolicyError as exc:
        check_message(str(exc), "policy")
        return False
    return True


def text_inputs(shipped: list[str]) -> st.SearchStrategy[str]:
    """Any text, or a shipped file with lines dropped, repeated or cut."""
    return st.one_of(
        st.text(max_size=200),
        st.sampled_from(shipped).flatmap(
            lambda s: mutations(s.encode()).map(lambda b: b.decode("utf-8", "replace"))
        ),
    )


SAMPLE_DATA = csv_bytes(
    ["w", "y", "sex", "age", "district"],
    [["10", "1", "1", "1", "A"], ["12", "0", "2", "1", "A"], ["9", "1", "1", "2", "B"],
     ["11", "1", "2", "2", "B"], ["8", "0", "1", "1", "B"], ["10", "1", "2", "2", "A"]],
)  # fmt: skip
VALID_MARGIN = csv_bytes(["sex", "Freq"], [["1", "500"], ["2", "520"]])


@dataclass
class _TempFiles:
    directory: str

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return path


_TMP = _TempFiles(tempfile.mkdtemp(prefix="pingan-fuzz-"))


def margin_target(data: bytes) -> bool:
    """``survey estimate DATA --weight w --proportion y=1 --rake MARGIN.csv`` with a fuzzed
    margin file: exit 0, or one clear line and exit 1 (``CommandError``)."""
    from survey.cli import main

    margin = _TMP.write("margin.csv", data)
    sample = _TMP.write("sample.csv", SAMPLE_DATA)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = main(
                ["estimate", sample, "--weight", "w", "--proportion", "y=1", "--rake", margin]
            )
    except CommandError as exc:  # main() turns these into exit 1; kept for safety
        check_message(str(exc), "margin")
        return False
    except SystemExit as exc:  # argparse
        raise UnexpectedError(f"margin: argparse exit {exc.code}") from exc
    text = sink.getvalue()
    if code not in (0, 1):
        raise UnexpectedError(f"margin: exit {code}: {text!r}")
    if code == 1:
        line = text.strip()
        if "\n" in line:
            raise UnexpectedError(f"margin: more than one line: {text!r}")
        check_message(line, "margin")
    return code == 0


TARGETS: dict[str, tuple[Callable[..., bool], st.SearchStrategy[object]]] = {
    "questionnaire": (questionnaire_target, text_inputs(SHIPPED_INSTRUMENTS)),
    "policy": (policy_target, text_inputs(SHIPPED_POLICIES)),
    "frame": (frame_target, file_inputs(FRAME_COLUMNS, VALID_FRAME)),
    "blocks": (blocks_target, file_inputs(BLOCK_COLUMNS, VALID_BLOCKS)),
    "margin": (margin_target, file_inputs(MARGIN_COLUMNS, VALID_MARGIN)),
    "registry": (registry_target, file_inputs(REGISTRY_COLUMNS, VALID_REGISTRY)),
}


def run_target(name: str, value: object) -> bool:
    """Run one target on one input: True if accepted, False if rejected clearly; anything else
    is raised as ``UnexpectedError`` naming the target and the input."""
    fn, _ = TARGETS[name]
    try:
        return fn(value)
    except UnexpectedError:
        raise
    except Exception as exc:
        raise UnexpectedError(
            f"{name}: unexpected {type(exc).__name__}: {exc} for input {value!r:.300}"
        ) from exc
