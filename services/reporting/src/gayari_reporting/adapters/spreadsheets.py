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
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from gayari_reporting.domain.tables import Cell, Column, ColumnKind, Table

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


class CsvRows:
    """CSV, a batch of rows at a time. "plain" is RFC 4180 for machines (',' between fields,
    '.' for decimals); "id" is what a spreadsheet set to Indonesian reads (';' between fields,
    ',' for decimals), with a byte-order mark so that it takes the file as UTF-8."""

    def __init__(self, columns: Sequence[Column], dialect: CsvDialect = "plain") -> None:
        self._indonesian = dialect == "id"
        self._out = io.StringIO(newline="")
        delimiter = ";" if self._indonesian else ","
        self._writer = csv.writer(self._out, delimiter=delimiter, lineterminator="\r\n")
        if self._indonesian:
            self._out.write("\ufeff")
        self._writer.writerow([c.name for c in columns])

    def add(self, row: Sequence[Cell]) -> None:
        indonesian = self._indonesian
        self._writer.writerow([_csv_cell(v, indonesian=indonesian) for v in row])

    @property
    def pending(self) -> int:
        return self._out.tell()

    def take(self) -> bytes:
        """What was written since the last take."""
        text = self._out.getvalue()
        self._out.seek(0)
        self._out.truncate()
        return text.encode()


def csv_chunks(table: Table, dialect: CsvDialect = "plain") -> Iterator[bytes]:
    """The table as CSV, a chunk at a time, in the memory of one chunk."""
    rows = CsvRows(table.columns, dialect)
    for row in table.rows:
        rows.add(row)
        if rows.pending >= CHUNK_BYTES:
            yield rows.take()
    yield rows.take()


def _csv_cell(value: Cell, *, indonesian: bool) -> Cell:
    if value is None:
        return ""
    if indonesian and isinstance(value, float):
        return repr(value).replace(".", ",")
    return value


def to_csv(table: Table, dialect: CsvDialect = "plain") -> bytes:
    return b"".join(csv_chunks(table, dialect))


class XlsxBook:
    """An XLSX workbook of one sheet, in constant memory: openpyxl's write-only mode writes the
    rows to a temporary file as they come; the workbook is saved into a file that spills to
    disk beyond a megabyte, then read back a chunk at a time. An XLSX is a zip whose directory
    comes last, so its first byte goes out once the last row is written."""

    def __init__(self, title: str, columns: Sequence[Column]) -> None:
        self._workbook = Workbook(write_only=True)
        sheet = self._workbook.create_sheet(title[:31])  # Excel's limit on sheet names
        for index, column in enumerate(columns, start=1):
            width = max(12, len(column.name) + 2)
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        sheet.append([_styled(sheet, c.name, font=bold) for c in columns])
        self._sheet = sheet
        self._formats = [_FORMATS.get(c.kind) for c in columns]
        self._percent = [c.kind == "percent" for c in columns]

    def add(self, rows: Iterable[Sequence[Cell]]) -> None:
        sheet = self._sheet
        for values in rows:
            row: list[object] = []
            for value, fmt, is_percent in zip(values, self._formats, self._percent, strict=True):
                # Percentages are stored as fractions so that the % format shows them right.
                stored = value / 100 if is_percent and isinstance(value, int | float) else value
                row.append(stored if fmt is None else _styled(sheet, stored, fmt))
            sheet.append(row)

    def chunks(self) -> Iterator[bytes]:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as out:
            self._workbook.save(out)
            out.seek(0)
            while chunk := out.read(CHUNK_BYTES):
                yield chunk


def xlsx_chunks(table: Table) -> Iterator[bytes]:
    """The table as an XLSX workbook, a chunk at a time, in constant memory (XlsxBook)."""
    book = XlsxBook(table.title, table.columns)
    book.add(table.rows)
    yield from book.chunks()


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
