"""The time series: each month's figures."""

from __future__ import annotations

from gayari_reporting.adapters.reports.facts import (
    FactSql,
    local_day,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import HOUSEHOLD_COUNTS, TallySql
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    MonthFigures,
)
from gayari_shared.postgres import Connection


async def read(db: Snapshots, filters: Filters) -> list[MonthFigures]:
    area = db.tallied(filters)
    async with db.snapshot(filters.snapshot) as conn:
        if area is not None:
            months = await _from_tallies(conn, filters, area)
        else:
            months = await _from_facts(conn, filters)
    return [MonthFigures(month=m, **months[m]) for m in sorted(months)]


async def _from_facts(conn: Connection, filters: Filters) -> dict[str, dict[str, int]]:
    months: dict[str, dict[str, int]] = {}
    q = FactSql()
    area = q.areas(filters)
    parts = []
    for column, field, extra in (
        ("h.registered_at", "households_registered", ""),
        ("h.enrolled_at", "households_enrolled", ""),
        ("h.exited_at", "households_exited", ""),
        ("h.exited_at", "households_graduated", "AND h.exit_reason = 'graduated'"),
    ):
        day = local_day(column)
        parts.append(
            f"""SELECT to_char({day}, 'YYYY-MM') AS month, '{field}' AS field
                FROM household_state h
                WHERE {column} IS NOT NULL {extra} AND {area}
                  AND {q.period(filters, day)}"""
        )
    rows = await conn.fetch(
        f"""SELECT month, field, count(*) AS n FROM ({" UNION ALL ".join(parts)}) AS e
            GROUP BY month, field""",
        *q.params,
    )
    for r in rows:
        months.setdefault(r["month"], {})[r["field"]] = int(r["n"])
    q = FactSql()
    rows = await conn.fetch(
        f"""SELECT to_char(i.happened_on, 'YYYY-MM') AS month,
              count(DISTINCT i.household_id) AS households_reached,
              count(*) FILTER (WHERE i.intervention_type = 'grant') AS grants,
              coalesce(sum(i.amount_idr), 0) AS idr_disbursed,
              count(*) FILTER (WHERE i.kind = 'training') AS trainings_completed,
              count(*) FILTER (WHERE i.kind = 'mentoring') AS mentoring_visits
            FROM {q.live(filters)} GROUP BY 1""",
        *q.params,
    )
    for r in rows:
        months.setdefault(r["month"], {}).update({k: int(v) for k, v in r.items() if k != "month"})
    return months


async def _from_tallies(conn: Connection, filters: Filters, area: str) -> dict[str, dict[str, int]]:
    """The time series: each month's figures, by 'YYYY-MM'."""
    found: dict[str, dict[str, int]] = {}
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT to_char(month, 'YYYY-MM') AS month, {HOUSEHOLD_COUNTS} FROM tally_households
            WHERE {w.area(area)} AND {w.household_events(filters)}
            GROUP BY 1 HAVING sum(households) > 0""",
        *w.params,
    )
    for r in rows:
        found.setdefault(r["month"], {}).update(
            {
                f"households_{k}": int(r[k])
                for k in ("registered", "enrolled", "exited", "graduated")
            }
        )
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT to_char(month, 'YYYY-MM') AS month,
              coalesce(sum(records) FILTER (WHERE kind LIKE 'grant-%'), 0) AS grants,
              sum(idr) AS idr_disbursed,
              coalesce(sum(records) FILTER (WHERE kind = 'training'), 0) AS trainings_completed,
              coalesce(sum(records) FILTER (WHERE kind = 'mentoring'), 0) AS mentoring_visits
            FROM tally_records WHERE {w.area(area)} AND {w.records(filters)}
            GROUP BY 1 HAVING sum(records) > 0""",
        *w.params,
    )
    for r in rows:
        found.setdefault(r["month"], {}).update({k: int(v) for k, v in r.items() if k != "month"})
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT to_char(month, 'YYYY-MM') AS month, sum(households) AS n FROM tally_reach
            WHERE {w.area(area)} AND {w.reach(filters, monthly=True)}
            GROUP BY 1 HAVING sum(households) > 0""",
        *w.params,
    )
    for r in rows:
        found.setdefault(r["month"], {})["households_reached"] = int(r["n"])
    return found
