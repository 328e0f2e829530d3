"""The agencies report: each agency's records, Rupiah and households reached, and its budgets."""

from __future__ import annotations

from gayari_reporting.adapters.reports.facts import (
    FactSql,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import TallySql
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    AgencyFigures,
)
from gayari_shared.postgres import Connection


async def read(db: Snapshots, filters: Filters) -> tuple[dict[str, AgencyFigures], dict[str, int]]:
    area = db.tallied(filters)
    async with db.snapshot(filters.snapshot) as conn:
        figures = (
            await _from_tallies(conn, filters, area)
            if area is not None
            else await _from_facts(conn, filters)
        )
        q = FactSql()
        clauses = []
        year = filters.fiscal_year or (filters.month.year if filters.month else None)
        if year is not None:
            clauses.append(f"fiscal_year = {q(year)}")
        if filters.agency is not None:
            clauses.append(f"agency = {q(filters.agency)}")
        budgets = await conn.fetch(
            f"""SELECT agency, sum(amount_idr) AS idr FROM live_budgets
                WHERE {" AND ".join(clauses) or "TRUE"} GROUP BY agency""",
            *q.params,
        )
    return figures, {r["agency"]: int(r["idr"]) for r in budgets}


async def _from_facts(conn: Connection, filters: Filters) -> dict[str, AgencyFigures]:
    q = FactSql()
    rows = await conn.fetch(
        f"""SELECT i.agency,
                  count(DISTINCT i.household_id) AS households_reached,
                  count(*) FILTER (WHERE i.kind = 'grant-capital') AS grants_capital,
                  count(*) FILTER (WHERE i.kind = 'grant-equipment') AS grants_equipment,
                  coalesce(sum(i.amount_idr), 0) AS idr_disbursed,
                  count(*) FILTER (WHERE i.kind = 'training') AS trainings_completed,
                  count(*) FILTER (WHERE i.kind = 'mentoring') AS mentoring_visits
                FROM {q.live(filters)}
                GROUP BY i.agency""",
        *q.params,
    )
    return {
        r["agency"]: AgencyFigures(
            name=r["agency"], **{k: (int(v) if k != "agency" else v) for k, v in r.items()}
        )
        for r in rows
    }


async def _from_tallies(conn: Connection, filters: Filters, area: str) -> dict[str, AgencyFigures]:
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT agency,
              sum(records) FILTER (WHERE kind = 'grant-capital') AS grants_capital,
              sum(records) FILTER (WHERE kind = 'grant-equipment') AS grants_equipment,
              sum(idr) AS idr_disbursed,
              sum(records) FILTER (WHERE kind = 'training') AS trainings_completed,
              sum(records) FILTER (WHERE kind = 'mentoring') AS mentoring_visits
            FROM tally_records WHERE {w.area(area)} AND {w.records(filters)}
            GROUP BY agency HAVING sum(records) > 0""",
        *w.params,
    )
    w = TallySql()
    only = f"AND a.agency = {w(filters.agency)}" if filters.agency is not None else ""
    reach = await conn.fetch(
        f"""SELECT a.agency, sum(households) AS n
            FROM tally_reach JOIN tally_agencies a ON agencies & (1::bigint << a.bit) <> 0
            WHERE {w.area(area)} AND {w.reach(filters, agency=False)} {only}
            GROUP BY a.agency""",
        *w.params,
    )
    households = {r["agency"]: int(r["n"]) for r in reach}
    return {
        r["agency"]: AgencyFigures(
            name=r["agency"],
            agency=r["agency"],
            households_reached=households.get(r["agency"], 0),
            **{k: int(v or 0) for k, v in r.items() if k != "agency"},
        )
        for r in rows
    }
