"""The registry's rules without infrastructure: NIKs, villages, deciles, the life cycle,
near-duplicates and household CSV rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from gayari_registry.domain import nik
from gayari_registry.domain.imports import (
    COLUMNS,
    CsvRecord,
    ImportRow,
    Rejection,
    application_of,
    missing_columns,
    parse_row,
    rejected_rows,
    rejection_of,
)
from gayari_registry.domain.model import (
    ConflictError,
    DetailsChange,
    Household,
    HouseholdApplication,
    HouseholdRulesError,
    Reference,
    change_details,
    check_niks_free,
    enrol,
    exit_programme,
    name_key,
    near_duplicate_key,
    register,
)
from gayari_shared.areas import load_areas
from gayari_shared.csvstream import CsvFormatError, CsvStream, RecordSplitter
from gayari_shared.rules import RuleViolationError

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
REF = Reference(load_areas())


def member(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Siti Aminah",
        "nik": "6209014501800001",
        "sex": "F",
        "birth_date": "1980-01-05",
        "relationship": "head",
    }
    return {**body, **overrides}


def application(**overrides: Any) -> HouseholdApplication:
    body: dict[str, Any] = {
        "kk": "6209010101010001",
        "head_name": "Siti Aminah",
        "village_code": "62.09.01.2001",
        "address": {"rt": "3", "rw": "01", "street": "Jl. Tjilik Riwut, Dusun Sungai"},
        "welfare_decile": 1,
        "members": [
            member(),
            member(
                name="Budi Saputra",
                nik="6209011206050002",
                sex="M",
                birth_date="2005-06-12",
                relationship="child",
            ),
        ],
    }
    return HouseholdApplication.model_validate({**body, **overrides})


def registered(**overrides: Any) -> Household:
    return register(application(**overrides), REF, household_id=uuid.uuid4(), now=NOW)


# --- NIK -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "sex", "digits"),
    [
        (date(1980, 1, 5), "F", "450180"),
        (date(1980, 1, 5), "M", "050180"),
        (date(2005, 12, 31), "F", "711205"),
        (date(1999, 10, 1), "M", "011099"),
    ],
)
def test_birth_digits_add_forty_to_a_womans_day(birth: date, sex: Any, digits: str) -> None:
    assert nik.birth_digits(birth, sex) == digits
    assert nik.birth_mismatch(f"620901{digits}0001", birth, sex) is None


@pytest.mark.parametrize(
    ("given", "sex"),
    [
        ("6209010501800001", "F"),  # a woman's NIK without the +40
        ("6209014501800001", "M"),  # a man's NIK with it
        ("6209014502800001", "F"),  # wrong month
        ("6209014501810001", "F"),  # wrong year
        ("6209014601800001", "F"),  # wrong day
    ],
)
def test_birth_digits_that_disagree_are_named(given: str, sex: Any) -> None:
    why = nik.birth_mismatch(given, date(1980, 1, 5), sex)
    assert why is not None and given[6:12] in why


def test_region_digits_come_from_the_villages_district() -> None:
    assert nik.region_digits("62.09.01.2001") == "620901"
    assert nik.region_mismatch("6209014501800001", "62.09.01.2001") is None
    assert nik.region_mismatch("6209024501800001", "62.09.01.2001") is not None
    assert nik.region_mismatch("6309014501800001", "62.09.01.2001") is not None


def test_a_nik_from_another_district_is_flagged_not_refused() -> None:
    moved = member(nik="6371014501800001")  # issued in Banjarmasin
    household = registered(members=[moved])
    assert [(f.code, f.member_id) for f in household.flags] == [
        ("nik-region-mismatch", household.members[0].member_id)
    ]
    assert "63.71.01" in household.flags[0].reason


def test_a_household_whose_niks_match_its_district_has_no_flags() -> None:
    assert registered().flags == []


def test_a_nik_that_disagrees_with_the_birth_date_names_the_member() -> None:
    wrong = member(
        name="Budi Saputra",
        nik="6209011306050002",
        sex="M",
        birth_date="2005-06-12",
        relationship="child",
    )
    with pytest.raises(HouseholdRulesError) as caught:
        registered(members=[member(), wrong])
    assert caught.value.violations[0][0] == "members.1.nik"


def test_a_womans_nik_must_carry_the_forty() -> None:
    with pytest.raises(HouseholdRulesError) as caught:
        registered(members=[member(nik="6209010501800001")])
    assert [f for f, _ in caught.value.violations] == ["members.0.nik"]


# --- village, decile, members ------------------------------------------------------------------


def test_any_village_of_the_country_is_accepted_but_outside_lamandau_flagged() -> None:
    household = registered(
        village_code="31.71.01.1001",
        members=[member(nik="3171014501800001")],
    )
    assert [f.code for f in household.flags] == ["village-outside-regency"]
    assert [f.code for f in registered().flags] == []


@pytest.mark.parametrize("code", ["62.09.01.9999", "99.99.99.9999"])
def test_an_unknown_village_is_refused(code: str) -> None:
    with pytest.raises(RuleViolationError) as caught:
        registered(village_code=code)
    assert caught.value.field == "village_code"


@pytest.mark.parametrize("decile", [0, 11, -1])
def test_the_decile_lies_between_one_and_ten(decile: int) -> None:
    with pytest.raises(ValidationError) as caught:
        application(welfare_decile=decile)
    assert caught.value.errors()[0]["loc"] == ("welfare_decile",)


@pytest.mark.parametrize("decile", [1, 10])
def test_deciles_at_the_bounds_are_fine(decile: int) -> None:
    assert registered(welfare_decile=decile).welfare_decile == decile


def test_the_household_has_exactly_one_head_whose_name_it_carries() -> None:
    child = application().members[1].model_dump(mode="json")
    with pytest.raises(HouseholdRulesError) as caught:
        registered(members=[child])
    assert caught.value.violations[0][0] == "members"
    second_head = {**child, "relationship": "head"}
    with pytest.raises(HouseholdRulesError) as caught:
        registered(members=[member(), second_head])
    assert caught.value.violations[0][0] == "members.1.relationship"
    with pytest.raises(HouseholdRulesError) as caught:
        registered(head_name="Someone Else")
    assert caught.value.violations[0][0] == "head_name"
    assert registered(head_name="  siti   AMINAH").head_name == "siti   AMINAH"


def test_a_nik_twice_in_one_household_is_refused() -> None:
    with pytest.raises(HouseholdRulesError) as caught:
        registered(members=[member(), member(relationship="other")])
    assert "members.1.nik" in [f for f, _ in caught.value.violations]


def test_members_get_stable_ids_and_the_address_is_normalised() -> None:
    household = registered()
    assert len({m.member_id for m in household.members}) == 2
    assert household.address is not None and (household.address.rt, household.address.rw) == (
        "003",
        "001",
    )


def test_a_nik_held_by_another_household_is_a_conflict_naming_it() -> None:
    household = registered()
    other = uuid.uuid4()
    with pytest.raises(ConflictError) as caught:
        check_niks_free(household, {household.members[1].nik: other})
    assert caught.value.household_id == other
    assert caught.value.field == "members.1.nik"
    check_niks_free(household, {})


# --- life cycle --------------------------------------------------------------------------------


def test_enrol_then_exit_then_enrol_again() -> None:
    household = registered()
    assert household.status == "registered"
    enrolled, event = enrol(household, 2026, "dinsos", now=NOW)
    assert enrolled.status == "enrolled"
    assert (event.cohort_year, event.enrolling_agency) == (2026, "dinsos")
    with pytest.raises(ConflictError) as caught:
        enrol(enrolled, 2027, "dinsos", now=NOW)
    assert caught.value.code == "already-enrolled"
    exited, left = exit_programme(enrolled, "moved", now=NOW + timedelta(days=1))
    assert (exited.status, left.reason) == ("exited", "moved")
    with pytest.raises(ConflictError) as caught:
        exit_programme(exited, "moved", now=NOW)
    assert caught.value.code == "not-enrolled"
    again, _ = enrol(exited, 2027, "dinsos", now=NOW + timedelta(days=2))
    assert again.status == "enrolled"
    assert [e.cohort_year for e in again.enrolments] == [2026, 2027]
    assert again.enrolments[0].exit_reason == "moved"


def test_a_registration_and_an_enrolment_typed_in_later_keep_their_day() -> None:
    household = registered(registered_on="2026-02-03")
    # The start of that day in Lamandau (WIB, UTC+7).
    assert household.registered_at == datetime(2026, 2, 2, 17, 0, tzinfo=UTC)
    enrolled, event = enrol(household, 2026, "dinsos", now=NOW, on=date(2026, 3, 1))
    assert event.enrolled_at == enrolled.enrolments[-1].enrolled_at
    assert event.enrolled_at == datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
    # Today (in Lamandau) or no day at all: the moment of the request.
    assert registered(registered_on=NOW.date().isoformat()).registered_at == NOW
    assert enrol(household, 2026, "dinsos", now=NOW)[1].enrolled_at == NOW


@pytest.mark.parametrize(
    ("registered_on", "enrolled_on", "field"),
    [
        ("2026-11-29", None, "registered_on"),  # tomorrow in Lamandau
        ("1999-12-31", None, "registered_on"),
        ("2026-02-03", date(2026, 11, 29), "enrolled_on"),
        ("2026-02-03", date(2026, 2, 2), "enrolled_on"),  # before the registration
    ],
)
def test_a_day_in_the_future_or_before_the_registration_is_refused(
    registered_on: str, enrolled_on: date | None, field: str
) -> None:
    with pytest.raises(RuleViolationError) as caught:
        household = registered(registered_on=registered_on)
        enrol(household, 2026, "dinsos", now=NOW, on=enrolled_on)
    assert caught.value.field == field


def test_an_exit_typed_in_later_lies_between_the_enrolment_and_today() -> None:
    household = registered(registered_on="2026-10-01")
    enrolled, _ = enrol(household, 2026, "dinsos", now=NOW, on=date(2026, 11, 2))
    exited, event = exit_programme(enrolled, "graduated", now=NOW, on=date(2026, 11, 20))
    assert event.exited_at == exited.enrolments[-1].exited_at
    assert event.exited_at == datetime(2026, 11, 19, 17, 0, tzinfo=UTC)
    for day in (date(2026, 11, 1), date(2026, 11, 29)):
        with pytest.raises(RuleViolationError) as caught:
            exit_programme(enrolled, "graduated", now=NOW, on=day)
        assert caught.value.field == "exited_on"


def test_an_enrolment_again_is_not_dated_before_the_last_exit() -> None:
    enrolled, _ = enrol(registered(registered_on="2026-01-05"), 2026, "dinsos", now=NOW)
    exited, _ = exit_programme(enrolled, "moved", now=NOW)
    with pytest.raises(RuleViolationError) as caught:
        enrol(exited, 2026, "dinsos", now=NOW + timedelta(days=1), on=date(2026, 6, 1))
    assert caught.value.field == "enrolled_on"


def test_exit_needs_an_enrolment() -> None:
    with pytest.raises(ConflictError) as caught:
        exit_programme(registered(), "graduated", now=NOW)
    assert caught.value.code == "not-enrolled"


@pytest.mark.parametrize("year", [1999, NOW.year + 2])
def test_the_cohort_year_is_plausible(year: int) -> None:
    with pytest.raises(RuleViolationError) as caught:
        enrol(registered(), year, "dinsos", now=NOW)
    assert caught.value.field == "cohort_year"


# A household's days are days of its province's zone (gayari_shared.areas.zones): a village in
# Lamandau (WIB, UTC+7), in Denpasar (WITA, UTC+8) and in Jayapura (WIT, UTC+9).
ZONED = [("62.09.01.2001", 7), ("51.71.01.1001", 8), ("91.71.01.1001", 9)]
# 16:30 UTC: 23:30 of New Year's Eve in Lamandau, already New Year's Day in Denpasar and Jayapura.
EVENING = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)


def midnight(day: date, hours: int) -> datetime:
    """The start of `day` in a zone `hours` ahead of UTC, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=hours)


@pytest.mark.parametrize(("village", "hours"), ZONED)
def test_a_day_typed_in_starts_at_midnight_in_the_provinces_zone(village: str, hours: int) -> None:
    household = registered(registered_on="2026-06-01", village_code=village)
    assert household.registered_at == midnight(date(2026, 6, 1), hours)
    enrolled, event = enrol(household, 2026, "dinsos", now=NOW, on=date(2026, 6, 2))
    assert event.enrolled_at == midnight(date(2026, 6, 2), hours)
    _, left = exit_programme(enrolled, "graduated", now=NOW, on=date(2026, 6, 3))
    assert left.exited_at == midnight(date(2026, 6, 3), hours)


@pytest.mark.parametrize(("village", "hours"), ZONED)
def test_today_is_the_provinces_today_at_the_day_boundary(village: str, hours: int) -> None:
    new_year = date(2027, 1, 1)
    # A child born on New Year's Day (his NIK says so).
    newborn = member(
        name="Yosua", nik="6209010101270002", sex="M", birth_date="2027-01-01", relationship="child"
    )

    def at_evening(**overrides: Any) -> Household:
        given = application(village_code=village, **overrides)
        return register(given, REF, household_id=uuid.uuid4(), now=EVENING)

    if hours == 7:
        # New Year's Day is tomorrow in Lamandau: every day of the household refuses it, and
        # 2028 is not next year yet.
        with pytest.raises(RuleViolationError) as caught:
            at_evening(registered_on=new_year.isoformat())
        assert caught.value.field == "registered_on"
        household = at_evening(registered_on="2026-12-31")
        assert household.registered_at == EVENING
        with pytest.raises(RuleViolationError) as caught:
            enrol(household, 2026, "dinsos", now=EVENING, on=new_year)
        assert caught.value.field == "enrolled_on"
        assert "2027-01-01 is in the future (today is 2026-12-31)" in caught.value.message
        with pytest.raises(RuleViolationError) as caught:
            enrol(household, 2028, "dinsos", now=EVENING)
        assert caught.value.field == "cohort_year"
        enrolled, _ = enrol(household, 2027, "dinsos", now=EVENING)
        with pytest.raises(RuleViolationError) as caught:
            exit_programme(enrolled, "moved", now=EVENING, on=new_year)
        assert caught.value.field == "exited_on"
        with pytest.raises(HouseholdRulesError) as refused:
            at_evening(members=[member(), newborn])
        assert refused.value.violations == [("members.1.birth_date", "lies in the future")]
        return
    # New Year's Day is today there: the moment of the request, as for no day at all.
    household = at_evening(registered_on=new_year.isoformat())
    assert household.registered_at == EVENING
    enrolled, event = enrol(household, 2028, "dinsos", now=EVENING, on=new_year)
    assert event.enrolled_at == EVENING
    _, left = exit_programme(enrolled, "moved", now=EVENING, on=new_year)
    assert left.exited_at == EVENING
    assert at_evening(members=[member(), newborn]).members[1].birth_date == new_year


@pytest.mark.parametrize(("village", "hours"), ZONED)
def test_the_day_of_the_registration_is_compared_in_the_provinces_zone(
    village: str, hours: int
) -> None:
    # Registered at 16:30 UTC on 30 December: still the 30th in WIB, the 31st in WITA and WIT.
    household = registered(village_code=village).model_copy(
        update={"registered_at": datetime(2026, 12, 30, 16, 30, tzinfo=UTC)}
    )
    on = date(2026, 12, 30)
    if hours > 7:
        with pytest.raises(RuleViolationError) as caught:
            enrol(household, 2026, "dinsos", now=EVENING, on=on)
        assert caught.value.field == "enrolled_on"
        # The message names the days in the household's calendar.
        assert caught.value.message == (
            "2026-12-30 is before the household's registration or last exit (2026-12-31)"
        )
        return
    # On the day of the registration, but typed in later: the moment of the registration, not
    # the midnight before it, so the household's moments keep their order.
    enrolled, event = enrol(household, 2026, "dinsos", now=EVENING, on=on)
    assert event.enrolled_at == household.registered_at
    _, left = exit_programme(enrolled, "moved", now=EVENING, on=on)
    assert left.exited_at == household.registered_at


def test_a_deceased_household_is_closed_except_to_administrators() -> None:
    enrolled, _ = enrol(registered(), 2026, "dinsos", now=NOW)
    dead, _ = exit_programme(enrolled, "deceased", now=NOW)
    with pytest.raises(ConflictError):
        enrol(dead, 2027, "dinsos", now=NOW)
    change = DetailsChange(welfare_decile=4)
    with pytest.raises(ConflictError):
        change_details(dead, change, REF, now=NOW, admin=False)
    corrected, event = change_details(dead, change, REF, now=NOW, admin=True)
    assert corrected.welfare_decile == 4 and event is not None


def test_a_graduated_household_may_still_change_its_decile() -> None:
    enrolled, _ = enrol(registered(), 2026, "dinsos", now=NOW)
    graduated, _ = exit_programme(enrolled, "graduated", now=NOW)
    changed, event = change_details(
        graduated, DetailsChange(welfare_decile=6), REF, now=NOW, admin=False
    )
    assert changed.welfare_decile == 6 and event is not None


def test_details_change_says_what_changed_and_nothing_personal() -> None:
    household = registered()
    head, child = household.members
    change = DetailsChange.model_validate(
        {
            "welfare_decile": 3,
            "members": [
                {**head.model_dump(mode="json")},
                {
                    "name": "Rina Saputri",
                    "nik": "6209015207100003",
                    "sex": "F",
                    "birth_date": "2010-07-12",
                    "relationship": "child",
                },
            ],
        }
    )
    updated, event = change_details(household, change, REF, now=NOW, admin=False)
    assert event is not None
    assert event.changed == ["welfare_decile", "members"]
    assert (event.welfare_decile, event.member_count, event.village_code) == (3, 2, None)
    assert updated.members[0].member_id == head.member_id  # kept by quoting its id
    assert child.member_id not in {m.member_id for m in updated.members}  # left the household
    assert event.member_ids == [m.member_id for m in updated.members]
    text = event.model_dump_json()
    for personal in ("Rina", "6209015207100003", household.kk):
        assert personal not in text


def test_a_change_that_changes_nothing_has_no_event() -> None:
    household = registered()
    same, event = change_details(
        household, DetailsChange(welfare_decile=1), REF, now=NOW, admin=False
    )
    assert event is None and same.welfare_decile == 1


def test_address_and_village_changes_are_checked_and_named() -> None:
    household = registered()
    _, event = change_details(
        household,
        DetailsChange.model_validate({"address": {"rt": "5", "rw": "2", "street": "Dusun Baru"}}),
        REF,
        now=NOW,
        admin=False,
    )
    assert event is not None and event.changed == ["address"]
    moved, event = change_details(
        household, DetailsChange(village_code="62.09.02.2004"), REF, now=NOW, admin=False
    )
    assert event is not None and event.changed == ["village_code"]
    assert {f.code for f in moved.flags} == {"nik-region-mismatch"}  # NIKs of 62.09.01
    with pytest.raises(RuleViolationError):
        change_details(
            household, DetailsChange(village_code="62.09.02.9999"), REF, now=NOW, admin=False
        )


def test_a_change_quoting_a_stranger_member_id_is_refused() -> None:
    household = registered()
    stranger = {**household.members[0].model_dump(mode="json"), "member_id": str(uuid.uuid4())}
    with pytest.raises(RuleViolationError) as caught:
        change_details(
            household,
            DetailsChange.model_validate({"members": [stranger]}),
            REF,
            now=NOW,
            admin=False,
        )
    assert caught.value.field == "members.0.member_id"


def test_an_empty_change_is_invalid() -> None:
    with pytest.raises(ValidationError):
        DetailsChange.model_validate({})


# --- near-duplicates ---------------------------------------------------------------------------


def test_near_duplicates_ignore_case_and_spaces_of_the_heads_name() -> None:
    assert name_key("  Siti   AMINAH ") == name_key("siti aminah") == "sitiaminah"
    a = registered()
    b = registered(
        kk="6209010101010002", head_name="SITI  aminah", members=[member(name="SITI  aminah")]
    )
    assert near_duplicate_key(a) == near_duplicate_key(b)


@pytest.mark.parametrize(
    "overrides",
    [
        {"head_name": "Siti Aminah Putri", "members": [member(name="Siti Aminah Putri")]},
        {"members": [member(birth_date="1980-01-06", nik="6209014601800001")]},
        {"village_code": "62.09.01.2002"},
    ],
)
def test_other_name_birth_date_or_village_is_no_near_duplicate(overrides: dict[str, Any]) -> None:
    assert near_duplicate_key(registered()) != near_duplicate_key(registered(**overrides))


# --- CSV rows ----------------------------------------------------------------------------------


def row(**overrides: str) -> dict[str, str]:
    values = {
        "kk": "6209010101010001",
        "village_code": "62.09.01.2001",
        "rt": "003",
        "rw": "001",
        "address": "Dusun Sungai",
        "welfare_decile": "2",
        "nik": "6209014501800001",
        "name": "Siti Aminah",
        "sex": "P",
        "birth_date": "1980-01-05",
        "relationship": "Kepala Keluarga",
    }
    return {**values, **overrides}


def test_a_csv_row_takes_indonesian_codes() -> None:
    parsed = parse_row(row())
    assert isinstance(parsed, ImportRow)
    assert (parsed.sex, parsed.relationship, parsed.welfare_decile) == ("F", "head", 2)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kk", "12345"),
        ("nik", "62090145018000AB"),
        ("welfare_decile", "11"),
        ("welfare_decile", "two"),
        ("sex", "X"),
        ("birth_date", "05/01/1980"),
        ("birth_date", "19800105"),
        ("relationship", "cousin"),
        ("village_code", "6209012001"),
        ("rt", "abc"),
        ("name", "  "),
    ],
)
def test_a_bad_csv_value_names_its_column(column: str, value: str) -> None:
    errors = parse_row(row(**{column: value}))
    assert isinstance(errors, list)
    assert [e.column for e in errors] == [column]


def test_a_missing_csv_value_names_its_column() -> None:
    values = row()
    del values["sex"]
    errors = parse_row(values)
    assert isinstance(errors, list) and errors[0].column == "sex"


def test_the_header_must_have_every_column() -> None:
    assert missing_columns(list(COLUMNS)) == []
    assert missing_columns([c for c in COLUMNS if c != "nik"]) == ["nik"]


def test_rows_of_a_kk_make_one_application() -> None:
    child = row(
        nik="6209011206050002",
        name="Budi Saputra",
        sex="L",
        birth_date="2005-06-12",
        relationship="Anak",
    )
    made = application_of([parse_row(row()), parse_row(child)], set())
    assert isinstance(made, HouseholdApplication)
    assert made.head_name == "Siti Aminah"
    assert [m.relationship for m in made.members] == ["head", "child"]
    assert made.address is not None and made.address.street == "Dusun Sungai"


def test_rows_of_a_kk_must_agree_on_the_household() -> None:
    made = application_of(
        [parse_row(row()), parse_row(row(nik="6209011206050002", welfare_decile="3"))], set()
    )
    assert isinstance(made, Rejection)
    assert [(e.column) for e in made.errors[1]] == ["welfare_decile"]


def test_a_kk_seen_earlier_in_the_file_is_rejected() -> None:
    made = application_of([parse_row(row())], {"6209010101010001"})
    assert isinstance(made, Rejection) and made.errors[0][0].column == "kk"


def test_rule_violations_map_to_rows_and_columns() -> None:
    rejection = rejection_of([("members.1.nik", "bad"), ("village_code", "unknown")])
    assert {i: [e.column for e in errs] for i, errs in rejection.errors.items()} == {
        1: ["nik"],
        0: ["village_code"],
    }
    records = [CsvRecord(2, row()), CsvRecord(3, row()), CsvRecord(4, row())]
    reports = rejected_rows(records, rejection)
    assert [r.status for r in reports] == ["rejected"] * 3
    assert reports[2].errors[0].column == "kk" and "2, 3" in reports[2].errors[0].message


# --- CSV stream --------------------------------------------------------------------------------


def test_records_may_hold_quoted_line_breaks_and_arrive_in_any_pieces() -> None:
    text = 'a,b\n1,"x\ny"\n2,"say ""hi"""\n3,z'
    for size in (1, 2, 5, 100):
        splitter = RecordSplitter()
        records: list[str] = []
        for i in range(0, len(text), size):
            records += splitter.feed(text[i : i + size])
        records += splitter.finish()
        assert records == ["a,b\n", '1,"x\ny"\n', '2,"say ""hi"""\n', "3,z"]


def test_an_open_quote_at_the_end_is_an_error() -> None:
    splitter = RecordSplitter()
    splitter.feed('a,"b\n')
    with pytest.raises(CsvFormatError):
        splitter.finish()


async def test_a_stream_stops_at_bad_utf8_and_says_where() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"\xef\xbb\xbfkk,n", b"ame\n1,a\n", b"2,\xff\n"):
            yield chunk

    stream = CsvStream(chunks())
    records = [r async for r in stream.records()]
    assert records == [(1, ["kk", "name"]), (2, ["1", "a"])]
    assert stream.error is not None and stream.error.startswith("row 3")
