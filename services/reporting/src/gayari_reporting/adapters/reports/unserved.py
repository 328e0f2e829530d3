"""The unserved report: enrolled households no agency (or the agency) reached for a while."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from gayari_reporting.adapters.household_rows import CONTACT_LEVELS
from gayari_reporting.adapters.reports.facts import (
    FactSql,
    local_day,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots, tallied_area
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    UnservedHousehold,
    UnservedKey,
)
from gayari_shared.postgres import Connection


def _unserved_key(row: asyncpg.Record) -> UnservedKey:
    return (row["village_code"], row["last_contact"], row["household_id"])


async def read(
    db: Snapshots,
    filters: Filters,
    days: int,
    as_of: date,
    *,
    limit: int | None = None,
    after: UnservedKey | None = None,
) -> tuple[list[tuple[str | None, UnservedHousehold]], int]:
    """Enrolled households in the programme whose last contact is more than `days` before
    `as_of`: those after the key `after`, at most `limit` (None: all), and how many on
    every page."""
    cutoff = as_of - timedelta(days=days)
    async with db.snapshot(filters.snapshot) as conn:
        # The kept contacts hold each household's latest record whenever it is dated: they
        # answer for a day after every one of them (today, unless records are dated ahead).
        if db.kept and await conn.fetchval(
            "SELECT coalesce(max(last_on) <= $1, true) FROM contacts", as_of
        ):
            rows, total = await _from_contacts(conn, filters, cutoff, limit, after)
        else:
            rows = await _from_facts(conn, filters, cutoff, as_of)
            total = len(rows)
            if after is not None:
                rows = [r for r in rows if _unserved_key(r) > after]
            rows = rows[:limit]
    return [
        (
            r["village_code"] or None,
            UnservedHousehold(
                household_id=r["household_id"],
                last_contact=r["last_contact"],
                days_without=(as_of - r["last_contact"]).days,
            ),
        )
        for r in rows
    ], total


async def _from_contacts(
    conn: Connection,
    filters: Filters,
    cutoff: date,
    limit: int | None,
    after: UnservedKey | None,
) -> tuple[list[asyncpg.Record], int]:
    q = FactSql()
    area = q.areas(filters, "c.village_code")
    # For an agency, a household it never reached counts from its enrolment.
    last = (
        "c.last_on"
        if filters.agency is None
        else f"coalesce((c.last_by ->> {q(filters.agency)})::date, c.enrolled_on)"
    )
    matching = f"""SELECT c.household_id, c.village_code, {last} AS last_contact
                   FROM contacts c WHERE {last} < {q(cutoff)} AND {area}"""
    scope = tallied_area(filters)
    if scope is not None and len(scope) in CONTACT_LEVELS:
        total = await _counted_by_day(conn, scope, filters.agency, cutoff)
    else:
        total = int(await conn.fetchval(f"SELECT count(*) FROM ({matching}) AS m", *q.params))
    later = (
        f"WHERE (m.village_code, m.last_contact, m.household_id) > ({q(after[0])}, "
        f"{q(after[1])}, {q(after[2])})"
        if after is not None
        else ""
    )
    page = f"LIMIT {q(limit)}" if limit is not None else ""
    rows = await conn.fetch(
        f"""SELECT * FROM ({matching}) AS m {later}
            ORDER BY m.village_code, m.last_contact, m.household_id {page}""",
        *q.params,
    )
    return rows, total


async def _from_facts(
    conn: Connection, filters: Filters, cutoff: date, as_of: date
) -> list[asyncpg.Record]:
    """Every unserved household, counted from the facts (household_rows.py keeps the contacts)."""
    q = FactSql()
    # One grouped pass over the interventions of the area's households (of every household
    # without an area), not a lookup per household.
    return await conn.fetch(
        f"""WITH latest AS (
              SELECT i.household_id, max(i.happened_on) AS day
              FROM {q.live(Filters(filters.agency, filters.areas), until=as_of)}
              GROUP BY i.household_id)
            SELECT household_id, village_code, last_contact FROM (
              SELECT h.household_id, coalesce(h.village_code, '') AS village_code,
                coalesce(l.day, {local_day("h.enrolled_at")}) AS last_contact
              FROM household_state h LEFT JOIN latest l USING (household_id)
              WHERE h.enrolled_at IS NOT NULL AND h.exited_at IS NULL
                AND {q.areas(filters)}) AS c
            WHERE last_contact < {q(cutoff)}
            ORDER BY village_code COLLATE "C", last_contact, household_id""",
        *q.params,
    )


async def _counted_by_day(conn: Connection, area: str, agency: str | None, cutoff: date) -> int:
    """How many contacts of the area (the country or a province) the agency last reached before
    `cutoff`, or never reached and enrolled before it; with no agency, how many no agency
    reached since (their last contact, or enrolment, before it). See household_rows.py."""
    if agency is None:
        query = """SELECT coalesce(sum(households), 0) FROM tally_contacts
                   WHERE level = $1 AND area = $2 AND agency = '' AND kind = 'last'
                     AND day < $3"""
        return int(await conn.fetchval(query, len(area), area, cutoff))
    return int(
        await conn.fetchval(
            """SELECT coalesce(sum(CASE WHEN agency = '' THEN households
                                        WHEN kind = 'last' THEN households
                                        ELSE -households END), 0)
               FROM tally_contacts
               WHERE level = $1 AND area = $2 AND day < $4
                 AND ((agency = '' AND kind = 'enrolled') OR agency = $3)""",
            len(area),
            area,
            agency,
            cutoff,
        )
    )
