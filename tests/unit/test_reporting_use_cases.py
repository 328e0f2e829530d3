"""Every reporting use case, in memory: the reports, the exports and the monthly report over a
fake of the read models (tests/unit/fakes/reporting.py). What they add to a query's figures is
checked here: names, roll-ups, the calendar's empty months, cursors and pages, the privacy
threshold, the agency filter, the refusals of a bad area or cursor. That the queries count what
the facts say, from the tallies too, is the integration tests' (test_reporting_tallies.py)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gayari_reporting.domain.areas import Area, AreaIndex
from gayari_reporting.domain.filters import (
    Cursor,
    Filters,
    InvalidQueryError,
    decode_cursor,
    encode_cursor,
)
from gayari_reporting.domain.privacy import THRESHOLD
from gayari_reporting.domain.readmodels import (
    KINDS,
    IntakeRefusalCount,
    IntakeRefusals,
    MonthFigures,
)
from gayari_reporting.service_layer import exports, reports
from gayari_reporting.service_layer.monthly_report import child_of, monthly_figures
from gayari_reporting.service_layer.reports import DEFAULT_LIMIT, ReportingDeps
from gayari_shared.agencies import DEFAULT_AGENCIES
from gayari_shared.events.interventions import JAKARTA
from tests.unit.fakes.reporting import (
    FakePositions,
    FakeProjector,
    FakeReadModels,
    Household,
    ReadModel,
    Record,
)

PROVINCE, REGENCY = "62", "62.09"
HILIR, SEMBULUH = "62.09.01", "62.09.02"  # two districts
V1, V2, V3 = "62.09.01.2001", "62.09.01.2002", "62.09.02.2001"  # two villages of HILIR, one
AREAS = AreaIndex(
    [
        Area(PROVINCE, "Kalimantan Tengah", "province"),
        Area(REGENCY, "Seruyan", "regency"),
        Area(HILIR, "Seruyan Hilir", "district"),
        Area(SEMBULUH, "Danau Sembuluh", "district"),
        Area(V1, "Kuala Pembuang Satu", "village"),
        Area(V2, "Kuala Pembuang Dua", "village"),
        Area(V3, "Sembuluh Satu", "village"),
    ]
)
CONFIGURED = [a.code for a in DEFAULT_AGENCIES]  # dinsos, dispar, distakan, dkukmpp
DAY = date(2026, 3, 10)
UNSERVED_DAYS = 60


def ids(n: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(n))


def enrolled(village: str | None, on: date = DAY, **state: Any) -> Household:
    """A household registered and enrolled on `on`."""
    return Household(
        uuid.uuid4(), village, registered_on=on, enrolled_on=on, cohort_year=on.year, **state
    )


def grant(
    household: Household,
    agency: str,
    idr: int,
    on: date = DAY,
    kind: str = "capital",
    *,
    voided: bool = False,
) -> Record:
    return Record(household.id, agency, f"grant-{kind}", on, amount_idr=idr, voided=voided)


@pytest.fixture
def read_models() -> FakeReadModels:
    return FakeReadModels()


@pytest.fixture
def model(read_models: FakeReadModels) -> ReadModel:
    return read_models.live


@pytest.fixture
def positions() -> FakePositions:
    return FakePositions()


@pytest.fixture
def projector() -> FakeProjector:
    return FakeProjector()


@pytest.fixture
def deps(
    read_models: FakeReadModels, positions: FakePositions, projector: FakeProjector
) -> ReportingDeps:
    return ReportingDeps(
        queries=read_models,
        store=positions,
        projector=projector,
        agencies=DEFAULT_AGENCIES,
        areas=AREAS,
        unserved_days=UNSERVED_DAYS,
    )


# -- summary and agencies ---------------------------------------------------------------------


async def test_the_summary_names_every_kind_and_its_trainings_are_the_training_records(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a, b = enrolled(V1), enrolled(V3, exit_reason="graduated", exited_on=DAY)
    model.add(a, b, grant(a, "dinsos", 2_000_000), Record(a.id, "dispar", "training", DAY))
    model.add(Record(b.id, "dispar", "training", DAY), Record(b.id, "dinsos", "mentoring", DAY))
    model.add(grant(b, "dinsos", 9_000_000, voided=True))
    model.projected_at = datetime(2026, 3, 11, tzinfo=UTC)

    view = await reports.summary(deps, Filters(fiscal_year=2026))

    assert view.interventions == {
        "grant-capital": 1,
        "grant-equipment": 0,
        "training": 2,
        "mentoring": 1,
    }
    assert list(view.interventions) == list(KINDS)
    assert view.trainings_completed == 2
    assert view.idr_disbursed == 2_000_000
    assert (view.households.registered, view.households.graduated) == (2, 1)
    assert view.households.reached == 2
    assert view.as_of == model.projected_at
    assert view.filters["fiscal_year"] == 2026


async def test_agencies_lists_the_configured_ones_with_zeros_then_any_other_seen(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a = enrolled(V1)
    model.add(a, grant(a, "dispar", 3_000_000), grant(a, "bappeda", 1_000_000))
    model.budgets += [("dispar", 2026, 12_000_000), ("dkukmpp", 2026, 5_000_000)]
    model.budgets += [("dispar", 2025, 99_000_000)]  # another year: not this one's

    view = await reports.agencies(deps, Filters(fiscal_year=2026))

    assert [r.agency for r in view.agencies] == [*CONFIGURED, "bappeda"]
    rows = {r.agency: r for r in view.agencies}
    assert rows["dispar"].name == "Dinas Pariwisata"
    assert (rows["dispar"].idr_disbursed, rows["dispar"].budget_allocated_idr) == (
        3_000_000,
        12_000_000,
    )
    assert rows["dispar"].realisation_percent == 25.0
    assert rows["dkukmpp"].idr_disbursed == 0
    assert rows["dkukmpp"].realisation_percent == 0.0
    assert rows["dinsos"].realisation_percent is None  # nothing allocated: no share
    assert (rows["bappeda"].name, rows["bappeda"].households_reached) == ("bappeda", 1)


async def test_an_agency_filter_leaves_that_agency_alone(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a = enrolled(V1)
    model.add(a, grant(a, "dispar", 3_000_000), grant(a, "dinsos", 1_000_000))

    view = await reports.agencies(deps, Filters(agency="dinsos"))

    assert [(r.agency, r.name, r.idr_disbursed) for r in view.agencies] == [
        ("dinsos", "Dinas Sosial", 1_000_000)
    ]
    assert view.filters["agency"] == "dinsos"


# -- areas ------------------------------------------------------------------------------------


async def test_an_area_report_lists_every_child_by_name_and_adds_them_up(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a, b, c = enrolled(V1), enrolled(V1), enrolled(V3)
    model.add(a, b, c, grant(a, "dinsos", 1_000_000), grant(c, "dispar", 500_000))

    district = reports.area_named(deps, HILIR, "path", "code")
    view = await reports.area_report(deps, district, Filters())

    assert [(k.code, k.name, k.level) for k in view.children] == [
        (V1, "Kuala Pembuang Satu", "village"),
        (V2, "Kuala Pembuang Dua", "village"),  # nobody there: listed with zeros
    ]
    assert [k.households_enrolled for k in view.children] == [2, 0]
    assert (view.area.code, view.area.name, view.area.level) == (HILIR, "Seruyan Hilir", "district")
    assert view.area.households_enrolled == 2  # not c: Danau Sembuluh's
    assert view.area.idr_disbursed == 1_000_000
    assert view.filters["areas"] == HILIR

    regency = await reports.area_report(
        deps, reports.area_named(deps, REGENCY, "path", "code"), Filters()
    )
    assert [(k.code, k.households_enrolled) for k in regency.children] == [
        (HILIR, 2),
        (SEMBULUH, 1),
    ]
    assert regency.area.households_reached == 2
    assert regency.area.idr_disbursed == 1_500_000


async def test_a_village_has_no_children_and_the_country_rolls_up_its_provinces(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a = enrolled(V2)
    model.add(a, grant(a, "dinsos", 700_000))

    village = await reports.area_report(
        deps, reports.area_named(deps, V2, "path", "code"), Filters()
    )
    assert village.children == []
    assert (village.area.name, village.area.households_enrolled) == ("Kuala Pembuang Dua", 1)
    assert village.area.idr_disbursed == 700_000

    country = await reports.area_report(
        deps, reports.area_named(deps, "", "path", "code"), Filters()
    )
    assert [(k.code, k.name, k.idr_disbursed) for k in country.children] == [
        (PROVINCE, "Kalimantan Tengah", 700_000)
    ]
    assert (country.area.name, country.area.idr_disbursed) == ("Indonesia", 700_000)


def test_an_area_kemendagri_does_not_have_is_refused_naming_the_parameter(
    deps: ReportingDeps,
) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        reports.area_named(deps, "62.09.09", "path", "code")
    assert caught.value.place == "path"
    assert [e.parameter for e in caught.value.errors] == ["code"]
    assert "62.09.09" in str(caught.value)


# -- time series and convergence --------------------------------------------------------------


async def test_a_time_series_fills_the_months_between_with_zeros(
    deps: ReportingDeps, model: ReadModel
) -> None:
    assert (await reports.time_series(deps, Filters())).months == []
    a = enrolled(V1, on=date(2025, 11, 20))
    model.add(a, grant(a, "dinsos", 1_000_000, on=date(2026, 2, 3)))

    months = (await reports.time_series(deps, Filters())).months

    assert [m.month for m in months] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months[1] == MonthFigures(month="2025-12")
    assert months[2] == MonthFigures(month="2026-01")
    assert (months[0].households_enrolled, months[3].idr_disbursed) == (1, 1_000_000)


async def test_convergence_has_a_bucket_for_each_agency_and_the_enrolled_share(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a, b, c = enrolled(V1), enrolled(V1), enrolled(V3)
    registered_only = Household(uuid.uuid4(), V3, registered_on=DAY)
    model.add(a, b, c, registered_only)
    model.add(grant(a, "dinsos", 1), Record(a.id, "dispar", "training", DAY))
    model.add(grant(b, "dinsos", 1), grant(registered_only, "dispar", 1))
    model.add(Record(registered_only.id, "distakan", "mentoring", DAY))

    view = await reports.convergence_report(deps, Filters())

    # Buckets 1 to 4 (the agencies configured), the empty ones too.
    assert [(r.agencies, r.households) for r in view.reached_by] == [(1, 1), (2, 2), (3, 0), (4, 0)]
    assert view.households_reached == 3
    assert (view.enrolled_households, view.enrolled_reached_by_two_or_more) == (3, 1)
    assert view.collaboration_percent == 33.33

    # One agency's: the households it reached, by how many agencies reached them.
    dispar = await reports.convergence_report(deps, Filters(agency="dispar"))
    assert [(r.agencies, r.households) for r in dispar.reached_by] == [
        (1, 0),
        (2, 2),
        (3, 0),
        (4, 0),
    ]
    assert dispar.enrolled_households == 1


# -- unserved, a page at a time ---------------------------------------------------------------


def unserved_programme(model: ReadModel) -> list[Household]:
    """Five enrolled households in three villages (one not known), one served lately, one
    exited, in the order the list has them."""
    long_ago = date(2025, 1, 1)
    unknown = enrolled(None, on=long_ago)
    v1_old, v1_newer = enrolled(V1, on=long_ago), enrolled(V1, on=date(2025, 6, 1))
    v2, v3 = enrolled(V2, on=long_ago), enrolled(V3, on=long_ago)
    served = enrolled(V3, on=long_ago)
    exited = enrolled(V3, on=long_ago, exited_on=date(2025, 8, 1), exit_reason="moved")
    model.add(unknown, v1_old, v1_newer, v2, v3, served, exited)
    model.add(grant(v1_old, "dinsos", 1, on=date(2025, 3, 1)))
    model.add(grant(served, "dinsos", 1, on=date(2026, 2, 20)))
    return [unknown, v1_old, v1_newer, v2, v3]


async def test_unserved_lists_households_by_village_with_its_district_and_pages_by_cursor(
    deps: ReportingDeps, model: ReadModel
) -> None:
    listed = unserved_programme(model)
    base = Filters(as_of=DAY, limit=2)

    first = await reports.unserved(deps, base)
    assert (first.days, first.as_of, first.households) == (UNSERVED_DAYS, DAY, 5)
    assert [(v.village_code, v.village_name, v.district_code) for v in first.villages] == [
        (None, None, None),
        (V1, "Kuala Pembuang Satu", HILIR),
    ]
    assert first.villages[1].district_name == "Seruyan Hilir"
    assert first.villages[1].households[0].last_contact == date(2025, 3, 1)  # its grant
    assert first.villages[1].households[0].days_without == (DAY - date(2025, 3, 1)).days
    assert first.next is not None

    seen = [h.household_id for v in first.villages for h in v.households]
    page = first
    while page.next is not None:
        page = await reports.unserved(
            deps, dataclasses.replace(base, after=decode_cursor(page.next))
        )
        assert page.households == 5  # on every page
        seen += [h.household_id for v in page.villages for h in v.households]
    assert seen == [h.id for h in listed]

    # A page shorter than the limit is the last; without a limit, DEFAULT_LIMIT rows.
    every = await reports.unserved(deps, Filters(as_of=DAY))
    assert every.next is None
    assert sum(len(v.households) for v in every.villages) == 5


async def test_unserved_by_an_agency_counts_from_the_enrolment_where_it_never_came(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a = enrolled(V1, on=date(2026, 1, 20))
    model.add(a, grant(a, "dispar", 1, on=date(2026, 3, 1)))
    dinsos = await reports.unserved(deps, Filters(agency="dinsos", as_of=DAY, days=30))
    assert [h.last_contact for v in dinsos.villages for h in v.households] == [date(2026, 1, 20)]
    dispar = await reports.unserved(deps, Filters(agency="dispar", as_of=DAY, days=30))
    assert dispar.households == 0


async def test_unserved_defaults_to_today_in_jakarta_and_the_configured_days(
    deps: ReportingDeps,
) -> None:
    view = await reports.unserved(deps, Filters())
    assert view.as_of == datetime.now(JAKARTA).date()
    assert view.days == UNSERVED_DAYS
    assert view.next is None


@pytest.mark.parametrize(
    "cursor",
    [
        ("62.09.01.2001", "2026-03-01"),  # too short
        ("62.09.01.2001", "1 March", str(uuid.uuid4())),  # not a day
        ("62.09.01.2001", "2026-03-01", "not a uuid"),
        (2026, "62.09.01.2001", str(uuid.uuid4()), "capital"),  # double funding's
    ],
)
async def test_a_cursor_of_another_list_is_refused(
    deps: ReportingDeps, cursor: tuple[str | int, ...]
) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        await reports.unserved(deps, Filters(after=cursor))
    assert [(e.parameter, caught.value.place) for e in caught.value.errors] == [("after", "query")]


async def test_unserved_pages_read_every_household_once_and_no_empty_page(
    deps: ReportingDeps, model: ReadModel, read_models: FakeReadModels
) -> None:
    listed = unserved_programme(model)
    pages = [p async for p in reports.unserved_pages(deps, Filters(as_of=DAY), 5)]
    assert [[h.household_id for v in p for h in v.households] for p in pages] == [
        [h.id for h in listed]
    ]
    read_models.asked.clear()
    pages = [p async for p in reports.unserved_pages(deps, Filters(as_of=DAY), 2)]
    assert [sum(len(v.households) for v in p) for p in pages] == [2, 2, 1]
    assert [h.household_id for p in pages for v in p for h in v.households] == [
        h.id for h in listed
    ]
    assert len(read_models.asked) == 3  # the short page ended it


# -- double funding ---------------------------------------------------------------------------


def double_funded(model: ReadModel, n: int, village: str | None = V1) -> list[Household]:
    households = [enrolled(village) for _ in range(n)]
    for h in households:
        model.add(h, grant(h, "dinsos", 1_000_000), grant(h, "dispar", 2_000_000))
    return households


async def test_double_funding_pages_by_cursor_with_village_names(
    deps: ReportingDeps, model: ReadModel
) -> None:
    funded = sorted(double_funded(model, 3), key=lambda h: h.id)
    single = enrolled(V1)
    model.add(single, grant(single, "dinsos", 1), grant(single, "dinsos", 1))  # one agency: fine

    first = await reports.double_funding(deps, Filters(limit=2))
    assert (first.total, len(first.alerts)) == (3, 2)
    assert first.alerts[0].village_name == "Kuala Pembuang Satu"
    assert (first.alerts[0].agencies, first.alerts[0].total_idr) == (
        ["dinsos", "dispar"],
        3_000_000,
    )
    assert first.next == encode_cursor((DAY.year, V1, str(funded[1].id), "capital"))

    last = await reports.double_funding(deps, Filters(limit=2, after=decode_cursor(first.next)))
    assert [a.household_id for a in last.alerts] == [funded[2].id]
    assert (last.total, last.next) == (3, None)


async def test_double_funding_for_an_agency_and_every_alert_in_its_export(
    deps: ReportingDeps, model: ReadModel
) -> None:
    double_funded(model, DEFAULT_LIMIT + 1)
    other = enrolled(V3)
    model.add(other, grant(other, "distakan", 1), grant(other, "dkukmpp", 1))

    view = await reports.double_funding(deps, Filters())
    assert (view.total, len(view.alerts)) == (DEFAULT_LIMIT + 2, DEFAULT_LIMIT)
    assert view.next is not None
    distakan = await reports.double_funding(deps, Filters(agency="distakan"))
    assert [(a.household_id, a.village_name) for a in distakan.alerts] == [
        (other.id, "Sembuluh Satu")
    ]

    table = await exports.TABLES["double-funding"](deps, Filters())
    assert len(table.rows) == DEFAULT_LIMIT + 2


async def test_a_double_funding_cursor_of_another_shape_is_refused(deps: ReportingDeps) -> None:
    cursors: list[Cursor] = [("2026", V1, str(uuid.uuid4()), "capital"), (2026, V1, "x", "capital")]
    for cursor in cursors:
        with pytest.raises(InvalidQueryError, match="after"):
            await reports.double_funding(deps, Filters(after=cursor))


# -- outcomes, data quality, case ---------------------------------------------------------------


async def test_outcomes_rate_graduation_and_sort_decile_moves(
    deps: ReportingDeps, model: ReadModel
) -> None:
    up = enrolled(V1, initial_decile=1, welfare_decile=3, exited_on=DAY, exit_reason="graduated")
    same = enrolled(V1, initial_decile=2, welfare_decile=2, exited_on=DAY, exit_reason="moved")
    down = enrolled(V3, initial_decile=3, welfare_decile=2)
    model.add(up, same, down, enrolled(V3))
    for household, incomes in ((up, [1_000_000, 1_600_000]), (down, [900_000, 800_000])):
        for days, income in enumerate(incomes):
            on = DAY + timedelta(days=days)
            model.add(Record(household.id, "dkukmpp", "survey", on, income_idr=income))

    view = await reports.outcomes(deps, Filters())

    assert (view.enrolled, view.graduated) == (4, 1)
    assert view.graduation_rate_percent == 25.0
    assert view.exits_by_reason == {"graduated": 1, "moved": 1}
    deciles = view.deciles
    assert (deciles.improved, deciles.unchanged, deciles.worsened) == (1, 1, 1)
    assert [(m.from_decile, m.to_decile) for m in deciles.moves] == [(1, 3), (2, 2), (3, 2)]
    assert (view.income.households_up, view.income.households_down) == (1, 1)
    assert view.income.median_change_idr == 250_000

    nobody = await reports.outcomes(deps, Filters(areas=(V2,)))
    assert (nobody.enrolled, nobody.graduation_rate_percent) == (0, None)


async def test_data_quality_joins_stored_and_live_positions_into_lag(
    deps: ReportingDeps,
    model: ReadModel,
    positions: FakePositions,
    projector: FakeProjector,
) -> None:
    group = projector.group_id
    positions.stored = {
        (group, "t.registry", 0): 40,  # assigned here, 60 behind
        (group, "t.registry", 1): 90,  # assigned elsewhere: no live position
        (group, "t.interventions", 0): 12,  # stored past a highwater not fetched again yet
        ("another-group", "t.registry", 2): 5,
    }
    projector.assigned = [
        ("t.registry", 0, 40, 100),
        ("t.interventions", 0, 12, 10),
        ("t.interventions", 1, 0, None),  # assigned, nothing fetched yet, nothing stored
    ]
    projector.projected_total = 1234
    model.rejected += ["not-a-cloudevent", "unknown-type", "not-a-cloudevent"]
    model.add(Record(uuid.uuid4(), "dinsos", "grant-capital", DAY))  # its household not known

    view = await reports.data_quality(deps)

    assert [(p.topic, p.partition, p.stored_next_offset, p.lag) for p in view.partitions] == [
        ("t.interventions", 0, 12, 0),
        ("t.interventions", 1, None, None),
        ("t.registry", 0, 40, 60),
        ("t.registry", 1, 90, None),
    ]
    assert view.rejected_total == 3
    assert [(r.reason, r.events) for r in view.rejected_by_reason] == [
        ("not-a-cloudevent", 2),
        ("unknown-type", 1),
    ]
    assert (view.waiting_for_household.records, view.waiting_for_household.by_type) == (
        1,
        {"grant": 1},
    )
    assert view.events_projected_since_start == 1234


async def test_data_quality_names_the_agencies_of_intake_refusals(
    deps: ReportingDeps, read_models: FakeReadModels
) -> None:
    at = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    read_models.refusals = IntakeRefusals(
        total=3,
        by_agency_and_reason=[
            IntakeRefusalCount(
                agency="distakan", reason="invalid-data", refusals=2, last_refused_at=at
            ),
            IntakeRefusalCount(agency="gone", reason="conflict", refusals=1, last_refused_at=at),
        ],
        by_day=[],
    )

    refusals = (await reports.data_quality(deps)).intake_refusals

    assert refusals.total == 3
    assert [
        (r.agency, r.agency_name, r.agency_name_en, r.reason, r.refusals)
        for r in refusals.by_agency_and_reason
    ] == [
        (
            "distakan",
            "Dinas Pertanian, Perikanan dan Peternakan",
            "Agriculture, Fisheries and Livestock",
            "invalid-data",
            2,
        ),
        ("gone", None, None, "conflict", 1),  # an agency no longer configured: its code only
    ]


async def test_a_case_names_its_village_and_its_agencies_once_each(
    deps: ReportingDeps, model: ReadModel
) -> None:
    a = enrolled(V3)
    model.add(a, grant(a, "dispar", 1), grant(a, "dinsos", 2, on=DAY + timedelta(days=1)))
    model.add(Record(a.id, "dispar", "mentoring", DAY), grant(a, "dkukmpp", 3, voided=True))

    case = await reports.case(deps, a.id)

    assert case is not None and case.household is not None
    assert (case.household.village_code, case.household.village_name) == (V3, "Sembuluh Satu")
    assert case.agencies == ["dinsos", "dispar"]
    assert [e.on for e in case.entries] == [DAY, DAY, DAY + timedelta(days=1)]

    assert await reports.case(deps, uuid.uuid4()) is None
    waiting = uuid.uuid4()
    model.add(Record(waiting, "distakan", "training", DAY))
    known_by_records = await reports.case(deps, waiting)
    assert known_by_records is not None
    assert (known_by_records.household, known_by_records.agencies) == (None, ["distakan"])


# -- the public summary -------------------------------------------------------------------------


async def test_the_public_summary_hides_counts_below_the_threshold(
    deps: ReportingDeps, model: ReadModel
) -> None:
    assert THRESHOLD == 5
    hilir = [enrolled(V1) for _ in range(THRESHOLD)]
    sembuluh = [enrolled(V3) for _ in range(THRESHOLD - 1)]
    model.add(*hilir, *sembuluh)
    for h in [*hilir[:4], *sembuluh]:
        model.add(grant(h, "dinsos", 1_000_000))

    district = await reports.public_summary(deps, Filters(areas=(HILIR,)))
    assert (district.area, district.area_name, district.level) == (
        HILIR,
        "Seruyan Hilir",
        "district",
    )
    assert district.threshold == THRESHOLD
    shown = {k: (f.value, f.suppressed) for k, f in district.figures.items()}
    assert shown["households_registered"] == (5, False)
    assert shown["households_reached"] == (None, True)  # four
    assert shown["idr_disbursed"] == (None, True)  # four households' grants: each one's told

    regency = await reports.public_summary(deps, Filters(areas=(REGENCY,)))
    figures = regency.figures
    assert (figures["households_reached"].value, figures["idr_disbursed"].value) == (8, 8_000_000)
    assert figures["households_reached_by_two_or_more"].suppressed  # none

    country = await reports.public_summary(deps, Filters())
    assert (country.area, country.area_name, country.level) == ("", "Indonesia", "country")


# -- exports -------------------------------------------------------------------------------------


async def test_each_export_is_its_view_as_a_table(deps: ReportingDeps, model: ReadModel) -> None:
    a = enrolled(V1, exited_on=DAY, exit_reason="graduated")
    model.add(a, grant(a, "dinsos", 1_000_000, kind="equipment"))
    model.rejected.append("unknown-type")
    filters = Filters(areas=(HILIR,))

    summary = await exports.TABLES["summary"](deps, filters)
    row = dict(zip((c.name for c in summary.columns), summary.rows[0], strict=True))
    assert row["households_graduated"] == 1
    assert (row["interventions_grant_equipment"], row["idr_disbursed"]) == (1, 1_000_000)
    assert summary.columns[-1].name == "trainings_completed"

    areas = await exports.TABLES["areas"](deps, filters)
    assert [r[0] for r in areas.rows] == [HILIR, V1, V2]  # the area, then its children

    agencies = await exports.TABLES["agencies"](deps, Filters())
    assert [r[0] for r in agencies.rows] == CONFIGURED

    outcomes = await exports.TABLES["outcomes"](deps, Filters())
    named = dict(zip((c.name for c in outcomes.columns), outcomes.rows[0], strict=True))
    assert (named["graduated"], named["graduation_rate_percent"]) == (1, 100.0)

    rejected = await exports.TABLES["data-quality"](deps, Filters())
    assert rejected.rows == [["unknown-type", 1]]
    convergence = await exports.TABLES["convergence"](deps, Filters())
    assert [r[1] for r in convergence.rows] == [1, 0, 0, 0]


async def test_an_empty_export_still_has_its_columns(deps: ReportingDeps) -> None:
    for name in ("timeseries", "double-funding", "data-quality"):
        table = await exports.TABLES[name](deps, Filters())
        assert table.rows == []
        assert table.columns, name


async def test_an_areas_export_of_an_unknown_area_is_refused(deps: ReportingDeps) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        await exports.TABLES["areas"](deps, Filters(areas=("62.09.09",)))
    assert [e.parameter for e in caught.value.errors] == ["area"]


async def test_the_unserved_export_is_every_page_with_the_same_columns(
    deps: ReportingDeps, model: ReadModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = unserved_programme(model)
    monkeypatch.setattr(exports, "UNSERVED_PAGE", 2)
    tables = [t async for t in exports.PAGED["unserved"](deps, Filters(as_of=DAY))]
    assert [len(t.rows) for t in tables] == [2, 2, 1]
    assert all(t.columns == exports.PAGED_COLUMNS["unserved"] for t in tables)
    at = [c.name for c in exports.PAGED_COLUMNS["unserved"]].index("household_id")
    assert [r[at] for t in tables for r in t.rows] == [str(h.id) for h in listed]
    assert tables[0].rows[1][1] == "Kuala Pembuang Satu"


# -- the monthly report ---------------------------------------------------------------------------


def test_a_village_belongs_to_the_child_of_the_area_holding_it() -> None:
    regency = Area(REGENCY, "Seruyan", "regency")
    assert child_of(regency, V1) == HILIR
    assert child_of(Area(HILIR, "Seruyan Hilir", "district"), V1) == V1
    assert child_of(regency, None) == ""


async def test_the_monthly_report_pairs_month_and_year_and_counts_by_child(
    deps: ReportingDeps, model: ReadModel, read_models: FakeReadModels
) -> None:
    march = date(2026, 3, 1)
    earlier = enrolled(V1, on=date(2026, 1, 5))
    now = enrolled(V3, on=date(2026, 3, 5))
    model.add(earlier, now, grant(earlier, "dinsos", 1_000_000, on=date(2026, 1, 6)))
    model.add(grant(now, "dinsos", 2_000_000, on=date(2026, 3, 6)))
    model.add(grant(now, "dispar", 4_000_000, on=date(2026, 3, 7)))  # double funding
    model.rejected.append("unknown-type")
    regency = reports.area_named(deps, REGENCY, "query", "area")

    figures = await monthly_figures(deps, Filters(areas=(REGENCY,), month=march), regency)

    assert (
        figures.summary_month.households.enrolled,
        figures.summary_year.households.enrolled,
    ) == (
        1,
        2,
    )
    assert [(m.agency, m.idr_disbursed, y.idr_disbursed) for m, y in figures.agencies][:2] == [
        ("dinsos", 2_000_000, 3_000_000),
        ("dispar", 4_000_000, 4_000_000),
    ]
    assert [(m.code, m.idr_disbursed, y.idr_disbursed) for m, y in figures.children] == [
        (HILIR, 0, 1_000_000),
        (SEMBULUH, 6_000_000, 6_000_000),
    ]
    assert (figures.totals[0].idr_disbursed, figures.totals[1].idr_disbursed) == (
        6_000_000,
        7_000_000,
    )
    # Unserved as of the month's last day: `earlier`, last reached on 6 January, 84 days before.
    assert figures.unserved_as_of == date(2026, 3, 31)
    assert (figures.unserved_total, figures.unserved_by_child) == (1, {HILIR: 1})
    assert [(a.child, a.kind, a.alerts, a.idr) for a in figures.alerts] == [
        (SEMBULUH, "capital", 1, 6_000_000)
    ]
    assert figures.quality.rejected_total == 1
    assert figures.convergence.enrolled_reached_by_two_or_more == 1


async def test_a_monthly_report_of_an_as_of_snapshot_reads_that_snapshot(
    deps: ReportingDeps, model: ReadModel, read_models: FakeReadModels
) -> None:
    asof = read_models.snapshots["rm_asof_2026_03"] = ReadModel()
    asof.add(enrolled(V1, on=date(2026, 3, 2)))
    model.add(*(enrolled(V1, on=date(2026, 3, 3)) for _ in range(7)))  # later, in the live one
    regency = reports.area_named(deps, REGENCY, "query", "area")
    filters = Filters(areas=(REGENCY,), month=date(2026, 3, 1), snapshot="rm_asof_2026_03")

    figures = await monthly_figures(deps, filters, regency)

    assert figures.snapshot == "rm_asof_2026_03"
    assert figures.summary_month.households.enrolled == 1
    assert figures.totals[1].households_enrolled == 1
    asked = {f.snapshot for _, f in read_models.asked if f is not None}
    assert asked == {"rm_asof_2026_03"}


async def test_the_monthly_report_of_the_month_under_way_counts_unserved_as_of_today(
    deps: ReportingDeps,
) -> None:
    today = datetime.now(JAKARTA).date()
    month = date(today.year, today.month, 1)
    country = reports.area_named(deps, "", "query", "area")
    figures = await monthly_figures(deps, Filters(month=month), country)
    assert figures.unserved_as_of == today
