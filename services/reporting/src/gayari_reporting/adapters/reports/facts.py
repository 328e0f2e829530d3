"""SQL over the fact tables: bound parameters and the live records of a report's filters.

Every report counts from these when no tally holds its scope (a village, areas that do not
nest, or `ReportQueries(tallies=False)`, which the tests use to check the tallies).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gayari_reporting.adapters import zone_sql
from gayari_reporting.domain.areas import LENGTH
from gayari_reporting.domain.filters import Filters, month_end
from gayari_reporting.domain.readmodels import HouseholdCounts
from gayari_shared.postgres import Connection

# The household of a grant, for its day in the zone of the household's village.
_GRANT_HOUSEHOLD = "LEFT JOIN household_state h ON h.household_id = x.household_id"
_GRANT_DAY = zone_sql.day("x.issued_at", "h.village_code")


class FactSql:
    """Bound parameters of one statement, numbered as asyncpg wants them."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def areas(self, filters: Filters, column: str = "h.village_code") -> str:
        clauses = []
        for code in filters.areas:
            if len(code) == LENGTH["village"]:
                clauses.append(f"{column} = {self(code)}")
            else:
                clauses.append(f"{column} LIKE {self(code + '.%')}")
        return " AND ".join(clauses) or "TRUE"

    def period(self, filters: Filters, day: str) -> str:
        """`day` (an SQL date) within the filters' fiscal year and month."""
        clauses = []
        if filters.fiscal_year is not None:
            clauses.append(f"extract(year FROM {day}) = {self(filters.fiscal_year)}")
        if filters.month is not None:
            clauses.append(
                f"{day} >= {self(filters.month)} AND {day} < {self(month_end(filters.month))}"
            )
        return " AND ".join(clauses) or "TRUE"

    def live(
        self,
        filters: Filters,
        *,
        agency: bool = True,
        state: bool = False,
        types: tuple[str, ...] = ("grant", "training-completion", "mentoring-visit"),
        until: date | None = None,
    ) -> str:
        """`live_interventions` (schema.py) as `i`, filtered, with the village and enrolment of
        the household (`i.village_code`, `i.enrolled_at`: NULL unless `state` or an area filter
        asks for household_state). The view's branches are spelled out here with every filter
        inside each branch: PostgreSQL cannot push a join into a UNION ALL of anti-joins, so
        `live_interventions JOIN household_state` read every record of the country even for one
        village; per branch, the area's households lead to their records by index. The grants'
        branch joins household_state in any case: a grant's day is in its village's zone."""
        conditions = []
        if filters.areas:
            conditions.append(self.areas(filters))
        if agency and filters.agency is not None:
            conditions.append(f"x.agency = {self(filters.agency)}")
        year = self(filters.fiscal_year) if filters.fiscal_year is not None else None
        month = (
            (self(filters.month), self(month_end(filters.month)))
            if filters.month is not None
            else None
        )
        last = self(until) if until is not None else None
        join = ""
        household = "NULL::text, NULL::timestamptz"
        if filters.areas or state:
            join = (
                f"{'' if filters.areas else 'LEFT '}JOIN household_state h "
                "ON h.household_id = x.household_id"
            )
            household = "h.village_code, h.enrolled_at"
        branches = []
        for kind, (table, key, label, amount, fiscal_year, day) in _BRANCHES.items():
            if kind not in types:
                continue
            where = [not_voided(kind, f"x.{key}"), *conditions]
            if year is not None:
                where.append(f"{fiscal_year} = {year}")
            if month is not None:
                where.append(f"{day} >= {month[0]} AND {day} < {month[1]}")
            if last is not None:
                where.append(f"{day} <= {last}")
            branches.append(
                f"""SELECT '{kind}'::text AS intervention_type, x.{key} AS intervention_id,
                      x.household_id, x.agency, {label} AS kind, {amount} AS amount_idr,
                      {fiscal_year} AS fiscal_year, {day} AS happened_on,
                      {household}
                    FROM {table} x {join or (_GRANT_HOUSEHOLD if kind == "grant" else "")}
                    WHERE {" AND ".join(where)}"""
            )
        return (
            f"({' UNION ALL '.join(branches)}) AS i (intervention_type, intervention_id, "
            "household_id, agency, kind, amount_idr, fiscal_year, happened_on, village_code, "
            "enrolled_at)"
        )


# Each branch of live_interventions: table, key, kind, amount, fiscal year, day (the view's own
# expressions, so every figure stays what the view gives). A grant's day is in the zone of its
# household's village (`h`, joined by `live`).
_BRANCHES: dict[str, tuple[str, str, str, str, str, str]] = {
    "grant": (
        "grants",
        "grant_id",
        "'grant-' || x.kind",
        "x.amount_idr",
        f"coalesce(x.fiscal_year, extract(year FROM {_GRANT_DAY})::int)",
        _GRANT_DAY,
    ),
    "training-completion": (
        "training_completions",
        "completion_id",
        "'training'",
        "0::bigint",
        "extract(year FROM x.completed_on)::int",
        "x.completed_on",
    ),
    "mentoring-visit": (
        "mentoring_visits",
        "visit_id",
        "'mentoring'",
        "0::bigint",
        "extract(year FROM x.visited_on)::int",
        "x.visited_on",
    ),
}


def not_voided(kind: str, column: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = '{kind}' "
        f"AND v.intervention_id = {column})"
    )


def local_day(column: str, village: str = "h.village_code") -> str:
    """The calendar day of a household's timestamptz column in the zone of its village."""
    return zone_sql.day(column, village)


async def household_counts(conn: Connection, filters: Filters) -> HouseholdCounts:
    """Households registered, enrolled, exited and graduated within the filters."""
    q = FactSql()
    reg = q.period(filters, local_day("h.registered_at"))
    enr = q.period(filters, local_day("h.enrolled_at"))
    ex = q.period(filters, local_day("h.exited_at"))
    row = await conn.fetchrow(
        f"""SELECT
              count(*) FILTER (WHERE h.registered_at IS NOT NULL AND {reg}) AS registered,
              count(*) FILTER (WHERE h.enrolled_at IS NOT NULL AND {enr}) AS enrolled,
              count(*) FILTER (WHERE h.exited_at IS NOT NULL AND {ex}) AS exited,
              count(*) FILTER (WHERE h.exit_reason = 'graduated' AND {ex}) AS graduated
            FROM household_state h WHERE {q.areas(filters)}""",
        *q.params,
    )
    assert row is not None
    return HouseholdCounts(**dict(row))
