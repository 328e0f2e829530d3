"""CSV and XLSX renderings of a table.

CSV is for machines: RFC 4180, UTF-8, plain numbers; or, in the Indonesian dialect, for a
spreadsheet set to Indonesian. Both are made a chunk at a time, in constant memory. XLSX is
for people in the regency office, so Rupiah and counts carry Indonesian number formats. A
format code in the file is locale independent (',' groups thousands, '.' marks decimals); the
`[$Rp-421]` locale tag (0x0421 is Indonesian) tells the spreadsheet to show it the Indonesian
way, "Rp 1.500.000".
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from typing import Final, Literal

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from gayari_reporting.domain.tables import Cell, ColumnKind, Table

CsvDialect = Literal["plain", "id"]
CHUNK_BYTES: Final = 64 * 1024
# A workbook up to this size is saved in memory, a larger one in a temporary file.
SPOOL_BYTES: Final = 1024 * 1024
RUPIAH_FORMAT: Final = "[$Rp-421] #,##0"
COUNT_FORMAT: Final = "#,##0"
PERCENT_FORMAT: Final = "0.00%"
DATE_FORMAT: Final = "dd/mm/yyyy"
_FORMATS: Final[dict[ColumnKind, str]] = {
    "idr": RUPIAH_FORMAT,
    "count": COUNT_FORMAT,
    "percent": PERCENT_FORMAT,
    "date": DATE_FORMAT,
}


def csv_chunks(table: Table, dialect: CsvDialect = "plain") -> Iterator[bytes]:
    """The table as CSV, a chunk at a time: as many rows as the table yields, in the memory of
    one chunk. "plain" is RFC 4180 for machines (',' between fields, '.' for decimals); "id" is
    what a spreadsheet set to Indonesian reads (';' between fields, ',' for decimals), with a
    byte-order mark so that it takes the file as UTF-8."""
    indonesian = dialect == "id"
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";" if indonesian else ",", lineterminator="\r\n")
    if indonesian:
        out.write("\ufeff")
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(v, indonesian=indonesian) for v in row])
        if out.tell() >= CHUNK_BYTES:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _csv_cell(value: Cell, *, indonesian: bool) -> Cell:
    if value is None:
        return ""
    if indonesian and isinstance(value, float):
        return repr(value).replace(".", ",")
    return value


def to_csv(table: Table, dialect: CsvDialect = "plain") -> bytes:
    return b"".join(csv_chunks(table, dialect))


def xlsx_chunks(table: Table) -> Iterator[bytes]:
    """The table as an XLSX workbook, a chunk at a time, in constant memory: openpyxl's
    write-only mode writes the rows to a temporary file as they come, and the workbook is
    saved into a file that spills to disk beyond a megabyte, then read back a chunk at a time.
    An XLSX is a zip whose directory comes last, so its first byte goes out once the last row
    is written."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.title[:31])  # Excel's limit on sheet names
    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.name) + 2)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_styled(sheet, c.name, font=bold) for c in table.columns])
    formats = [_FORMATS.get(c.kind) for c in table.columns]
    percent = [c.kind == "percent" for c in table.columns]
    for values in table.rows:
        row: list[object] = []
        for value, number_format, is_percent in zip(values, formats, percent, strict=True):
            # Percentages are stored as fractions so that the % format shows them right.
            stored = value / 100 if is_percent and isinstance(value, int | float) else value
            row.append(stored if number_format is None else _styled(sheet, stored, number_format))
        sheet.append(row)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as out:
        workbook.save(out)
        out.seek(0)
        while chunk := out.read(CHUNK_BYTES):
            yield chunk


def _styled(
    sheet: object, value: Cell, number_format: str | None = None, font: Font | None = None
) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if number_format is not None:
        cell.number_format = number_format
    if font is not None:
        cell.font = font
    return cell


def to_xlsx(table: Table) -> bytes:
    return b"".join(xlsx_chunks(table))
