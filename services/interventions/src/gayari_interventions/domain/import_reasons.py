"""Why a spreadsheet row was refused, in Bahasa Indonesia and in English. Pure: no I/O.

The English is the API's own message (a rule's, pydantic's); the Indonesian says the same in
the office's words, for the rules an agency meets, and else that the rule is in the English
column. The column is named beside it by the result spreadsheet (adapters.spreadsheets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Reason:
    id: str  # Bahasa Indonesia
    en: str


_CELL: Final[dict[str, tuple[str, str]]] = {
    "missing": ("wajib diisi", "is required"),
    "boolean": ("berisi TRUE/FALSE, bukan nilai kolom ini", "holds TRUE/FALSE, not this value"),
    "fraction": ("harus bilangan bulat", "must be a whole number"),
    "digits": (
        "harus bilangan bulat yang ditulis dengan angka 0-9 saja (tanpa titik, koma, Rp)",
        "must be a whole number written in the digits 0-9 only (no dots, commas or Rp)",
    ),
    "text-number": (
        "sel berisi teks: ketik sebagai angka (tanpa titik, koma, Rp)",
        "the cell is text: type it as a number (no dots, commas or Rp)",
    ),
    "not-number": ("harus angka", "must be a number"),
    "time-of-day": ("harus tanggal saja, tanpa jam", "must be a day, without a time of day"),
    "date": (
        "harus sel tanggal atau teks TTTT-BB-HH (misalnya 2026-11-03)",
        "must be a date cell or text written YYYY-MM-DD (e.g. 2026-11-03)",
    ),
    "number-date": (
        "sel berisi angka, bukan tanggal: format sel sebagai tanggal",
        "the cell is a number, not a date: format the cell as a date",
    ),
    "choice": ("harus salah satu dari: {}", "must be one of: {}"),
    "not-text": (
        "sel berisi angka atau tanggal: kolom ini berisi teks",
        "the cell is a number or date: this column takes text",
    ),
    "number-text": (
        "Nomor KK diketik sebagai angka dan sudah dibulatkan oleh spreadsheet: ketik sebagai "
        "teks (format sel Teks)",
        "the KK was typed as a number, which the spreadsheet rounds: type it as text (format "
        "the cell as Text)",
    ),
    "kk": ("Nomor KK harus 16 angka", "a KK is 16 digits"),
    "uuid": ("harus ID (UUID) yang sah", "must be a valid id (UUID)"),
    "one-of": ("isi kolom ini atau kolom {}, salah satu saja", "fill this column or {}, not both"),
    "duplicate": (
        "referensi baris sudah dipakai di baris {} berkas ini",
        "the row reference is used already on row {} of this file",
    ),
    "kk-unknown": (
        "tidak ada rumah tangga dengan Nomor KK ini di layanan intervensi (belum terdaftar, "
        "atau terdaftar sebelum pencarian KK tersedia: pakai ID rumah tangga)",
        "no household with this KK is known to the interventions service (not registered, or "
        "registered before KKs could be looked up: use the household id)",
    ),
    "kk-ambiguous": (
        "lebih dari satu rumah tangga dengan Nomor KK ini: pakai ID rumah tangga",
        "more than one household has this KK: use the household id",
    ),
    "session-unknown": (
        "tidak ada sesi pelatihan yang Anda impor dengan referensi ini",
        "no training session you imported has this reference",
    ),
}


def cell_reason(code: str, argument: str = "") -> Reason:
    indonesian, english = _CELL[code]
    return Reason(indonesian.format(argument), english.format(argument))


def _ctx(error: Mapping[str, Any], name: str) -> str:
    return str((error.get("ctx") or {}).get(name, ""))


_VALIDATION: Final[dict[str, str]] = {
    "missing": "wajib diisi",
    "int_type": "harus bilangan bulat",
    "int_parsing": "harus bilangan bulat",
    "string_type": "harus teks",
    "string_too_short": "wajib diisi",
    "string_too_long": "paling banyak {max_length} karakter",
    "greater_than": "harus lebih dari {gt}",
    "greater_than_equal": "paling kecil {ge}",
    "less_than": "harus kurang dari {lt}",
    "less_than_equal": "paling besar {le}",
    "too_long": "terlalu banyak",
    "literal_error": "harus salah satu dari: {expected}",
    "uuid_parsing": "harus ID (UUID) yang sah",
    "uuid_type": "harus ID (UUID) yang sah",
    "date_from_datetime_parsing": "harus tanggal yang ada, TTTT-BB-HH",
    "date_parsing": "harus tanggal yang ada, TTTT-BB-HH",
    "date_type": "harus tanggal TTTT-BB-HH",
}


def validation_reason(error: Mapping[str, Any]) -> Reason:
    """A pydantic error of the request, in both languages."""
    template = _VALIDATION.get(str(error.get("type")))
    english = str(error.get("msg", "invalid"))
    if template is None:
        if "control character" in english:
            return Reason("berisi karakter kontrol (tak terlihat): hapus", english)
        return Reason(f"nilai tidak sah ({english})", english)
    names = re.findall(r"{(\w+)}", template)
    return Reason(template.format(**{n: _ctx(error, n) for n in names}), english)


# The rules of the records (domain.*) an agency meets, by their English message.
_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), indonesian)
    for pattern, indonesian in (
        (r"is in the future", "tanggal ini belum terjadi (di masa depan)"),
        (r"before the household's registration", "sebelum rumah tangga terdaftar di GAYARI"),
        (r"before the household's enrolment", "sebelum rumah tangga ikut program GAYARI"),
        (r"has not begun yet", "tahun anggaran ini belum dimulai"),
        (r"has exited GAYARI", "rumah tangga sudah keluar dari GAYARI"),
        (r"registered but not enrolled", "rumah tangga terdaftar tetapi belum ikut GAYARI"),
        (r"is unknown: the registry never", "rumah tangga tidak dikenal registri"),
        (r"a capital grant has an amount, not items", "hibah modal diisi jumlah, bukan barang"),
        (r"a capital grant needs its amount", "hibah modal wajib diisi jumlahnya (Rp)"),
        (r"an equipment grant lists its items", "hibah peralatan wajib diisi uraian barangnya"),
        (r"is not the sum of the items", "tidak sama dengan banyak barang x harga satuan"),
        (r"the items add up to", "nilai barang melebihi batas satu hibah"),
        (r"cannot end before it starts", "sesi tidak boleh selesai sebelum mulai"),
        (r"is unknown or voided", "sesi pelatihan tidak dikenal atau sudah dibatalkan"),
        (r"is not a participant", "bukan peserta sesi pelatihan ini"),
        (r"is not a member of household", "bukan anggota rumah tangga ini"),
        (r"the session only starts on", "sebelum sesi pelatihan dimulai"),
        (r"the session runs from", "di luar tanggal mulai dan selesai sesi pelatihan"),
        (r"already takes part", "sudah menjadi peserta sesi ini"),
        (r"already completed", "sudah tercatat lulus"),
        (r"is already recorded", "sudah tercatat"),
        (r"not known to the interventions service yet", "rumah tangga belum dikenal"),
        (r"known to the interventions service as registered", "rumah tangga belum ikut GAYARI"),
        (r"belongs to", "milik instansi lain"),
    )
)


def rule_reason(message: str, *, retry: bool = False) -> Reason:
    """A rule's refusal, in both languages; `retry` when the same row may pass later (the
    household's events have not reached the service yet)."""
    indonesian = next(
        (text for pattern, text in _RULES if pattern.search(message)),
        "ditolak oleh aturan program (lihat alasan dalam bahasa Inggris)",
    )
    if retry:
        indonesian += "; unggah baris ini lagi beberapa saat lagi"
    return Reason(indonesian, message)
