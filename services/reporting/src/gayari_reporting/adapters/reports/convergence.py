"""The convergence report: households by how many agencies reached them."""

from __future__ import annotations

from gayari_reporting.adapters.reports import tally_rows
from gayari_reporting.adapters.reports.facts import (
    FactSql,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import TallySql
from gayari_reporting.domain.filters import Filters
from gayari_shared.postgres import Connection


async def read(db: Snapshots, filters: Filters) -> tuple[dict[int, int], dict[int, int], int]:
    """Households by agencies reaching them, the same for enrolled ones, and the enrolled
    households of the scope (those the agency reached, with an agency filter)."""
    area = db.tallied(filters)
    if area is not None:
        async with db.snapshot(filters.snapshot) as conn:
            reached, enrolled_reached = await _from_tallies(conn, filters, area)
            if filters.agency is not None:
                enrolled = sum(enrolled_reached.values())
            else:
                enrolled = await tally_rows.enrolled(conn, area)
        return reached, enrolled_reached, enrolled
    async with db.snapshot(filters.snapshot) as conn:
        q = FactSql()
        having = (
            f"HAVING bool_or(i.agency = {q(filters.agency)})" if filters.agency is not None else ""
        )
        rows = await conn.fetch(
            f"""WITH reached AS (
                  SELECT i.household_id, count(DISTINCT i.agency) AS agencies
                  FROM {q.live(filters, agency=False)}
                  GROUP BY i.household_id {having})
                SELECT r.agencies, count(*) AS households,
                       count(*) FILTER (WHERE h.enrolled_at IS NOT NULL) AS enrolled
                FROM reached r LEFT JOIN household_state h USING (household_id)
                GROUP BY r.agencies""",
            *q.params,
        )
        if filters.agency is not None:
            enrolled = sum(int(r["enrolled"]) for r in rows)
        else:
            q = FactSql()
            enrolled = int(
                await conn.fetchval(
                    f"""SELECT count(*) FROM household_state h
                        WHERE h.enrolled_at IS NOT NULL AND {q.areas(filters)}""",
                    *q.params,
                )
            )
    reached = {int(r["agencies"]): int(r["households"]) for r in rows}
    enrolled_reached = {int(r["agencies"]): int(r["enrolled"]) for r in rows}
    return reached, enrolled_reached, enrolled


async def _from_tallies(
    conn: Connection, filters: Filters, area: str
) -> tuple[dict[int, int], dict[int, int]]:
    """Households by how many agencies reached them, all and enrolled ones."""
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT bit_count(agencies::bit(64)) AS agencies, sum(households) AS households,
              coalesce(sum(households) FILTER (WHERE enrolled), 0) AS enrolled
            FROM tally_reach WHERE {w.area(area)} AND {w.reach(filters)}
            GROUP BY 1 HAVING sum(households) > 0""",
        *w.params,
    )
    return (
        {int(r["agencies"]): int(r["households"]) for r in rows},
        {int(r["agencies"]): int(r["enrolled"]) for r in rows},
    )
