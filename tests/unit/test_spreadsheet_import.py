"""The pure parts of the spreadsheet import: templates, the strict reading of cells, a row's
request and the column each error names, headers, fingerprints and row ids, bilingual reasons.
(Uploads against the running services: tests/e2e/test_spreadsheet_import.py.)"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gayari_interventions.adapters.spreadsheets import (
    CsvResult,
    XlsxResult,
    template_csv,
    template_xlsx,
)
from gayari_interventions.domain.grants import Grant, GrantRequest
from gayari_interventions.domain.households import KnownHousehold
from gayari_interventions.domain.import_reasons import Reason, rule_reason
from gayari_interventions.domain.import_rows import (
    CellError,
    Header,
    ParsedRow,
    RowError,
    RowOutcome,
    Status,
    Tally,
    find_header,
    fingerprint,
    parse_row,
    read_cell,
    request_of,
    row_external_id,
)
from gayari_interventions.domain.import_templates import IMPORT_KINDS, TEMPLATES, Column, Template
from gayari_interventions.domain.training import AttendanceRequest
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_interventions.service_layer.imports import ImportDeps, SheetRow, import_rows
from gayari_shared.hashing import keyed_hash
from tests.unit.fakes.interventions import FakeInterventions

GRANTS = TEMPLATES["grants"]


def column(template: Template, key: str) -> Column:
    found = template.column(key)
    assert found is not None
    return found


AMOUNT = column(GRANTS, "amount_idr")
KK = column(GRANTS, "kk")
KIND = column(GRANTS, "kind")
SURVEYED = column(TEMPLATES["business-surveys"], "surveyed_on")
HOUSEHOLD = uuid.UUID("0b6f5a8e-8f51-4c64-9d0e-7b3b2f1f0a11")


def refused(column: Any, raw: object, source: str = "xlsx") -> str:
    with pytest.raises(CellError) as caught:
        read_cell(column, raw, source)  # type: ignore[arg-type]
    return caught.value.reason.en


@pytest.mark.parametrize("kind", IMPORT_KINDS)
def test_each_template_reads_back_labels_keys_and_an_example_that_is_skipped(kind: str) -> None:
    template = TEMPLATES[kind]  # type: ignore[index]
    book = load_workbook(io.BytesIO(template_xlsx(template)))
    sheet = book.worksheets[0]
    labels, keys, example = list(sheet.iter_rows(values_only=True))
    assert list(keys) == [c.key for c in template.columns]
    assert list(labels) == [c.label for c in template.columns]
    header = find_header(template, labels, keys)
    assert isinstance(header, Header) and header.rows == 2
    parsed = parse_row(template, header.cells(example), "xlsx")
    assert isinstance(parsed, ParsedRow), parsed
    assert parsed.example
    # Every fixed set of values has its drop-down list, with the values shown.
    validations = sheet.data_validations.dataValidation
    lists = {next(iter(v.sqref.ranges)).min_col: v.formula1 for v in validations}
    for index, column in enumerate(template.columns, start=1):
        if column.choices:
            assert lists[index] == '"' + ",".join(s for s, _ in column.choices) + '"'
    assert book.sheetnames[1] == "Petunjuk"
    assert len(template_csv(template).splitlines()) == 3


def test_a_number_column_takes_numbers_and_digits_only_never_text_typed_as_numbers() -> None:
    assert read_cell(AMOUNT, "2500000", "csv") == 2_500_000
    assert read_cell(AMOUNT, 2_500_000, "xlsx") == 2_500_000
    # A spreadsheet stores every number as a double: 2500000.0 is the same cell.
    assert read_cell(AMOUNT, 2_500_000.0, "xlsx") == 2_500_000
    assert "digits 0-9" in refused(AMOUNT, "2.500.000", "csv")
    assert "digits 0-9" in refused(AMOUNT, "Rp 2500000", "csv")
    assert "the cell is text" in refused(AMOUNT, "2500000", "xlsx")
    assert "whole number" in refused(AMOUNT, 2.5)
    assert "TRUE/FALSE" in refused(AMOUNT, True)
    assert read_cell(AMOUNT, "  ", "csv") is None  # blank


def test_a_date_column_takes_a_date_cell_or_iso_text() -> None:
    assert read_cell(SURVEYED, datetime(2026, 11, 3), "xlsx") == date(2026, 11, 3)
    assert read_cell(SURVEYED, date(2026, 11, 3), "xlsx") == date(2026, 11, 3)
    assert read_cell(SURVEYED, "2026-11-03", "csv") == "2026-11-03"
    assert "without a time" in refused(SURVEYED, datetime(2026, 11, 3, 9, 30))
    assert "YYYY-MM-DD" in refused(SURVEYED, "03/11/2026", "csv")
    assert "not a date" in refused(SURVEYED, 46329)


def test_a_text_column_refuses_numbers_and_a_kk_typed_as_a_number_says_why() -> None:
    assert read_cell(KK, " 6209031204900001 ", "xlsx") == "6209031204900001"
    assert "rounds" in refused(KK, 6209031204900001)
    assert "takes text" in refused(column(GRANTS, "purpose"), 12)


def test_a_fixed_set_takes_the_shown_values_and_the_apis_own() -> None:
    assert read_cell(KIND, "Modal", "csv") == "capital"
    assert read_cell(KIND, "equipment", "csv") == "equipment"
    assert refused(KIND, "hibah") == "must be one of: modal, peralatan"


def cells(**values: object) -> dict[str, object]:
    return {"row_ref": "G-1", "kind": "modal", "amount_idr": 1_000, "purpose": "Modal", **values}


def test_a_household_is_named_by_kk_or_by_id_not_both_nor_neither() -> None:
    assert isinstance(parse_row(GRANTS, cells(kk="6209031204900001"), "xlsx"), ParsedRow)
    assert isinstance(parse_row(GRANTS, cells(household_id=str(HOUSEHOLD)), "xlsx"), ParsedRow)
    both = parse_row(GRANTS, cells(kk="6209031204900001", household_id=str(HOUSEHOLD)), "xlsx")
    neither = parse_row(GRANTS, cells(), "xlsx")
    assert [e.column for e in both] == [e.column for e in neither] == ["kk"]  # type: ignore[union-attr]
    short = parse_row(GRANTS, cells(kk="62090312"), "xlsx")
    assert [(e.column, e.reason.en) for e in short] == [("kk", "a KK is 16 digits")]  # type: ignore[union-attr]
    no_ref = parse_row(GRANTS, {**cells(kk="6209031204900001"), "row_ref": None}, "xlsx")
    assert [e.column for e in no_ref] == ["row_ref"]  # type: ignore[union-attr]


def test_every_bad_cell_of_a_row_is_reported_not_only_the_first() -> None:
    errors = parse_row(GRANTS, cells(kk=6209031204900001, amount_idr="1000", kind="x"), "xlsx")
    assert isinstance(errors, list)
    assert {e.column for e in errors} == {"kk", "kind", "amount_idr"}


def test_an_equipment_row_is_one_item_line_and_its_errors_name_the_item_columns() -> None:
    row = parse_row(
        GRANTS,
        cells(
            kk="6209031204900001",
            kind="peralatan",
            amount_idr=None,
            item_description="Bibit ikan nila",
            item_quantity=0,
            item_unit="ekor",
            item_unit_value_idr=300,
        ),
        "xlsx",
    )
    assert isinstance(row, ParsedRow)
    errors = request_of(GRANTS, row, HOUSEHOLD, None)
    assert isinstance(errors, list)
    assert [e.column for e in errors] == ["item_quantity"]
    assert errors[0].reason.id == "harus lebih dari 0"
    fixed = request_of(
        GRANTS,
        ParsedRow(
            row.ref,
            {**row.fields, "items": [{**row.fields["items"][0], "quantity": 500}]},
            kk=row.kk,
        ),
        HOUSEHOLD,
        None,
    )
    assert isinstance(fixed, GrantRequest) and fixed.items[0].value_idr == 150_000


def test_a_control_character_in_a_cell_is_refused_on_its_column() -> None:
    row = parse_row(GRANTS, cells(kk="6209031204900001", purpose="Modal\x00usaha"), "csv")
    assert isinstance(row, ParsedRow)
    errors = request_of(GRANTS, row, HOUSEHOLD, None)
    assert isinstance(errors, list) and [e.column for e in errors] == ["purpose"]
    assert "karakter kontrol" in errors[0].reason.id


def test_the_header_is_found_on_the_first_row_or_below_the_labels() -> None:
    keys = list(GRANTS.keys)
    assert find_header(GRANTS, keys, None) == Header(tuple(keys), None)
    labels = [c.label for c in GRANTS.columns]
    assert find_header(GRANTS, labels, keys) == Header(tuple(keys), tuple(labels))
    assert find_header(GRANTS, labels, labels) == ["row_ref"]
    assert find_header(GRANTS, ["row_ref", "kind", "amount_idr"], None) == [
        "purpose",
        "kk or household_id",
    ]
    # Own columns beside the template's are kept, not read.
    header = find_header(GRANTS, [*keys, "catatan kantor"], None)
    assert isinstance(header, Header) and "catatan kantor" not in GRANTS.keys


def test_a_rows_id_is_its_kind_and_reference_and_its_fingerprint_what_it_asks() -> None:
    assert row_external_id("grants", "G-1") == row_external_id("grants", "G-1")
    assert row_external_id("grants", "G-1") != row_external_id("business-surveys", "G-1")
    one = GrantRequest(household_id=HOUSEHOLD, kind="capital", amount_idr=1_000, purpose="Modal")
    same = GrantRequest(household_id=HOUSEHOLD, kind="capital", amount_idr=1_000, purpose="Modal")
    other = one.model_copy(update={"amount_idr": 1_200})
    assert fingerprint("grants", one) == fingerprint("grants", same)
    assert fingerprint("grants", one) != fingerprint("grants", other)


def test_rule_refusals_are_said_in_bahasa_indonesia_with_the_english_beside() -> None:
    reason = rule_reason("2026-12-09 is in the future")
    assert reason == Reason(
        "tanggal ini belum terjadi (di masa depan)", "2026-12-09 is in the future"
    )
    assert "bahasa Inggris" in rule_reason("a rule nobody translated").id
    assert rule_reason(
        "household x is not known to the interventions service yet", retry=True
    ).id.endswith("unggah baris ini lagi beberapa saat lagi")


def test_the_summary_header_counts_every_status() -> None:
    tally = Tally()
    statuses: tuple[Status, ...] = ("recorded", "recorded", "refused")
    for status in statuses:
        tally.add(status)
    assert tally.header() == "rows=3, recorded=2, unchanged=0, corrected=0, refused=1, skipped=0"


@pytest.mark.parametrize("writer", [CsvResult, XlsxResult])
def test_a_result_names_the_column_in_both_languages(writer: Any) -> None:
    result = writer()
    header = Header(("row_ref", "amount_idr", "mine"), None)
    result.header(GRANTS, header)
    reason = Reason("harus bilangan bulat", "must be a whole number")
    outcome = RowOutcome("refused", errors=(RowError("amount_idr", reason),))
    result.row(GRANTS, 3, ["G-1", "=1+1", "x"], outcome)
    path = result.close()
    try:
        if writer is CsvResult:
            lines = path.read_text(encoding="utf-8").splitlines()
            assert (
                lines[1]
                == "row_ref,amount_idr,mine,row,status,record_id,column,reason_id,reason_en"
            )
            last = lines[2]
        else:
            book = load_workbook(path, read_only=True)
            rows = list(book.worksheets[0].iter_rows(values_only=True))
            book.close()
            assert rows[2][1] == "=1+1"  # the agency's text, not a formula
            last = ",".join(str(v) for v in rows[2])
        assert "Kolom «Jumlah (Rp)» (amount_idr): harus bilangan bulat" in last
        assert "Column amount_idr: must be a whole number" in last
        assert "ditolak (refused)" in last
    finally:
        path.unlink()


# -- the use case, in memory (tests/unit/fakes) ---------------------------------------------------

SECRET = "0123456789abcdef-unit"
KK_OF_HOUSEHOLD = "6209031204900001"


@pytest.fixture
def store() -> FakeInterventions:
    fake = FakeInterventions()
    enrolled_at = datetime.now(UTC) - timedelta(days=365)
    fake.state.households[HOUSEHOLD] = KnownHousehold(
        household_id=HOUSEHOLD,
        village_code="62.09.01.2001",
        welfare_decile=2,
        registered_at=enrolled_at,
        enrolled_at=enrolled_at,
        kk_hash=keyed_hash(SECRET, KK_OF_HOUSEHOLD),
        version=2,
    )
    fake.state.kk_hashes[keyed_hash(SECRET, KK_OF_HOUSEHOLD)] = [HOUSEHOLD]
    return fake


async def imported(
    store: FakeInterventions, rows: list[dict[str, object]], agency: str = "distakan"
) -> list[RowOutcome]:
    deps = ImportDeps(
        InterventionsDeps(unit_of_work=store, agencies=frozenset({"distakan", "dinsos"})), SECRET
    )

    async def sheet() -> AsyncIterator[SheetRow]:
        for number, row in enumerate(rows, start=3):
            yield SheetRow(number, row, list(row.values()))

    return [
        outcome
        async for _, outcome in import_rows(
            deps, agency, GRANTS, sheet(), source="xlsx", correlation_id="unit"
        )
    ]


async def test_a_row_is_recorded_once_by_its_reference_and_a_correction_replaces_it(
    store: FakeInterventions,
) -> None:
    first = await imported(store, [cells(kk=KK_OF_HOUSEHOLD)])
    assert [o.status for o in first] == ["recorded"]
    grant = store.state.records[first[0].record_id]  # type: ignore[index]
    assert isinstance(grant, Grant) and grant.household_id == HOUSEHOLD
    # By household id it asks for the same: unchanged, nothing new.
    again = await imported(store, [cells(household_id=str(HOUSEHOLD))])
    assert [(o.status, o.record_id) for o in again] == [("unchanged", first[0].record_id)]
    assert len(store.state.events) == 1
    corrected = await imported(store, [cells(kk=KK_OF_HOUSEHOLD, amount_idr=2_000)])
    assert corrected[0].status == "corrected" and corrected[0].record_id != first[0].record_id
    assert ("grant", first[0].record_id) in store.state.voids
    assert [g.amount_idr for g in store.state.of_type(Grant)] == [2_000]
    # Another agency's row of the same reference is its own.
    theirs = await imported(store, [cells(kk=KK_OF_HOUSEHOLD)], agency="dinsos")
    assert theirs[0].status == "recorded"


async def test_bad_rows_are_refused_and_the_good_ones_recorded(store: FakeInterventions) -> None:
    outcomes = await imported(
        store,
        [
            cells(row_ref="A", kk=KK_OF_HOUSEHOLD),
            cells(row_ref="B", kk="6209999999999999"),  # no such household
            cells(row_ref="A", kk=KK_OF_HOUSEHOLD, amount_idr=5),  # the reference again
            cells(row_ref="C", kk=KK_OF_HOUSEHOLD, fiscal_year=2099),  # a rule refuses
            cells(row_ref="CONTOH-1", kk=KK_OF_HOUSEHOLD),
            cells(row_ref="D", household_id=str(HOUSEHOLD)),
        ],
    )
    assert [(o.status, [e.column for e in o.errors]) for o in outcomes] == [
        ("recorded", []),
        ("refused", ["kk"]),
        ("refused", ["row_ref"]),
        ("refused", ["fiscal_year"]),
        ("skipped", []),
        ("recorded", []),
    ]
    assert (
        outcomes[2].errors[0].reason.en == "the row reference is used already on row 3 of this file"
    )
    assert "has not begun yet" in outcomes[3].errors[0].reason.en
    assert "tahun anggaran" in outcomes[3].errors[0].reason.id
    assert len(store.state.of_type(Grant)) == 2
    # The refused rule's receipt was rolled back with it: the row may be sent again, fixed.
    fixed = await imported(store, [cells(row_ref="C", kk=KK_OF_HOUSEHOLD)])
    assert fixed[0].status == "recorded"


def test_a_grant_handed_over_earlier_keeps_its_day() -> None:
    row = parse_row(GRANTS, cells(kk=KK_OF_HOUSEHOLD, issued_on=datetime(2026, 11, 3)), "xlsx")
    assert isinstance(row, ParsedRow)
    request = request_of(GRANTS, row, HOUSEHOLD, None)
    assert isinstance(request, GrantRequest) and request.issued_on == date(2026, 11, 3)


ATTENDANCE = TEMPLATES["training-attendance"]
MEMBER = "4a1d2c3b-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
SESSION = uuid.UUID("7c2e9d14-3b5a-4f6e-8d1c-2a9b0e4f6a37")


def attendance(**values: object) -> dict[str, object]:
    return {"row_ref": "H-1", "member_id": MEMBER, "attended_on": "2026-11-04", **values}


def test_an_attendance_row_names_its_session_its_household_its_member_and_its_day() -> None:
    by_ref = parse_row(ATTENDANCE, attendance(session_ref="S-1", kk=KK_OF_HOUSEHOLD), "csv")
    assert isinstance(by_ref, ParsedRow)
    assert (by_ref.session_ref, by_ref.session_id, by_ref.kk) == ("S-1", None, KK_OF_HOUSEHOLD)
    request = request_of(ATTENDANCE, by_ref, HOUSEHOLD, SESSION)
    assert request == AttendanceRequest(
        session_id=SESSION,
        household_id=HOUSEHOLD,
        member_id=uuid.UUID(MEMBER),
        attended_on=date(2026, 11, 4),
    )
    by_id = parse_row(
        ATTENDANCE, attendance(session_id=str(SESSION), household_id=str(HOUSEHOLD)), "xlsx"
    )
    assert isinstance(by_id, ParsedRow) and by_id.session_id == SESSION
    # The same attendance, whether named by references or by ids: one fingerprint.
    same = request_of(ATTENDANCE, by_id, HOUSEHOLD, SESSION)
    assert isinstance(same, AttendanceRequest)
    assert fingerprint("training-attendance", same) == fingerprint("training-attendance", request)


def test_a_bad_attendance_row_names_each_column_at_fault() -> None:
    errors = parse_row(
        ATTENDANCE,
        attendance(
            session_ref="S-1",
            session_id=str(SESSION),
            kk=KK_OF_HOUSEHOLD,
            attended_on="04/11/2026",
        ),
        "csv",
    )
    assert isinstance(errors, list)
    assert {e.column for e in errors} == {"session_ref", "attended_on"}
    # The member's id is the request's (the API's rule), refused on its column too.
    row = parse_row(
        ATTENDANCE, attendance(session_ref="S-1", kk=KK_OF_HOUSEHOLD, member_id="x"), "csv"
    )
    assert isinstance(row, ParsedRow)
    bad_member = request_of(ATTENDANCE, row, HOUSEHOLD, SESSION)
    assert isinstance(bad_member, list)
    assert [(e.column, e.reason.id) for e in bad_member] == [
        ("member_id", "harus ID (UUID) yang sah")
    ]
    no_day = parse_row(
        ATTENDANCE, attendance(session_ref="S-1", kk=KK_OF_HOUSEHOLD, attended_on=None), "csv"
    )
    assert isinstance(no_day, ParsedRow)
    missing = request_of(ATTENDANCE, no_day, HOUSEHOLD, SESSION)
    assert isinstance(missing, list)
    assert [(e.column, e.reason.id) for e in missing] == [("attended_on", "wajib diisi")]
    outside = rule_reason("the session runs from 2026-11-03 to 2026-11-05, not on 2026-11-09")
    assert outside.id.startswith("di luar tanggal mulai dan selesai sesi pelatihan")
