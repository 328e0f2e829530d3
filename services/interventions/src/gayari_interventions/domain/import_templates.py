"""The spreadsheets an agency imports its records from: one template per kind of record, its
columns (a header in Bahasa Indonesia over the machine key of each column), the values a
column takes and one example row. Pure: no I/O. See docs/spreadsheet-import.md.

A column's machine key is the API's field name where there is one (`amount_idr`), so a file
reads like the JSON body of the same record; the keys a spreadsheet adds are the agency's row
reference (`row_ref`), the family card number (`kk`, instead of `household_id`), a training
session by the row reference it was imported with (`session_ref`, instead of `session_id`) and
the one item line of an equipment grant (`item_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, get_args

from pydantic import BaseModel

from gayari_interventions.domain.budget import BudgetAllocationRequest
from gayari_interventions.domain.grants import GrantRequest
from gayari_interventions.domain.monitoring import BusinessSurveyRequest, MentoringVisitRequest
from gayari_interventions.domain.training import (
    AttendanceRequest,
    CompletionRequest,
    ParticipationRequest,
    TrainingSessionRequest,
)
from gayari_shared.events.interventions import InterventionType

ImportKind = Literal[
    "grants",
    "training-sessions",
    "training-participants",
    "training-attendance",
    "training-completions",
    "mentoring-visits",
    "business-surveys",
    "budget-allocations",
]
IMPORT_KINDS: Final[tuple[ImportKind, ...]] = get_args(ImportKind)
# How a cell is read (see domain.import_rows): text of one line, free text (line breaks
# allowed), a whole number, a calendar day, an id, or one of a fixed set of values.
CellKind = Literal["text", "notes", "integer", "date", "uuid", "choice"]


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the machine key: the second header row
    label: str  # the header in Bahasa Indonesia: the first header row
    kind: CellKind
    required: bool
    example: str | int | date | None
    # For a choice: (the value shown in the drop-down list, the API's value), e.g. a grant's
    # kind "modal" is "capital". The API's own values are taken too.
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""  # in Bahasa Indonesia, on the template's sheet of instructions

    def choice(self, text: str) -> str | None:
        wanted = text.strip().lower()
        for shown, value in self.choices:
            if wanted in (shown, value):
                return value
        return None


@dataclass(frozen=True, slots=True)
class Template:
    kind: ImportKind
    title: str  # of the data sheet, in Bahasa Indonesia
    intervention_type: InterventionType
    request: type[BaseModel]  # the API's body of one record
    columns: tuple[Column, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns)

    @property
    def for_household(self) -> bool:
        return "kk" in self.keys

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def label(self, key: str) -> str:
        column = self.column(key)
        return key if column is None else column.label


ROW_REF: Final = "row_ref"
# Rows whose reference starts so are the template's example: reported as skipped, never
# recorded, so a template uploaded with its example still in it records nothing by mistake.
EXAMPLE_PREFIX: Final = "CONTOH"

_ROW_REF = Column(
    ROW_REF,
    "Referensi baris",
    "text",
    True,
    "CONTOH-1",
    hint="Kode baris milik instansi Anda, unik per jenis catatan (maks. 64 karakter). "
    "Mengunggah baris yang sama lagi tidak mengubah apa pun; baris yang diperbaiki "
    "membatalkan catatan lama dan mencatat yang baru.",
)
_KK = Column(
    "kk",
    "Nomor KK",
    "text",
    False,
    "6209030101260001",
    hint="16 angka, diketik sebagai teks. Isi Nomor KK atau ID rumah tangga.",
)
_HOUSEHOLD_ID = Column(
    "household_id",
    "ID rumah tangga",
    "uuid",
    False,
    None,
    hint="ID rumah tangga dari registri GAYARI, bila Nomor KK tidak diisi.",
)
_SESSION_REF = Column(
    "session_ref",
    "Referensi baris sesi",
    "text",
    False,
    "CONTOH-SESI-1",
    hint="Referensi baris sesi pada impor sesi pelatihan Anda. Isi ini atau ID sesi.",
)
_SESSION_ID = Column(
    "session_id", "ID sesi", "uuid", False, None, hint="ID sesi pelatihan, bila tidak diimpor."
)
_MEMBER_ID = Column(
    "member_id",
    "ID anggota rumah tangga",
    "uuid",
    True,
    "00000000-0000-4000-8000-000000000001",
    hint="ID anggota dari registri GAYARI.",
)
# Who, in which session: the columns of a participant, its attendance and its completion.
_PARTICIPANT: Final = (_ROW_REF, _SESSION_REF, _SESSION_ID, _KK, _HOUSEHOLD_ID, _MEMBER_ID)
_FISCAL_YEAR = Column("fiscal_year", "Tahun anggaran", "integer", False, 2026)
_BUDGET_LINE = Column("budget_line", "Kode rekening", "text", False, "5.1.05.05.01.0001")
_EXAMPLE_DAY: Final = date(2026, 11, 3)

TEMPLATES: Final[dict[ImportKind, Template]] = {
    t.kind: t
    for t in (
        Template(
            "grants",
            "Hibah",
            "grant",
            GrantRequest,
            (
                _ROW_REF,
                _KK,
                _HOUSEHOLD_ID,
                Column(
                    "kind",
                    "Jenis hibah",
                    "choice",
                    True,
                    "modal",
                    choices=(("modal", "capital"), ("peralatan", "equipment")),
                ),
                Column(
                    "amount_idr",
                    "Jumlah (Rp)",
                    "integer",
                    False,
                    2_500_000,
                    hint="Wajib untuk hibah modal; untuk hibah peralatan boleh kosong.",
                ),
                Column(
                    "item_description",
                    "Uraian barang",
                    "text",
                    False,
                    None,
                    hint="Hibah peralatan: satu jenis barang per baris.",
                ),
                Column("item_quantity", "Banyak barang", "integer", False, None),
                Column("item_unit", "Satuan", "text", False, None),
                Column("item_unit_value_idr", "Harga satuan (Rp)", "integer", False, None),
                Column("purpose", "Tujuan", "text", True, "Modal usaha warung sembako"),
                _FISCAL_YEAR,
                _BUDGET_LINE,
                Column(
                    "issued_on",
                    "Tanggal penyerahan",
                    "date",
                    False,
                    _EXAMPLE_DAY,
                    hint="Hari hibah diserahkan, bila dicatat kemudian; kosong: hari ini. Tahun "
                    "anggaran yang kosong mengikuti hari ini.",
                ),
            ),
        ),
        Template(
            "training-sessions",
            "Sesi pelatihan",
            "training-session",
            TrainingSessionRequest,
            (
                Column(
                    ROW_REF,
                    "Referensi baris",
                    "text",
                    True,
                    "CONTOH-SESI-1",
                    hint=_ROW_REF.hint
                    + " Peserta, kehadiran dan kelulusan menyebut sesi dengan kode ini.",
                ),
                Column("topic", "Topik", "text", True, "Budidaya ikan nila"),
                Column("starts_on", "Tanggal mulai", "date", True, _EXAMPLE_DAY),
                Column("ends_on", "Tanggal selesai", "date", True, date(2026, 11, 5)),
                Column("hours", "Jumlah jam", "integer", True, 24),
                Column("place", "Tempat", "text", True, "Balai Desa Bukit Raya"),
            ),
        ),
        Template(
            "training-participants",
            "Peserta pelatihan",
            "training-participant",
            ParticipationRequest,
            _PARTICIPANT,
        ),
        Template(
            "training-attendance",
            "Kehadiran pelatihan",
            "training-attendance",
            AttendanceRequest,
            (
                *_PARTICIPANT,
                Column(
                    "attended_on",
                    "Tanggal hadir",
                    "date",
                    True,
                    date(2026, 11, 4),
                    hint="Satu baris per peserta per hari hadir, di antara tanggal mulai dan "
                    "tanggal selesai sesi.",
                ),
            ),
        ),
        Template(
            "training-completions",
            "Kelulusan pelatihan",
            "training-completion",
            CompletionRequest,
            (
                *_PARTICIPANT,
                Column("completed_on", "Tanggal lulus", "date", True, date(2026, 11, 5)),
            ),
        ),
        Template(
            "mentoring-visits",
            "Kunjungan pendampingan",
            "mentoring-visit",
            MentoringVisitRequest,
            (
                _ROW_REF,
                _KK,
                _HOUSEHOLD_ID,
                Column("visited_on", "Tanggal kunjungan", "date", True, _EXAMPLE_DAY),
                Column(
                    "business_status",
                    "Status usaha",
                    "choice",
                    True,
                    "berjalan",
                    choices=(
                        ("belum mulai", "not-started"),
                        ("berjalan", "running"),
                        ("berkembang", "growing"),
                        ("macet", "stalled"),
                        ("tutup", "closed"),
                    ),
                ),
                Column("notes", "Catatan", "notes", False, "Warung buka setiap hari"),
            ),
        ),
        Template(
            "business-surveys",
            "Survei usaha",
            "business-survey",
            BusinessSurveyRequest,
            (
                _ROW_REF,
                _KK,
                _HOUSEHOLD_ID,
                Column("surveyed_on", "Tanggal survei", "date", True, _EXAMPLE_DAY),
                Column(
                    "monthly_income_idr", "Pendapatan per bulan (Rp)", "integer", True, 3_000_000
                ),
                Column(
                    "workers",
                    "Jumlah pekerja",
                    "integer",
                    True,
                    2,
                    hint="Orang yang bekerja di usaha ini, termasuk pemilik.",
                ),
            ),
        ),
        Template(
            "budget-allocations",
            "Alokasi anggaran",
            "budget-allocation",
            BudgetAllocationRequest,
            (
                _ROW_REF,
                Column("fiscal_year", "Tahun anggaran", "integer", True, 2026),
                Column("amount_idr", "Jumlah (Rp)", "integer", True, 1_500_000_000),
                _BUDGET_LINE,
            ),
        ),
    )
}

# What the result spreadsheet adds after the agency's own columns: (key, label).
RESULT_COLUMNS: Final = (
    ("row", "Baris"),
    ("status", "Status"),
    ("record_id", "ID catatan"),
    ("column", "Kolom"),
    ("reason_id", "Alasan"),
    ("reason_en", "Reason (English)"),
)
