"""Hostile upload files (finding 2), shared by the tests and scripts/reliability/hostile_uploads.py:
each is small on the wire and expensive to read without caps."""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:XFD1048576"/><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _xlsx(sheet_chunks: object) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode())
            for chunk in sheet_chunks:  # type: ignore[attr-defined]
                sheet.write(chunk)
            sheet.write(_SHEET_TAIL.encode())
    return out.getvalue()


def _rows(start: int, count: int) -> bytes:
    return "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x</t></is></c></row>'
        for r in range(start, start + count)
    ).encode()


def wide_csv(columns: int = 1_000_000) -> bytes:
    """One header line of ``columns`` distinct names (7.9 MB for a million)."""
    return (",".join(f"c{i}" for i in range(columns)) + "\n").encode()


def deep_xlsx(rows: int = 200_000) -> bytes:
    """An XLSX of ``rows`` one-cell rows (≈ 30 KB packed, ≈ 10 MB of XML for 200,000)."""
    return _xlsx(
        _rows(start, min(10_000, rows - start + 1)) for start in range(1, rows + 1, 10_000)
    )


def zip_bomb_xlsx(unpacked_mb: int = 1_000) -> bytes:
    """An XLSX whose sheet unpacks to ``unpacked_mb`` MB of blank padding (≈ 1 MB packed per GB)."""
    block = b" " * (1 << 20)
    return _xlsx(block for _ in range(unpacked_mb))


def huge_cells_csv(cells: int = 4, chars: int = 2_000_000) -> bytes:
    """A header and one row whose ``cells`` cells hold ``chars`` characters each."""
    header = ",".join(f"c{i}" for i in range(cells))
    row = ",".join("x" * chars for _ in range(cells))
    return f"{header}\n{row}\n".encode()


HOSTILE_FILES = {
    "wide.csv": wide_csv,
    "deep.xlsx": deep_xlsx,
    "bomb.xlsx": zip_bomb_xlsx,
    "huge-cells.csv": huge_cells_csv,
}
