"""SQL over the tallies (adapters/tallies.py keeps them): the figures several reports read.

A report whose scope is one tallied area (a district, a regency, a province or the country)
reads these few hundred rows instead of the facts; the rows a single report reads live beside
it, in its own module. tests/integration compares both ways on every filter combination.
"""

from __future__ import annotations

from typing import Any

from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import HouseholdCounts
from gayari_shared.postgres import Connection


class TallySql:
    """Conditions on a tally's rows, with their bound parameters."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def area(self, area: str) -> str:
        return f"level = {self(len(area))} AND area = {self(area)}"

    def children(self, area: str, length: int) -> str:
        below = f" AND area LIKE {self(area + '.%')}" if area else ""
        return f"level = {self(length)}{below}"

    def records(self, filters: Filters) -> str:
        """Live records of the filters' agency, fiscal year and month."""
        parts = []
        if filters.agency is not None:
            parts.append(f"agency = {self(filters.agency)}")
        if filters.fiscal_year is not None:
            parts.append(f"fiscal_year = {self(filters.fiscal_year)}")
        if filters.month is not None:
            parts.append(f"month = {self(filters.month)}")
        return " AND ".join(parts) or "TRUE"

    def household_events(self, filters: Filters) -> str:
        """Registrations, enrolments and exits dated within the fiscal year and month."""
        parts = ["event IN ('registered', 'enrolled', 'exited')"]
        if filters.fiscal_year is not None:
            parts.append(f"extract(year FROM month) = {self(filters.fiscal_year)}")
        if filters.month is not None:
            parts.append(f"month = {self(filters.month)}")
        return " AND ".join(parts)

    def reach(self, filters: Filters, *, agency: bool = True, monthly: bool = False) -> str:
        """The households of one period (each month of it with `monthly`), reached by the
        filters' agency when `agency`."""
        year = filters.fiscal_year
        parts = ["fiscal_year IS NULL" if year is None else f"fiscal_year = {self(year)}"]
        if filters.month is not None:
            parts.append(f"month = {self(filters.month)}")
        elif monthly:
            parts.append("month IS NOT NULL")
        else:
            parts.append("month IS NULL")
        if agency and filters.agency is not None:
            parts.append(f"agencies & {self.bit(filters.agency)} <> 0")
        return " AND ".join(parts)

    def bit(self, agency: str) -> str:
        """The agency's bit in a reach mask (NULL, so nothing matches, for an agency no record
        names)."""
        return f"(SELECT 1::bigint << bit FROM tally_agencies WHERE agency = {self(agency)})"


COUNTED = ("registered", "enrolled", "exited", "graduated")
HOUSEHOLD_COUNTS = """
    coalesce(sum(households) FILTER (WHERE event = 'registered'), 0) AS registered,
    coalesce(sum(households) FILTER (WHERE event = 'enrolled'), 0) AS enrolled,
    coalesce(sum(households) FILTER (WHERE event = 'exited'), 0) AS exited,
    coalesce(sum(households) FILTER (WHERE event = 'exited' AND reason = 'graduated'), 0)
      AS graduated"""


async def household_counts(conn: Connection, filters: Filters, area: str) -> HouseholdCounts:
    w = TallySql()
    row = await conn.fetchrow(
        f"""SELECT {HOUSEHOLD_COUNTS} FROM tally_households
            WHERE {w.area(area)} AND {w.household_events(filters)}""",
        *w.params,
    )
    assert row is not None
    return HouseholdCounts(**{k: int(v) for k, v in row.items()})


async def enrolled(conn: Connection, area: str) -> int:
    """Households ever enrolled and living in the area, whenever they enrolled."""
    w = TallySql()
    return int(
        await conn.fetchval(
            f"""SELECT coalesce(sum(households), 0) FROM tally_households
                WHERE {w.area(area)} AND event = 'enrolled'""",
            *w.params,
        )
    )


async def by_kind(conn: Connection, filters: Filters, area: str) -> dict[str, tuple[int, int]]:
    """(records, IDR) of each kind of record."""
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT kind, sum(records) AS n, sum(idr) AS idr FROM tally_records
            WHERE {w.area(area)} AND {w.records(filters)}
            GROUP BY kind HAVING sum(records) > 0""",
        *w.params,
    )
    return {r["kind"]: (int(r["n"]), int(r["idr"])) for r in rows}
