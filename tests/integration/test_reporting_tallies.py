"""The tallies (adapters/tallies.py) on real PostgreSQL: a random programme with everything that
moves a figure (households moving village, deciles changing, exits, records before their
household's registration, households never registered, voids before and after their records,
grants of another fiscal year, redeliveries) is projected batch by batch in shuffled order; then
the tallies equal a rebuild from the facts, and every report read from them equals the same
report counted from the facts, for every combination of agency, area, fiscal year and month."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gayari_reporting.adapters import tallies
from gayari_reporting.adapters.areas import area_index
from gayari_reporting.adapters.decoding import decode
from gayari_reporting.adapters.generations import Generations, use_active
from gayari_reporting.adapters.reports import AlertKey, ReportQueries, UnservedKey
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.domain.areas import children_length
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import DoubleFundingAlert, UnservedHousehold
from gayari_reporting.service_layer import projection
from gayari_shared.events.contracts import (
    BusinessSurveyedV1,
    GrantIssuedV2,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingCompletedV2,
)
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.migrations import Migration, MigrationSet, apply
from gayari_shared.postgres import create_pool
from tests.conftest import DatabaseFactory
from tests.integration.test_reporting_order_independence import record

pytestmark = pytest.mark.stack
AGENCIES = ("dinsos", "dispar", "distakan", "dkukmpp")
T0 = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
# A day after every record of the programme (the kept contacts answer), and one within it (the
# facts do, as records after it do not count).
AFTER_ALL = date(2026, 12, 31)
WITHIN = date(2026, 3, 1)
TOPICS = ("t.households", "t.interventions")


def places() -> list[str]:
    """Villages in two districts of Lamandau, one elsewhere in the province and one in another
    province: every level of the hierarchy has more than one child with households."""
    index = area_index()
    villages: list[str] = []
    for district in ("62.09.01", "62.09.03"):
        villages += [v.code for v in index.children(district)[:3]]
    other_regency = index.children("62.01")[0].code
    villages += [v.code for v in index.children(other_regency)[:2]]
    other_province = index.children(index.children("63")[0].code)[0].code
    villages += [v.code for v in index.children(other_province)[:2]]
    return villages


def programme(seed: int, households: int) -> list[Envelope]:
    rng = random.Random(seed)
    villages = places()
    events: list[Envelope] = []

    def add(data: Any) -> None:
        events.append(envelope_for(data, source="/gayari/test", correlation_id="tally"))

    def day(lo: int = 0, hi: int = 640) -> datetime:
        return T0 + timedelta(days=rng.randint(lo, hi), hours=rng.randint(0, 23))

    for _ in range(households):
        hid = uuid.uuid4()
        registered = day(0, 300)
        if rng.random() < 0.9:
            add(
                HouseholdRegisteredV1(
                    household_id=hid,
                    village_code=rng.choice(villages),
                    welfare_decile=rng.randint(1, 4),
                    member_count=3,
                    kk_hash=uuid.uuid4().hex * 2,
                    registered_at=registered,
                )
            )
        if rng.random() < 0.8:
            add(
                HouseholdEnrolledV1(
                    household_id=hid,
                    cohort_year=2025,
                    enrolling_agency=rng.choice(AGENCIES),
                    enrolled_at=registered + timedelta(days=rng.randint(0, 40)),
                )
            )
        for _ in range(rng.choice((0, 0, 1, 2))):  # moves, delivered in any order
            add(
                HouseholdDetailsChangedV1(
                    household_id=hid,
                    changed=["village_code"],
                    village_code=rng.choice(villages),
                    changed_at=day(300, 600),
                )
            )
        if rng.random() < 0.3:
            add(
                HouseholdDetailsChangedV1(
                    household_id=hid,
                    changed=["welfare_decile"],
                    welfare_decile=rng.randint(1, 10),
                    changed_at=day(300, 600),
                )
            )
        if rng.random() < 0.15:
            add(
                HouseholdExitedV1(
                    household_id=hid,
                    reason=rng.choice(("graduated", "graduated", "moved", "ineligible")),
                    exited_at=day(400, 640),
                )
            )
        for _ in range(rng.randint(0, 4)):
            agency = rng.choice(AGENCIES)
            at = day()
            kind = rng.random()
            record_id = uuid.uuid4()
            if kind < 0.5:
                add(
                    GrantIssuedV2(
                        household_id=hid,
                        grant_id=record_id,
                        agency=agency,
                        kind=rng.choice(("capital", "equipment")),
                        amount_idr=rng.randrange(500_000, 5_000_000, 1000),
                        purpose="Modal usaha",
                        # Now and then a grant counted in the fiscal year before its issue.
                        fiscal_year=at.year - (rng.random() < 0.1),
                        issued_at=at,
                    )
                )
                voidable = "grant"
            elif kind < 0.75:
                add(
                    TrainingCompletedV2(
                        household_id=hid,
                        completion_id=record_id,
                        session_id=uuid.uuid4(),
                        member_id=uuid.uuid4(),
                        agency=agency,
                        topic="Pembukuan usaha",
                        hours=16,
                        completed_on=at.date(),
                        recorded_at=at,
                    )
                )
                voidable = "training-completion"
            else:
                add(
                    MentoringVisitedV1(
                        household_id=hid,
                        visit_id=record_id,
                        agency=agency,
                        visited_on=at.date(),
                        business_status="running",
                        recorded_at=at,
                    )
                )
                voidable = "mentoring-visit"
            if rng.random() < 0.12:
                add(
                    InterventionVoidedV1(
                        intervention_id=record_id,
                        intervention_type=voidable,
                        household_id=hid,
                        agency=agency,
                        reason="entered-in-error",
                        voided_at=at + timedelta(days=2),
                    )
                )
        surveys(rng, hid, day, add)
    rng.shuffle(events)
    events += rng.sample(events, k=len(events) // 20)  # redelivered
    return events


def surveys(
    rng: random.Random,
    hid: uuid.UUID,
    day: Callable[[], datetime],
    add: Callable[[Any], None],
) -> None:
    """A household's business surveys (of unregistered households too), now and then voided."""
    for _ in range(rng.choice((0, 0, 1, 2, 3))):  # surveys, of unregistered ones too
        at = day()
        survey_id = uuid.uuid4()
        add(
            BusinessSurveyedV1(
                household_id=hid,
                survey_id=survey_id,
                agency=rng.choice(AGENCIES),
                surveyed_on=at.date(),
                monthly_income_idr=rng.randrange(0, 4_000_000, 250_000),
                workers=1,
                recorded_at=at,
            )
        )
        if rng.random() < 0.1:
            add(
                InterventionVoidedV1(
                    intervention_id=survey_id,
                    intervention_type="business-survey",
                    household_id=hid,
                    agency="dinsos",
                    reason="entered-in-error",
                    voided_at=at + timedelta(days=3),
                )
            )


async def project(pool: asyncpg.Pool, events: list[Envelope], seed: int) -> None:
    """Batches of random size; a household's events on one partition index of each topic."""
    rng = random.Random(seed)
    store = ReadModelStore(pool)
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    position = 0
    while position < len(events):
        size = rng.choice((1, 7, 40, 150))
        batch: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for envelope in events[position : position + size]:
            topic = TOPICS[0] if "household" in envelope.type else TOPICS[1]
            partition = uuid.UUID(str(envelope.data["household_id"])).int % 3
            key = (topic, partition)
            batch[key].append(decode(record(envelope, topic, partition, offsets[key])))
            offsets[key] += 1
        await projection.project(store, "tally", batch)
        position += size


@pytest.fixture
async def loaded(databases: DatabaseFactory) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await databases.create("tally"))
    try:
        await Generations(pool).prepare()
        await project(pool, programme(seed=7, households=250), seed=7)
        yield pool
    finally:
        await pool.close()


def combinations(villages: list[str]) -> list[Filters]:
    districts = sorted({v[:8] for v in villages})
    area_sets: list[tuple[str, ...]] = [
        (),
        ("62",),
        ("62.09",),
        (districts[0],),
        (districts[1],),
        (villages[0],),
        (districts[0], villages[0]),  # nested: the village
        (districts[0], districts[1]),  # disjoint: nothing
    ]
    return [
        Filters(agency=agency, areas=areas, fiscal_year=year, month=month)
        for agency in (None, *AGENCIES)
        for areas in area_sets
        for year in (None, 2025, 2026)
        for month in (None, date(2025, 6, 1), date(2026, 2, 1))
    ]


async def test_kept_tallies_equal_a_rebuild(loaded: asyncpg.Pool) -> None:
    async with loaded.acquire() as conn, conn.transaction():
        await use_active(conn)
        assert await tallies.drift(conn) == dict.fromkeys(tallies.TABLES, 0)
        rows = await conn.fetchval("SELECT count(*) FROM tally_reach WHERE households > 0")
    assert rows > 100  # the programme is not trivial


async def test_every_report_from_the_tallies_equals_the_facts(loaded: asyncpg.Pool) -> None:
    fast, exact = ReportQueries(loaded), ReportQueries(loaded, tallies=False)
    index = area_index()
    compared = 0
    nonzero = 0
    alerts = 0
    every = combinations(places())
    for filters in every:
        for name in ("summary", "agencies", "time_series", "convergence", "public_counts"):
            got, want = await asyncio.gather(
                getattr(fast, name)(filters), getattr(exact, name)(filters)
            )
            if name == "summary":  # the as-of time is read separately by each
                got, want = got[:3], want[:3]
            assert got == want, (name, filters)
            compared += 1
        got_outcomes = await fast.outcomes(filters)
        want_outcomes = await exact.outcomes(filters)
        assert got_outcomes[:3] == want_outcomes[:3], ("outcomes", filters)
        assert sorted(got_outcomes[3], key=str) == sorted(want_outcomes[3], key=str)
        summary = await exact.summary(filters)
        nonzero += summary[0].reached > 0
        if filters.month is None:  # not a filter of the alerts
            plain = Filters(
                agency=filters.agency, areas=filters.areas, fiscal_year=filters.fiscal_year
            )
            got_alerts, total = await fast.double_funding(plain)
            assert (got_alerts, total) == await exact.double_funding(plain), plain
            assert total == len(got_alerts)
            alerts += total
            paged: list[Any] = []
            while page := (
                await fast.double_funding(plain, 3, key_of(paged[-1]) if paged else None)
            )[0]:
                paged += page
            assert paged == got_alerts, plain
    unserved = 0
    for filters in every:
        if filters.fiscal_year is not None or filters.month is not None:
            continue  # not filters of the list
        for days, as_of in ((30, AFTER_ALL), (120, AFTER_ALL), (400, AFTER_ALL), (60, WITHIN)):
            got_unserved, total = await fast.unserved(filters, days, as_of)
            assert (got_unserved, total) == await exact.unserved(filters, days, as_of), filters
            assert total == len(got_unserved)
            unserved += total
            listed: list[tuple[str | None, UnservedHousehold]] = []
            while rows := (
                await fast.unserved(
                    filters, days, as_of, 5, unserved_key(listed[-1]) if listed else None
                )
            )[0]:
                listed += rows
            assert listed == got_unserved, (filters, days, as_of)
    assert unserved > 500
    got_quality, want_quality = await fast.data_quality(), await exact.data_quality()
    assert got_quality == want_quality
    assert got_quality[1].households > 5 and len(got_quality[1].by_type) == 4, got_quality
    for code in ("", "62", "62.09", "62.09.01"):
        place = index.get(code)
        assert place is not None
        for filters in every[::7]:
            length = children_length(place, index)
            got_areas = await fast.areas(place, length, filters)
            want_areas = await exact.areas(place, length, filters)
            assert {k: v for k, v in got_areas.items() if _any(v)} == {
                k: v for k, v in want_areas.items() if _any(v)
            }, (code, filters)
            compared += 1
    assert compared > 1000 and nonzero > 100 and alerts > 20


def unserved_key(row: tuple[str | None, UnservedHousehold]) -> UnservedKey:
    return (row[0] or "", row[1].last_contact, row[1].household_id)


def key_of(alert: DoubleFundingAlert) -> AlertKey:
    return (alert.fiscal_year, alert.village_code or "", alert.household_id, alert.kind)


def _any(figures: Any) -> bool:
    """An area with no figure at all is listed by one way and not by the other; both read 0."""
    return any(v for k, v in figures.model_dump().items() if k not in ("code", "name", "level"))


def test_the_programme_moves_every_figure() -> None:
    events = programme(seed=7, households=250)
    types = {e.type for e in events}
    assert {
        "gayari.household.details-changed.v1",
        "gayari.household.exited.v1",
        "gayari.intervention.voided.v1",
        "gayari.business.surveyed.v1",
    } <= types, types
    assert len(events) > 1000
    assert datetime(2026, 1, 1, tzinfo=UTC) > T0


async def test_a_long_migration_is_not_cut_by_the_request_timeout(
    databases: DatabaseFactory,
) -> None:
    # The tallies' migration rebuilds them from every fact (minutes on a large deployment):
    # the pool's command timeout, meant for requests, must not cancel it.
    pool = await asyncpg.create_pool(await databases.create("slow"), command_timeout=0.1)
    assert pool is not None
    slow = MigrationSet.of("slow", [Migration.of("0001_slow.sql", "SELECT pg_sleep(0.4)")])
    try:
        async with pool.acquire() as conn:
            assert len(await apply(conn, slow)) == 1
    finally:
        await pool.close()


async def test_the_kept_median_income_change_interpolates_as_postgresql_does(
    databases: DatabaseFactory,
) -> None:
    """Changes of +100,000, +300,000, -50,000 and +1,000,000: an even count, so the median is
    halfway between the middle two (200,000); a fifth household (+300,000) makes it 300,000."""
    pool = await create_pool(await databases.create("income"))
    fast, exact = ReportQueries(pool), ReportQueries(pool, tallies=False)
    village = places()[0]

    def household(first: int, latest: int) -> list[Envelope]:
        hid = uuid.uuid4()
        data: list[Any] = [
            HouseholdRegisteredV1(
                household_id=hid,
                village_code=village,
                welfare_decile=2,
                member_count=3,
                kk_hash=uuid.uuid4().hex * 2,
                registered_at=T0,
            )
        ]
        for days, income in ((10, first), (200, latest)):
            data.append(
                BusinessSurveyedV1(
                    household_id=hid,
                    survey_id=uuid.uuid4(),
                    agency="dinsos",
                    surveyed_on=(T0 + timedelta(days=days)).date(),
                    monthly_income_idr=income,
                    workers=1,
                    recorded_at=T0 + timedelta(days=days),
                )
            )
        return [envelope_for(d, source="/gayari/test", correlation_id="income") for d in data]

    try:
        await Generations(pool).prepare()
        changes = [(900_000, 1_000_000), (500_000, 800_000), (400_000, 350_000), (0, 1_000_000)]
        events = [e for pair in changes for e in household(*pair)]
        await project(pool, events, seed=1)
        for area in ((), (village[:8],), (village[:5],)):
            income = (await fast.outcomes(Filters(areas=area)))[2]
            assert income == (await exact.outcomes(Filters(areas=area)))[2]
            assert (income.households_surveyed_twice, income.median_change_idr) == (4, 200_000)
            assert (income.households_up, income.households_down) == (3, 1)
            assert income.mean_change_idr == round((100_000 + 300_000 - 50_000 + 1_000_000) / 4)
        # The same events again (their offsets are behind the stored ones), then a fifth.
        await project(pool, events + household(100_000, 400_000), seed=2)
        income = (await fast.outcomes(Filters()))[2]
        assert income == (await exact.outcomes(Filters()))[2]
        assert (income.households_surveyed_twice, income.median_change_idr) == (5, 300_000)
    finally:
        await pool.close()
