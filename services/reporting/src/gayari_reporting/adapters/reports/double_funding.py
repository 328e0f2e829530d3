"""The double-funding alerts: one household's grants of one kind and year from two agencies."""

from __future__ import annotations

from typing import Final

import asyncpg

from gayari_reporting.adapters.reports.facts import (
    FactSql,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    AlertKey,
    DoubleFundingAlert,
)
from gayari_shared.postgres import Connection

# The order of the double-funding alerts (domain's AlertKey): a village not known (a household
# not registered) sorts first, so the key has no NULL in it.
_ALERT_ORDER: Final = (
    """a.fiscal_year, coalesce(a.village_code, '') COLLATE "C", a.household_id, a.kind"""
)


def _alert_key(row: asyncpg.Record) -> AlertKey:
    return (row["fiscal_year"], row["village_code"] or "", row["household_id"], row["kind"])


async def read(
    db: Snapshots, filters: Filters, limit: int | None = None, after: AlertKey | None = None
) -> tuple[list[DoubleFundingAlert], int]:
    """The alerts after the key `after`, at most `limit` (None: all), and how many match
    the filters on every page."""
    async with db.snapshot(filters.snapshot) as conn:
        if db.kept:
            rows, total = await _from_kept(conn, filters, limit, after)
        else:
            rows = await _from_facts(conn, filters)
            total = len(rows)
            if after is not None:
                rows = [r for r in rows if _alert_key(r) > after]
            rows = rows[:limit]
    alerts = [
        DoubleFundingAlert(
            household_id=r["household_id"],
            village_code=r["village_code"],
            fiscal_year=r["fiscal_year"],
            kind=r["kind"],
            agencies=list(r["agencies"]),
            grants=int(r["grants"]),
            total_idr=int(r["total_idr"]),
            grant_ids=list(r["grant_ids"]),
        )
        for r in rows
    ]
    return alerts, total


async def _from_kept(
    conn: Connection, filters: Filters, limit: int | None, after: AlertKey | None
) -> tuple[list[asyncpg.Record], int]:
    q = FactSql()
    where = [q.areas(filters, "a.village_code")]
    if filters.fiscal_year is not None:
        where.append(f"a.fiscal_year = {q(filters.fiscal_year)}")
    if filters.agency is not None:
        where.append(f"{q(filters.agency)} = ANY(a.agencies)")
    matching = " AND ".join(where)
    total = int(
        await conn.fetchval(f"SELECT count(*) FROM double_funding a WHERE {matching}", *q.params)
    )
    if after is not None:
        where.append(f"({_ALERT_ORDER}) > ({', '.join(q(v) for v in after)})")
    page = f"LIMIT {q(limit)}" if limit is not None else ""
    rows = await conn.fetch(
        f"""SELECT household_id, village_code, fiscal_year, kind, agencies, grants,
              total_idr, grant_ids
            FROM double_funding a WHERE {" AND ".join(where)}
            ORDER BY {_ALERT_ORDER} {page}""",
        *q.params,
    )
    return rows, total


async def _from_facts(conn: Connection, filters: Filters) -> list[asyncpg.Record]:
    """The alerts counted from the facts (household_rows.py keeps them per household)."""
    q = FactSql()
    having = f"AND bool_or(i.agency = {q(filters.agency)})" if filters.agency is not None else ""
    return await conn.fetch(
        f"""SELECT i.household_id, i.village_code, i.fiscal_year,
                  substr(i.kind, 7) AS kind,
                  array_agg(DISTINCT i.agency ORDER BY i.agency) AS agencies,
                  count(*) AS grants, sum(i.amount_idr) AS total_idr,
                  array_agg(i.intervention_id ORDER BY i.intervention_id) AS grant_ids
                FROM {q.live(filters, agency=False, state=True, types=("grant",))}
                GROUP BY i.household_id, i.village_code, i.fiscal_year, i.kind
                HAVING count(DISTINCT i.agency) >= 2 {having}
                ORDER BY fiscal_year, coalesce(i.village_code, '') COLLATE "C",
                  i.household_id, kind""",
        *q.params,
    )
