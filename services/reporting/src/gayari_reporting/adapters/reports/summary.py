"""The summary report: households, records by kind, Rupiah disbursed, households reached."""

from __future__ import annotations

from datetime import datetime

from gayari_reporting.adapters.reports import tally_rows
from gayari_reporting.adapters.reports.facts import FactSql, household_counts
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import TallySql
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import KINDS, HouseholdCounts
from gayari_shared.postgres import Connection


async def read(
    db: Snapshots, filters: Filters
) -> tuple[HouseholdCounts, dict[str, int], int, datetime | None]:
    area = db.tallied(filters)
    async with db.snapshot(filters.snapshot) as conn:
        if area is not None:
            households = await tally_rows.household_counts(conn, filters, area)
            counted = await tally_rows.by_kind(conn, filters, area)
            reached = await _reached(conn, filters, area)
        else:
            households = await household_counts(conn, filters)
            q = FactSql()
            # One reading of the records for both: the figures per kind, and (the row of
            # the empty grouping set, kind NULL) the households reached by any.
            rows = await conn.fetch(
                f"""SELECT i.kind, count(*) AS n, coalesce(sum(i.amount_idr), 0) AS idr,
                           count(DISTINCT i.household_id) AS reached
                    FROM {q.live(filters)} GROUP BY GROUPING SETS ((i.kind), ())""",
                *q.params,
            )
            counted = {
                r["kind"]: (int(r["n"]), int(r["idr"])) for r in rows if r["kind"] is not None
            }
            reached = next(int(r["reached"]) for r in rows if r["kind"] is None)
        as_of = await conn.fetchval("SELECT max(updated_at) FROM projection_offsets")
    kinds = dict.fromkeys(KINDS, 0) | {kind: n for kind, (n, _) in counted.items()}
    idr = sum(idr for _, idr in counted.values())
    return households.model_copy(update={"reached": int(reached)}), kinds, idr, as_of


async def _reached(conn: Connection, filters: Filters, area: str) -> int:
    """Households reached in the period, from the reach tally."""
    w = TallySql()
    return int(
        await conn.fetchval(
            f"""SELECT coalesce(sum(households), 0) FROM tally_reach
                WHERE {w.area(area)} AND {w.reach(filters)}""",
            *w.params,
        )
    )
