"""The report queries answered from the tallies (tallies.py) instead of the facts: the same
figures, read from a few hundred rows for a district, a regency, a province or the country.
ReportQueries (queries.py) uses these when the filters name one such area (or none); a village,
or areas that do not nest, are counted from the facts. tests/integration compares both ways on
every filter combination.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gayari_reporting.adapters.tallies import LEVELS
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import AgencyFigures, HouseholdCounts
from gayari_shared.postgres import Connection


def tallied_area(filters: Filters) -> str | None:
    """The one area the filters narrow to ('' for none) if it is tallied; None otherwise."""
    if not filters.areas:
        return ""
    deepest = max(filters.areas, key=len)
    if not all(deepest == code or deepest.startswith(code + ".") for code in filters.areas):
        return None  # areas that do not nest: nothing is in all of them; the facts say so
    return deepest if len(deepest) in LEVELS else None


class _Where:
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


_COUNTED = ("registered", "enrolled", "exited", "graduated")
_HOUSEHOLD_COUNTS = """
    coalesce(sum(households) FILTER (WHERE event = 'registered'), 0) AS registered,
    coalesce(sum(households) FILTER (WHERE event = 'enrolled'), 0) AS enrolled,
    coalesce(sum(households) FILTER (WHERE event = 'exited'), 0) AS exited,
    coalesce(sum(households) FILTER (WHERE event = 'exited' AND reason = 'graduated'), 0)
      AS graduated"""


async def household_counts(conn: Connection, filters: Filters, area: str) -> HouseholdCounts:
    w = _Where()
    row = await conn.fetchrow(
        f"""SELECT {_HOUSEHOLD_COUNTS} FROM tally_households
            WHERE {w.area(area)} AND {w.household_events(filters)}""",
        *w.params,
    )
    assert row is not None
    return HouseholdCounts(**{k: int(v) for k, v in row.items()})


async def enrolled(conn: Connection, area: str) -> int:
    """Households ever enrolled and living in the area, whenever they enrolled."""
    w = _Where()
    return int(
        await conn.fetchval(
            f"""SELECT coalesce(sum(households), 0) FROM tally_households
                WHERE {w.area(area)} AND event = 'enrolled'""",
            *w.params,
        )
    )


async def by_kind(conn: Connection, filters: Filters, area: str) -> dict[str, tuple[int, int]]:
    """(records, IDR) of each kind of record."""
    w = _Where()
    rows = await conn.fetch(
        f"""SELECT kind, sum(records) AS n, sum(idr) AS idr FROM tally_records
            WHERE {w.area(area)} AND {w.records(filters)}
            GROUP BY kind HAVING sum(records) > 0""",
        *w.params,
    )
    return {r["kind"]: (int(r["n"]), int(r["idr"])) for r in rows}


async def reached(conn: Connection, filters: Filters, area: str) -> int:
    w = _Where()
    return int(
        await conn.fetchval(
            f"""SELECT coalesce(sum(households), 0) FROM tally_reach
                WHERE {w.area(area)} AND {w.reach(filters)}""",
            *w.params,
        )
    )


async def agencies(conn: Connection, filters: Filters, area: str) -> dict[str, AgencyFigures]:
    w = _Where()
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
    w = _Where()
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


async def areas(
    conn: Connection, area: str, length: int, filters: Filters
) -> dict[str, dict[str, int]]:
    """The figures of the area's children at `length`, by code."""
    by_code: dict[str, dict[str, int]] = {}
    w = _Where()
    rows = await conn.fetch(
        f"""SELECT area, {_HOUSEHOLD_COUNTS} FROM tally_households
            WHERE {w.children(area, length)} AND {w.household_events(filters)}
            GROUP BY area""",
        *w.params,
    )
    for r in rows:
        by_code.setdefault(r["area"], {}).update({f"households_{k}": int(r[k]) for k in _COUNTED})
    w = _Where()
    rows = await conn.fetch(
        f"""SELECT area, sum(records) AS interventions, sum(idr) AS idr_disbursed,
              coalesce(sum(records) FILTER (WHERE kind = 'training'), 0) AS trainings_completed
            FROM tally_records WHERE {w.children(area, length)} AND {w.records(filters)}
            GROUP BY area HAVING sum(records) > 0""",
        *w.params,
    )
    for r in rows:
        by_code.setdefault(r["area"], {}).update({k: int(v) for k, v in r.items() if k != "area"})
    w = _Where()
    rows = await conn.fetch(
        f"""SELECT area, sum(households) AS households_reached FROM tally_reach
            WHERE {w.children(area, length)} AND {w.reach(filters)}
            GROUP BY area HAVING sum(households) > 0""",
        *w.params,
    )
    for r in rows:
        by_code.setdefault(r["area"], {})["households_reached"] = int(r["households_reached"])
    return by_code


async def months(conn: Connection, filters: Filters, area: str) -> dict[str, dict[str, int]]:
    """The time series: each month's figures, by 'YYYY-MM'."""
    found: dict[str, dict[str, int]] = {}
    w = _Where()
    rows = await conn.fetch(
        f"""SELECT to_char(month, 'YYYY-MM') AS month, {_HOUSEHOLD_COUNTS} FROM tally_households
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
    w = _Where()
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
    w = _Where()
    rows = await conn.fetch(
        f"""SELECT to_char(month, 'YYYY-MM') AS month, sum(households) AS n FROM tally_reach
            WHERE {w.area(area)} AND {w.reach(filters, monthly=True)}
            GROUP BY 1 HAVING sum(households) > 0""",
        *w.params,
    )
    for r in rows:
        found.setdefault(r["month"], {})["households_reached"] = int(r["n"])
    return found


async def convergence(
    conn: Connection, filters: Filters, area: str
) -> tuple[dict[int, int], dict[int, int]]:
    """Households by how many agencies reached them, all and enrolled ones."""
    w = _Where()
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


async def public_reach(conn: Connection, filters: Filters, area: str) -> dict[str, int]:
    """Reached households; by two or more agencies (all, enrolled); with a grant. With an
    agency filter only that agency's records count, so nobody is reached by two."""
    w = _Where()
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


async def outcomes(
    conn: Connection, area: str
) -> tuple[int, dict[str, int], list[tuple[int, int, int]]]:
    """Enrolled households, exits by reason, and (from, to, households) decile moves."""
    w = _Where()
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


async def unserved_by(conn: Connection, area: str, agency: str | None, cutoff: date) -> int:
    """How many contacts of the area (the country or a province) the agency last reached before
    `cutoff`, or never reached and enrolled before it; with no agency, how many no agency
    reached since (their last contact, or enrolment, before it). See derived.py."""
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
