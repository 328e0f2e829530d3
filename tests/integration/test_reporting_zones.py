"""A household's days in the zone of its province, at the day boundary, on real PostgreSQL: a
household in Papua (province 91, WIT, UTC+9) and one in Lamandau (62.09, WIB, UTC+7), with the
same moments, land in different days, months and fiscal years, in the tallies and in the facts
alike (every report counted both ways).

2025-12-31T16:30Z is 23:30 on 31 December 2025 in WIB, 01:30 on 1 January 2026 in WIT;
2026-01-31T15:30Z is 22:30 on 31 January in WIB, 00:30 on 1 February in WIT."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from gayari_reporting.adapters import tallies
from gayari_reporting.adapters.areas import area_index
from gayari_reporting.adapters.generations import Generations, use_active
from gayari_reporting.adapters.reports import ReportQueries
from gayari_reporting.domain.filters import Filters
from gayari_reporting.entrypoints.migrate import ReportingSchema
from gayari_shared.areas.zones import PROVINCE_ZONES, ZONES
from gayari_shared.events.contracts import (
    GrantIssuedV2,
    HouseholdEnrolledV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.postgres import create_pool, quote_ident
from tests.conftest import DatabaseFactory
from tests.integration.test_reporting_tallies import project

pytestmark = pytest.mark.stack

NEW_YEARS_EVE = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)
END_OF_JANUARY = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)
PAPUA, LAMANDAU = uuid.UUID(int=91), uuid.UUID(int=62)


def village_in(code: str) -> str:
    index = area_index()
    while len(code) < 13:
        code = index.children(code)[0].code
    return code


@dataclass(frozen=True)
class Places:
    papua: str
    lamandau: str


def events(places: Places) -> list[Envelope]:
    """Each household registered and enrolled on New Year's Eve (UTC), a dinsos grant then and
    a dispar grant at the end of January (UTC). Each grant's fiscal year is the one interventions
    gives it: the year of its day in the household's zone."""
    data: list[Any] = []
    for hid, village, fiscal_year in (
        (PAPUA, places.papua, 2026),
        (LAMANDAU, places.lamandau, 2025),
    ):
        data += [
            HouseholdRegisteredV1(
                household_id=hid,
                village_code=village,
                welfare_decile=2,
                member_count=3,
                kk_hash=hid.hex * 2,
                registered_at=NEW_YEARS_EVE,
            ),
            HouseholdEnrolledV1(
                household_id=hid,
                cohort_year=2025,
                enrolling_agency="dinsos",
                enrolled_at=NEW_YEARS_EVE,
            ),
            GrantIssuedV2(
                household_id=hid,
                grant_id=uuid.uuid4(),
                agency="dinsos",
                kind="capital",
                amount_idr=1_000_000,
                purpose="Modal usaha",
                fiscal_year=fiscal_year,
                issued_at=NEW_YEARS_EVE,
            ),
            GrantIssuedV2(
                household_id=hid,
                grant_id=uuid.uuid4(),
                agency="dispar",
                kind="capital",
                amount_idr=2_000_000,
                purpose="Modal usaha",
                fiscal_year=2026,
                issued_at=END_OF_JANUARY,
            ),
        ]
    return [envelope_for(d, source="/gayari/test", correlation_id="zones") for d in data]


@pytest.fixture
async def loaded(databases: DatabaseFactory) -> AsyncIterator[tuple[asyncpg.Pool, Places]]:
    places = Places(papua=village_in("91"), lamandau=village_in("62.09"))
    pool = await create_pool(await databases.create("zones"))
    try:
        await Generations(pool).prepare()
        await project(pool, events(places), seed=3)
        yield pool, places
    finally:
        await pool.close()


# month -> (registered, enrolled, grants, IDR, households reached)
Months = dict[str, tuple[int, int, int, int, int]]
IN_PAPUA: Months = {"2026-01": (1, 1, 1, 1_000_000, 1), "2026-02": (0, 0, 1, 2_000_000, 1)}
IN_LAMANDAU: Months = {"2025-12": (1, 1, 1, 1_000_000, 1), "2026-01": (0, 0, 1, 2_000_000, 1)}
IN_THE_COUNTRY: Months = {
    "2025-12": (1, 1, 1, 1_000_000, 1),
    "2026-01": (1, 1, 2, 3_000_000, 2),
    "2026-02": (0, 0, 1, 2_000_000, 1),
}


async def months(queries: ReportQueries, filters: Filters) -> Months:
    return {
        m.month: (
            m.households_registered,
            m.households_enrolled,
            m.grants,
            m.idr_disbursed,
            m.households_reached,
        )
        for m in await queries.time_series(filters)
    }


async def check_every_report(pool: asyncpg.Pool, places: Places) -> None:
    for queries in (ReportQueries(pool), ReportQueries(pool, tallies=False)):
        # The time series: each household's months in its zone, for a village (the facts), its
        # district and province (the tallies, unless counted from the facts) and the country.
        for areas, want in (
            (("91",), IN_PAPUA),
            ((places.papua[:8],), IN_PAPUA),
            ((places.papua,), IN_PAPUA),
            (("62.09",), IN_LAMANDAU),
            ((places.lamandau,), IN_LAMANDAU),
            ((), IN_THE_COUNTRY),
        ):
            assert await months(queries, Filters(areas=areas)) == want, (areas, queries)

        # A fiscal year: Papua's New Year's Eve is in 2026, Lamandau's in 2025.
        for year, registered, grants, idr in ((2025, 1, 1, 1_000_000), (2026, 1, 3, 5_000_000)):
            counts, by_kind, disbursed, _ = await queries.summary(Filters(fiscal_year=year))
            assert (counts.registered, counts.enrolled) == (registered, registered), year
            assert (by_kind.get("grant-capital", 0), disbursed) == (grants, idr), year
        counts, _, disbursed, _ = await queries.summary(Filters(areas=("91",), fiscal_year=2026))
        assert (counts.registered, counts.enrolled, disbursed) == (1, 1, 3_000_000)
        counts, _, disbursed, _ = await queries.summary(Filters(areas=("91",), fiscal_year=2025))
        assert (counts.registered, disbursed) == (0, 0)

        # A month: February holds only Papua's grant of 31 January (UTC).
        _, _, disbursed, _ = await queries.summary(Filters(month=date(2026, 2, 1)))
        assert disbursed == 2_000_000
        counts, _, disbursed, _ = await queries.summary(Filters(month=date(2026, 1, 1)))
        assert (counts.registered, disbursed) == (1, 3_000_000)

        # Each agency's Rupiah in a fiscal year (what its budget realisation divides).
        for year, want_idr in (
            (2025, {"dinsos": 1_000_000}),
            (2026, {"dinsos": 1_000_000, "dispar": 4_000_000}),
        ):
            figures, _ = await queries.agencies(Filters(fiscal_year=year))
            got = {a: f.idr_disbursed for a, f in figures.items() if f.idr_disbursed}
            assert got == want_idr, year

        # The last contact: Papua's on 1 February, Lamandau's on 31 January; with a day's
        # grace counted from 2 February, only Lamandau's household is unserved.
        rows, total = await queries.unserved(Filters(), 1, date(2026, 2, 2))
        assert (total, [r[1].household_id for r in rows]) == (1, [LAMANDAU]), queries

        # The case view: the same days.
        for hid, enrolled_on, days in (
            (PAPUA, date(2026, 1, 1), [date(2026, 1, 1), date(2026, 2, 1)]),
            (LAMANDAU, date(2025, 12, 31), [date(2025, 12, 31), date(2026, 1, 31)]),
        ):
            case = await queries.case(hid)
            assert case is not None and case[0] is not None
            assert case[0].enrolled_on == enrolled_on
            assert [e.on for e in case[1]] == days


async def test_each_household_counts_in_its_provinces_zone(
    loaded: tuple[asyncpg.Pool, Places],
) -> None:
    pool, places = loaded
    async with pool.acquire() as conn, conn.transaction():
        await use_active(conn)
        assert await tallies.drift(conn) == dict.fromkeys(tallies.TABLES, 0)
    await check_every_report(pool, places)


async def test_a_grant_naming_no_fiscal_year_is_in_the_year_of_its_day_in_its_zone(
    loaded: tuple[asyncpg.Pool, Places],
) -> None:
    """Grants projected before the column existed have none: their fiscal year is that of their
    day in the household's zone, the one interventions would have given them."""
    pool, places = loaded
    async with pool.acquire() as conn, conn.transaction():
        await use_active(conn)
        assert await conn.execute("UPDATE grants SET fiscal_year = NULL") == "UPDATE 4"
        await tallies.rebuild(conn)
    await check_every_report(pool, places)


async def test_the_sql_zone_of_every_province_is_the_python_one(
    loaded: tuple[asyncpg.Pool, Places],
) -> None:
    pool, _ = loaded
    async with pool.acquire() as conn, conn.transaction():
        await use_active(conn)
        got = {
            code: await conn.fetchval("SELECT area_zone($1)", code + ".01")
            for code in PROVINCE_ZONES
        }
        unknown = [await conn.fetchval("SELECT area_zone($1)", c) for c in (None, "", "99.01")]
    assert got == {code: ZONES[zone].key for code, zone in PROVINCE_ZONES.items()}
    assert unknown == ["Asia/Jakarta"] * 3


async def test_migrate_up_brings_a_finished_as_of_report_up_to_date(
    databases: DatabaseFactory,
) -> None:
    """An as-of report is read with this release's queries: `up` applies the read-model files
    it lacks in its schema too, and `status` lists them."""
    pool = await create_pool(await databases.create("zonesasof"))
    target = ReportingSchema()
    try:
        generations = Generations(pool)
        await generations.prepare()
        snapshot = await generations.create(as_of=datetime.now(UTC))
        await generations.finish_snapshot(snapshot, 0)
        schema = quote_ident(snapshot)
        async with pool.acquire() as conn:
            # As a report built by the release before this one left it.
            await conn.execute(f"DROP FUNCTION {schema}.area_zone(text) CASCADE")
            await conn.execute(f"DELETE FROM {schema}.schema_migrations WHERE version = 12")
            pending = [
                (s.schema, s.filename)
                for s in await target.status(conn)
                if s.state == "pending" and s.component == "reporting"
            ]
            assert pending == [(snapshot, "0012_household_zones.sql")]
            applied = [m.filename for m in await target.up(conn)]
            # (and the intake refusals' file, which Generations.prepare leaves to `up`)
            assert applied == ["0012_household_zones.sql", "0001_intake_refusals.sql"]
            assert {s.state for s in await target.status(conn)} == {"applied"}
            assert await conn.fetchval(f"SELECT {schema}.area_zone('91.71')") == "Asia/Jayapura"
            assert await conn.fetchval(f"SELECT count(*) FROM {schema}.live_interventions") == 0
    finally:
        await pool.close()
