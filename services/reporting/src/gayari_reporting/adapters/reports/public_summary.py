"""The public summary's counts (domain/privacy.py hides the small ones)."""

from __future__ import annotations

from gayari_reporting.adapters.reports import tally_rows
from gayari_reporting.adapters.reports.facts import (
    FactSql,
    household_counts,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import TallySql
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.privacy import PublicCounts
from gayari_shared.postgres import Connection


async def read(db: Snapshots, filters: Filters) -> PublicCounts:
    area = db.tallied(filters)
    if area is not None:
        async with db.snapshot() as conn:
            households = await tally_rows.household_counts(conn, filters, area)
            reach = await _reach_from_tallies(conn, filters, area)
            counted = await tally_rows.by_kind(conn, filters, area)
            enrolled = await tally_rows.enrolled(conn, area)
        return PublicCounts(
            registered=households.registered,
            enrolled=enrolled,
            graduated=households.graduated,
            reached=reach["reached"],
            reached_by_two_or_more=reach["two_plus"],
            enrolled_reached_by_two_or_more=reach["enrolled_two_plus"],
            households_with_grants=reach["granted"],
            idr_disbursed=sum(idr for _, idr in counted.values()),
        )
    async with db.snapshot() as conn:
        households = await household_counts(conn, filters)
        q = FactSql()
        row = await conn.fetchrow(
            f"""WITH reached AS (
                  SELECT i.household_id, count(DISTINCT i.agency) AS agencies,
                         bool_or(i.intervention_type = 'grant') AS granted,
                         sum(i.amount_idr) AS idr
                  FROM {q.live(filters)}
                  GROUP BY i.household_id)
                SELECT count(*) AS reached,
                  count(*) FILTER (WHERE r.agencies >= 2) AS two_plus,
                  count(*) FILTER (WHERE r.agencies >= 2 AND h.enrolled_at IS NOT NULL)
                    AS enrolled_two_plus,
                  count(*) FILTER (WHERE r.granted) AS granted,
                  coalesce(sum(r.idr), 0) AS idr
                FROM reached r LEFT JOIN household_state h USING (household_id)""",
            *q.params,
        )
        q = FactSql()
        enrolled = int(
            await conn.fetchval(
                f"""SELECT count(*) FROM household_state h
                    WHERE h.enrolled_at IS NOT NULL AND {q.areas(filters)}""",
                *q.params,
            )
        )
    assert row is not None
    return PublicCounts(
        registered=households.registered,
        enrolled=enrolled,
        graduated=households.graduated,
        reached=int(row["reached"]),
        reached_by_two_or_more=int(row["two_plus"]),
        enrolled_reached_by_two_or_more=int(row["enrolled_two_plus"]),
        households_with_grants=int(row["granted"]),
        idr_disbursed=int(row["idr"]),
    )


async def _reach_from_tallies(conn: Connection, filters: Filters, area: str) -> dict[str, int]:
    """Reached households; by two or more agencies (all, enrolled); with a grant. With an
    agency filter only that agency's records count, so nobody is reached by two."""
    w = TallySql()
    agency = filters.agency
    several = "bit_count(agencies::bit(64)) >= 2" if agency is None else "FALSE"
    granted = "granted <> 0" if agency is None else f"granted & {w.bit(agency)} <> 0"
    row = await conn.fetchrow(
        f"""SELECT coalesce(sum(households), 0) AS reached,
              coalesce(sum(households) FILTER (WHERE {several}), 0) AS two_plus,
              coalesce(sum(households) FILTER (WHERE {several} AND enrolled), 0)
                AS enrolled_two_plus,
              coalesce(sum(households) FILTER (WHERE {granted}), 0) AS granted
            FROM tally_reach WHERE {w.area(area)} AND {w.reach(filters)}""",
        *w.params,
    )
    assert row is not None
    return {k: int(v) for k, v in row.items()}
