"""CSV and XLSX renderings of a table.

CSV is for machines: RFC 4180, UTF-8, plain numbers. XLSX is for people in the regency office,
so Rupiah and counts carry Indonesian number formats. A format code in the file is locale
independent (',' groups thousands, '.' marks decimals); the `[$Rp-421]` locale tag (0x0421 is
Indonesian) tells the spreadsheet to show it the Indonesian way, "Rp 1.500.000".
"""

from __future__ import annotations

import csv
import io
from typing import Final

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from gayari_reporting.domain.tables import Cell, ColumnKind, Table

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


def to_csv(table: Table) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode()


def to_xlsx(table: Table) -> bytes:
    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = table.title[:31]  # Excel's limit on sheet names
    sheet.append([c.name for c in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in table.rows:
        row: list[Cell] = []
        for column, value in zip(table.columns, values, strict=True):
            # Percentages are stored as fractions so that the % format shows them right.
            if column.kind == "percent" and isinstance(value, int | float):
                row.append(value / 100)
            else:
                row.append(value)
        sheet.append(row)
    for index, column in enumerate(table.columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, len(column.name) + 2)
        number_format = _FORMATS.get(column.kind)
        if number_format is None:
            continue
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = number_format
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
