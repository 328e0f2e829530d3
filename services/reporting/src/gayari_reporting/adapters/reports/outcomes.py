"""The outcomes report: enrolment, exits by reason, decile moves and income change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gayari_reporting.adapters.reports.facts import (
    FactSql,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import TallySql
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    DecileMove,
    IncomeChange,
)
from gayari_shared.postgres import Connection


async def read(
    db: Snapshots, filters: Filters
) -> tuple[int, dict[str, int], IncomeChange, list[DecileMove]]:
    tallied_scope = db.tallied(filters)
    async with db.snapshot(filters.snapshot) as conn:
        if tallied_scope is not None:
            enrolled, exit_reasons, move_rows = await _from_tallies(conn, tallied_scope)
            income = await _income_from_tallies(conn, tallied_scope)
        else:
            enrolled, exit_reasons, move_rows = await _from_facts(conn, filters)
            income = await _income_change(conn, filters)
    return (
        enrolled,
        exit_reasons,
        income,
        [DecileMove(from_decile=a, to_decile=b, households=n) for a, b, n in move_rows],
    )


async def _income_change(conn: Connection, filters: Filters) -> IncomeChange:
    """Counted from the surveys (income_pairs.py keeps it for the tallied areas)."""
    q = FactSql()
    income = await conn.fetchrow(
        # A household's surveys in one ordered aggregate (survey_id breaks ties, so the
        # first and the last are the same whichever way they are sorted): one pass in
        # household order, no window sorts.
        f"""WITH surveyed AS (
              SELECT array_agg(s.monthly_income_idr
                               ORDER BY s.surveyed_on, s.recorded_at, s.survey_id)
                       AS incomes
              FROM live_surveys s LEFT JOIN household_state h USING (household_id)
              WHERE {q.areas(filters)}
              GROUP BY s.household_id HAVING count(*) >= 2),
            pairs AS (
              SELECT incomes[1] AS first_idr, incomes[cardinality(incomes)] AS latest_idr
              FROM surveyed)
            SELECT count(*) AS n,
              round(avg(first_idr)) AS mean_first, round(avg(latest_idr)) AS mean_latest,
              round(avg(latest_idr - first_idr)) AS mean_change,
              round(percentile_cont(0.5) WITHIN GROUP
                    (ORDER BY latest_idr - first_idr)) AS median_change,
              count(*) FILTER (WHERE latest_idr > first_idr) AS up,
              count(*) FILTER (WHERE latest_idr < first_idr) AS down,
              count(*) FILTER (WHERE latest_idr = first_idr) AS same
            FROM pairs""",
        *q.params,
    )
    assert income is not None
    return income_change_of(income)


async def _from_facts(
    conn: Connection, filters: Filters
) -> tuple[int, dict[str, int], list[tuple[int, int, int]]]:
    q = FactSql()
    area = q.areas(filters)
    enrolled = int(
        await conn.fetchval(
            f"""SELECT count(*) FROM household_state h
                WHERE h.enrolled_at IS NOT NULL AND {area}""",
            *q.params,
        )
    )
    exits = await conn.fetch(
        f"""SELECT h.exit_reason, count(*) AS n FROM household_state h
            WHERE h.exit_reason IS NOT NULL AND {area} GROUP BY 1""",
        *q.params,
    )
    moves = await conn.fetch(
        f"""SELECT h.initial_decile, h.welfare_decile, count(*) AS n
            FROM household_state h
            WHERE h.enrolled_at IS NOT NULL AND h.initial_decile IS NOT NULL
              AND h.welfare_decile IS NOT NULL AND {area}
            GROUP BY 1, 2""",
        *q.params,
    )
    return (
        enrolled,
        {r["exit_reason"]: int(r["n"]) for r in exits},
        [(r["initial_decile"], r["welfare_decile"], int(r["n"])) for r in moves],
    )


async def _from_tallies(
    conn: Connection, area: str
) -> tuple[int, dict[str, int], list[tuple[int, int, int]]]:
    """Enrolled households, exits by reason, and (from, to, households) decile moves."""
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT event, reason, initial_decile, welfare_decile, sum(households) AS n
            FROM tally_households
            WHERE {w.area(area)} AND event IN ('enrolled', 'exited', 'deciles')
            GROUP BY 1, 2, 3, 4 HAVING sum(households) > 0""",
        *w.params,
    )
    enrolled_now = sum(int(r["n"]) for r in rows if r["event"] == "enrolled")
    exits: dict[str, int] = {}
    moves = []
    for r in rows:
        if r["event"] == "exited":
            exits[r["reason"]] = exits.get(r["reason"], 0) + int(r["n"])
        elif r["event"] == "deciles":
            moves.append((int(r["initial_decile"]), int(r["welfare_decile"]), int(r["n"])))
    return enrolled_now, exits, moves


# Percentile_cont(0.5) from the tally's cumulative counts: the values at 0-based positions
# floor((n-1)/2) and ceil((n-1)/2) of the sorted changes, interpolated the way PostgreSQL does
# (lo + (hi - lo) * 0.5, in float8), so the figure equals the one counted from the facts.
_INCOME: Final = """
    WITH t AS (SELECT change_idr, households, first_idr, latest_idr FROM tally_incomes
               WHERE level = $1 AND area = $2 AND households <> 0),
    total AS (SELECT coalesce(sum(households), 0)::bigint AS n, sum(first_idr) AS f,
                     sum(latest_idr) AS l FROM t),
    upto AS (SELECT change_idr, sum(households) OVER (ORDER BY change_idr) AS through FROM t),
    middle AS (SELECT (SELECT min(change_idr) FROM upto, total
                       WHERE through > (total.n - 1) / 2) AS lo,
                      (SELECT min(change_idr) FROM upto, total WHERE through > total.n / 2) AS hi)
    SELECT total.n,
           round(total.f / nullif(total.n, 0)) AS mean_first,
           round(total.l / nullif(total.n, 0)) AS mean_latest,
           round((total.l - total.f) / nullif(total.n, 0)) AS mean_change,
           round(middle.lo::float8 + (middle.hi::float8 - middle.lo::float8) * 0.5)
             AS median_change,
           (SELECT coalesce(sum(households), 0) FROM t WHERE change_idr > 0) AS up,
           (SELECT coalesce(sum(households), 0) FROM t WHERE change_idr < 0) AS down,
           (SELECT coalesce(sum(households), 0) FROM t WHERE change_idr = 0) AS same
    FROM total, middle"""


async def _income_from_tallies(conn: Connection, area: str) -> IncomeChange:
    """The income change of the area's households (a tallied area: '' for the country)."""
    row = await conn.fetchrow(_INCOME, len(area), area)
    assert row is not None
    return income_change_of(row)


def income_change_of(row: Mapping[str, Any]) -> IncomeChange:
    """From a row of n, mean_first, mean_latest, mean_change, median_change, up, down, same."""
    return IncomeChange(
        households_surveyed_twice=int(row["n"]),
        mean_first_income_idr=_whole(row["mean_first"]),
        mean_latest_income_idr=_whole(row["mean_latest"]),
        mean_change_idr=_whole(row["mean_change"]),
        median_change_idr=_whole(row["median_change"]),
        households_up=int(row["up"]),
        households_down=int(row["down"]),
        households_unchanged=int(row["same"]),
    )


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)
