"""Exports made a chunk at a time: an XLSX in constant memory (tracemalloc's peak while it is
written: the spooled workbook's megabyte, whatever the rows), and CSV in the plain and the
Indonesian dialect."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date, timedelta

import openpyxl  # type: ignore[import-untyped]

from gayari_reporting.adapters.spreadsheets import (
    RUPIAH_FORMAT,
    SPOOL_BYTES,
    csv_chunks,
    to_csv,
    xlsx_chunks,
)
from gayari_reporting.domain.tables import Cell, Column, Table

COLUMNS = [
    Column("village_code", "text"),
    Column("household_id", "text"),
    Column("idr_disbursed", "idr"),
    Column("days_without", "count"),
    Column("realisation_percent", "percent"),
    Column("last_contact", "date"),
]


def rows(count: int) -> list[list[Cell]]:
    first = date(2026, 1, 1)
    return [
        [
            f"62.09.0{i % 8 + 1}.20{i % 100:02d}",
            f"6f1c4e0e-7d3a-4b8e-9c51-{i:012d}",
            1_500_000 + i,
            90 + i % 300,
            12.5 + i % 7 / 4,
            first + timedelta(days=i % 365),
        ]
        for i in range(count)
    ]


def test_an_xlsx_of_20000_rows_is_written_in_constant_memory() -> None:
    # 20,000 rows, not more: tracemalloc slows openpyxl fivefold.
    table = Table("unserved", COLUMNS, rows(20_000))
    written = 0
    tracemalloc.start()
    try:
        for chunk in xlsx_chunks(table):
            written += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The whole workbook in memory (openpyxl's default mode) takes tens of megabytes here.
    assert peak < SPOOL_BYTES + 2 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    assert written > 512 * 1024  # compressed: about 36 bytes a row


def test_a_streamed_xlsx_keeps_its_formats() -> None:
    table = Table("unserved", COLUMNS, rows(3))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_chunks(table)))).active
    assert [c.value for c in sheet[1]] == [c.name for c in COLUMNS]
    assert sheet.cell(1, 1).font.bold
    assert sheet.cell(2, 3).value == 1_500_000
    assert sheet.cell(2, 3).number_format == RUPIAH_FORMAT
    assert sheet.cell(2, 5).value == 0.125
    assert sheet.cell(4, 6).value.date() == date(2026, 1, 3)
    assert sheet.freeze_panes == "A2"


def test_the_indonesian_csv_parses_back_with_semicolons_and_decimal_commas() -> None:
    table = Table("unserved", COLUMNS, [*rows(2), ["62.09", None, 0, 0, None, None]])
    text = to_csv(table, "id").decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert parsed[0] == [c.name for c in COLUMNS]
    assert parsed[1][2] == "1500000" and parsed[1][4] == "12,5"
    assert float(parsed[2][4].replace(",", ".")) == 12.75
    assert parsed[2][5] == "2026-01-02"
    assert parsed[3] == ["62.09", "", "0", "0", "", ""]
    plain = list(csv.reader(io.StringIO(to_csv(table).decode(), newline="")))
    assert plain[1][4] == "12.5" and not to_csv(table).startswith(b"\xef\xbb\xbf")


def test_a_large_csv_comes_in_chunks() -> None:
    chunks = list(csv_chunks(Table("unserved", COLUMNS, rows(20_000)), "id"))
    assert len(chunks) > 10
    assert all(len(c) < 80 * 1024 for c in chunks)
