"""Spreadsheet files of the import: the templates, reading an uploaded XLSX, and writing the result
(the agency's rows with what became of each) as XLSX or CSV.

An XLSX is a zip: it is read from a file on disk (the upload spooled there) in openpyxl's
read-only mode, a row at a time, and the result is written in write-only mode, whose rows go to
a temporary file as they are added; neither holds the whole sheet in memory.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Final, Protocol

from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.datavalidation import DataValidation  # type: ignore[import-untyped]

from gayari_interventions.domain.import_rows import STATUS_TEXT, Header, RowOutcome
from gayari_interventions.domain.import_templates import RESULT_COLUMNS, Column, Template

XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV: Final = "text/csv"
# How far down a template's drop-down lists and formats reach.
TEMPLATE_ROWS: Final = 10_000
_FORMATS: Final = {"text": "@", "uuid": "@", "choice": "@", "notes": "@", "date": "yyyy-mm-dd"}
_BOLD: Final = Font(bold=True)
_KEY: Final = Font(italic=True, color="595959")
_REFUSED: Final = PatternFill("solid", fgColor="F8D7DA")


class SpreadsheetError(ValueError):
    """The file is not a spreadsheet this import can read."""


def _letter(index: int) -> str:
    return str(get_column_letter(index + 1))


def template_xlsx(template: Template) -> bytes:
    """The template: labels over machine keys, one example row, a drop-down list on each column
    of fixed values, text and date formats where typing would otherwise be misread, and a sheet
    of instructions (each column's key, whether it is required, its values)."""
    book = Workbook()
    sheet = book.active
    sheet.title = template.title
    sheet.append([c.label for c in template.columns])
    sheet.append([c.key for c in template.columns])
    sheet.append([c.example for c in template.columns])
    for index, column in enumerate(template.columns):
        letter = _letter(index)
        sheet[f"{letter}1"].font = _BOLD
        sheet[f"{letter}2"].font = _KEY
        sheet.column_dimensions[letter].width = max(14, len(column.label) + 4)
        # The column's format, not its cells': what is typed into it takes it (a KK as
        # text), and rows appended below the example follow it directly.
        number_format = _FORMATS.get(column.kind, "0")
        sheet.column_dimensions[letter].number_format = number_format
        sheet[f"{letter}3"].number_format = number_format
        cells = f"{letter}3:{letter}{TEMPLATE_ROWS + 2}"
        if column.choices:
            shown = ",".join(s for s, _ in column.choices)
            validation = DataValidation(
                type="list", formula1=f'"{shown}"', allow_blank=not column.required
            )
            validation.error = f"Pilih salah satu: {shown}"
            validation.errorTitle = column.label
        elif column.kind == "integer":
            validation = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
            validation.error = "Isi bilangan bulat (tanpa titik atau Rp)"
            validation.errorTitle = column.label
        elif column.kind == "date":
            validation = DataValidation(
                type="date", operator="greaterThan", formula1="DATE(2000,1,1)"
            )
            validation.error = "Isi tanggal"
            validation.errorTitle = column.label
        else:
            continue
        validation.showErrorMessage = True
        sheet.add_data_validation(validation)
        validation.add(cells)
    sheet.freeze_panes = "A3"
    _instructions(book.create_sheet("Petunjuk"), template)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _instructions(sheet: Any, template: Template) -> None:
    sheet.append(["Kolom", "Kunci", "Wajib", "Isi", "Keterangan"])
    for cell in sheet[1]:
        cell.font = _BOLD
    for column in template.columns:
        sheet.append(
            [column.label, column.key, "ya" if column.required else "", _what(column), column.hint]
        )
    sheet.append([])
    sheet.append(
        [
            "Baris 1: judul kolom; baris 2: kunci kolom (jangan diubah); data mulai baris 3. "
            "Baris yang referensinya diawali CONTOH dilewati."
        ]
    )
    for letter, width in zip("ABCDE", (26, 22, 8, 40, 90), strict=True):
        sheet.column_dimensions[letter].width = width


def _what(column: Column) -> str:
    match column.kind:
        case "integer":
            return "bilangan bulat, sel angka (tanpa titik atau Rp)"
        case "date":
            return "tanggal (sel tanggal, atau teks TTTT-BB-HH)"
        case "uuid":
            return "ID (UUID), teks"
        case "choice":
            return "salah satu dari: " + ", ".join(s for s, _ in column.choices)
        case "notes":
            return "teks bebas (boleh beberapa baris)"
        case _:
            return "teks"


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def template_csv(template: Template) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.label for c in template.columns])
    writer.writerow([c.key for c in template.columns])
    writer.writerow([_csv_value(c.example) for c in template.columns])
    return out.getvalue()


# -- reading an uploaded XLSX -------------------------------------------------------------


class XlsxRows:
    """The rows of the first sheet of a workbook on disk, a batch at a time (each a blocking
    read: call it from a thread)."""

    def __init__(self, path: Path) -> None:
        try:
            self._book = load_workbook(path, read_only=True, data_only=True)
            sheet = self._book.worksheets[0]
        except Exception as exc:  # zipfile, XML and openpyxl's own errors alike: not XLSX
            raise SpreadsheetError(f"not an XLSX workbook: {type(exc).__name__}") from exc
        self._rows: Iterator[tuple[object, ...]] = sheet.iter_rows(values_only=True)
        self.number = 0  # of the last row read

    def take(self, count: int) -> list[tuple[int, tuple[object, ...]]]:
        """The next `count` rows (fewer at the end), with their numbers."""
        taken = []
        try:
            for values in islice(self._rows, count):
                self.number += 1
                taken.append((self.number, values))
        except Exception as exc:
            raise SpreadsheetError(f"row {self.number + 1}: {type(exc).__name__}") from exc
        return taken

    def close(self) -> None:
        self._book.close()


def blank(values: Sequence[object]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


# -- writing the result ------------------------------------------------------------------


def _result_values(
    template: Template, number: int, outcome: RowOutcome
) -> tuple[int, str, str, str, str, str]:
    columns = ", ".join(dict.fromkeys(e.column for e in outcome.errors))
    if outcome.errors:
        indonesian = "; ".join(
            f"Kolom «{template.label(e.column)}» ({e.column}): {e.reason.id}"
            if e.column != "row"
            else e.reason.id
            for e in outcome.errors
        )
        english = "; ".join(
            f"Column {e.column}: {e.reason.en}" if e.column != "row" else e.reason.en
            for e in outcome.errors
        )
    elif outcome.note is not None:
        indonesian, english = outcome.note.id, outcome.note.en
    else:
        indonesian = english = ""
    record = "" if outcome.record_id is None else str(outcome.record_id)
    return number, STATUS_TEXT[outcome.status], record, columns, indonesian, english


class ResultWriter(Protocol):
    media_type: str

    def header(self, template: Template, header: Header) -> None: ...

    def row(
        self, template: Template, number: int, values: Sequence[object], outcome: RowOutcome
    ) -> None: ...

    def close(self) -> Path:
        """The finished file (the caller removes it)."""
        ...


def _labels(template: Template, header: Header) -> list[object]:
    if header.labels is not None:
        return list(header.labels) + [None] * (len(header.keys) - len(header.labels))
    return [template.label(k) if k else None for k in header.keys]


def _temporary(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="gayari-import-", suffix=suffix)
    os.close(fd)
    return Path(name)


class CsvResult:
    media_type = CSV

    def __init__(self) -> None:
        self._path = _temporary(".csv")
        self._file = self._path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\r\n")
        self._width = 0

    def header(self, template: Template, header: Header) -> None:
        self._width = len(header.keys)
        self._writer.writerow([*map(_csv_value, _labels(template, header)), *_result_labels()])
        self._writer.writerow([*header.keys, *(key for key, _ in RESULT_COLUMNS)])

    def row(
        self, template: Template, number: int, values: Sequence[object], outcome: RowOutcome
    ) -> None:
        own = [_csv_value(v) for v in values[: self._width]]
        own += [""] * (self._width - len(own))
        self._writer.writerow([*own, *map(str, _result_values(template, number, outcome))])

    def close(self) -> Path:
        self._file.close()
        return self._path


def _result_labels() -> list[str]:
    return [label for _, label in RESULT_COLUMNS]


def _cell(sheet: Any, value: object, **style: Any) -> Any:
    """What a write-only sheet's row takes for the value: the value itself (the quick way), or
    a cell when it needs a style or is text that would otherwise be read as a formula."""
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        value = text
        if text.startswith("="):
            cell = WriteOnlyCell(sheet, value=text)
            cell.data_type = "s"  # the agency's text, never a formula
            for name, setting in style.items():
                setattr(cell, name, setting)
            return cell
    if not style:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


class XlsxResult:
    media_type = XLSX

    def __init__(self) -> None:
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet("Hasil")
        self._width = 0

    def header(self, template: Template, header: Header) -> None:
        self._width = len(header.keys)
        labels = [*_labels(template, header), *_result_labels()]
        keys = [*header.keys, *(key for key, _ in RESULT_COLUMNS)]
        self._sheet.append([_cell(self._sheet, v, font=_BOLD) for v in labels])
        self._sheet.append([_cell(self._sheet, v, font=_KEY) for v in keys])

    def row(
        self, template: Template, number: int, values: Sequence[object], outcome: RowOutcome
    ) -> None:
        own = list(values[: self._width]) + [None] * (self._width - len(values))
        style = {"fill": _REFUSED} if outcome.status == "refused" else {}
        result = _result_values(template, number, outcome)
        self._sheet.append(
            [
                *(_cell(self._sheet, v) for v in own),
                *(_cell(self._sheet, v, **style) for v in result),
            ]
        )

    def close(self) -> Path:
        path = _temporary(".xlsx")
        self._book.save(path)
        return path


# -- the CLI's parts of a file --------------------------------------------------------------


class XlsxRowsOut:
    """Rows written to a new XLSX as they come (write-only), each value as read: a part of an
    agency's file, or the CLI's whole result."""

    def __init__(self, title: str = "Hasil") -> None:
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title)

    def append(self, values: Sequence[object]) -> None:
        self._sheet.append([_cell(self._sheet, value) for value in values])

    def save(self, target: Path | io.BytesIO) -> None:
        self._book.save(target)


def xlsx_part(rows: Sequence[Sequence[object]]) -> bytes:
    out, book = io.BytesIO(), XlsxRowsOut("Data")
    for values in rows:
        book.append(values)
    book.save(out)
    return out.getvalue()


def xlsx_values(content: bytes) -> list[tuple[object, ...]]:
    """Every row of the first sheet of an XLSX held in memory (a result of one part)."""
    book = load_workbook(io.BytesIO(content), read_only=True)
    try:
        return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
