"""The read models as SQL over the fact tables and views of adapters/schema.py.

Each query reads one snapshot (REPEATABLE READ), so the figures of one response agree with each
other even while the projector commits batches. Filters become bound parameters, never text.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any, Final

import asyncpg

from gayari_reporting.adapters import incomes, tallied
from gayari_reporting.adapters.derived import CONTACT_LEVELS
from gayari_reporting.adapters.generations import (
    UnknownGenerationError,
    use_active,
    use_snapshot,
)
from gayari_reporting.adapters.tallies import LEVELS
from gayari_reporting.domain.areas import LENGTH, Area, AreaIndex
from gayari_reporting.domain.filters import Filters, month_end
from gayari_reporting.domain.privacy import PublicCounts
from gayari_reporting.domain.readmodels import (
    KINDS,
    AgencyFigures,
    AreaFigures,
    CaseEntry,
    CaseHousehold,
    DecileMove,
    DoubleFundingAlert,
    HouseholdCounts,
    IncomeChange,
    IntakeRefusalCount,
    IntakeRefusalDay,
    IntakeRefusals,
    MonthFigures,
    ReasonCount,
    UnservedHousehold,
    WaitingRecords,
)
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.postgres import Connection

_DAY = "AT TIME ZONE 'Asia/Jakarta')::date"

# The order of the double-funding alerts, and the key a page's cursor names: a village not
# known (a household not registered) sorts first, so the key has no NULL in it.
_ALERT_ORDER: Final = (
    """a.fiscal_year, coalesce(a.village_code, '') COLLATE "C", a.household_id, a.kind"""
)
AlertKey = tuple[int, str, uuid.UUID, str]


# The order of the unserved households, and the key of a page's cursor: village ('' where not
# known, first), last contact, household.
UnservedKey = tuple[str, date, uuid.UUID]


def _unserved_key(row: asyncpg.Record) -> UnservedKey:
    return (row["village_code"], row["last_contact"], row["household_id"])


def _alert_key(row: asyncpg.Record) -> AlertKey:
    return (row["fiscal_year"], row["village_code"] or "", row["household_id"], row["kind"])


class _Sql:
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
        village; per branch, the area's households lead to their records by index."""
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
            where = [_not_voided(kind, f"x.{key}"), *conditions]
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
                    FROM {table} x {join} WHERE {" AND ".join(where)}"""
            )
        return (
            f"({' UNION ALL '.join(branches)}) AS i (intervention_type, intervention_id, "
            "household_id, agency, kind, amount_idr, fiscal_year, happened_on, village_code, "
            "enrolled_at)"
        )


# Each branch of live_interventions: table, key, kind, amount, fiscal year, day (the view's own
# expressions, so every figure stays what the view gives).
_BRANCHES: dict[str, tuple[str, str, str, str, str, str]] = {
    "grant": (
        "grants",
        "grant_id",
        "'grant-' || x.kind",
        "x.amount_idr",
        "coalesce(x.fiscal_year, extract(year FROM x.issued_at AT TIME ZONE 'Asia/Jakarta')::int)",
        "(x.issued_at AT TIME ZONE 'Asia/Jakarta')::date",
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


def _not_voided(kind: str, column: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = '{kind}' "
        f"AND v.intervention_id = {column})"
    )


def _day(column: str) -> str:
    return f"({column} {_DAY}"


# For this transaction only. The read models are small enough to stay in memory, where an index
# probe costs about what a sequential read does; with the default random_page_cost (4, disks)
# the planner reads all of a million records to join them to one district's households instead
# of following the district's households to their records. JIT compilation costs more than it
# saves on aggregates of this size (hundreds of milliseconds of compiling per query).
_PLANNER = "SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off"


class ReportQueries:
    def __init__(self, pool: asyncpg.Pool, *, tallies: bool = True) -> None:
        """Without `tallies`, every figure is counted from the facts (to check the tallies)."""
        self._pool = pool
        self._tallies = tallies

    def _tallied(self, filters: Filters) -> str | None:
        return tallied.tallied_area(filters) if self._tallies else None

    @asynccontextmanager
    async def _snapshot(self, generation: str | None = None) -> AsyncIterator[Connection]:
        """One consistent read of the active generation, or of a finished "as of" one."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            if generation is None:
                if await use_active(conn) is None:
                    raise UnknownGenerationError("no active read-model generation")
            elif not await use_snapshot(conn, generation):
                raise UnknownGenerationError(f"no finished as-of report is called {generation}")
            await conn.execute(_PLANNER)
            yield conn

    async def _household_counts(self, conn: Connection, filters: Filters) -> HouseholdCounts:
        q = _Sql()
        reg = q.period(filters, _day("h.registered_at"))
        enr = q.period(filters, _day("h.enrolled_at"))
        ex = q.period(filters, _day("h.exited_at"))
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

    async def summary(
        self, filters: Filters
    ) -> tuple[HouseholdCounts, dict[str, int], int, datetime | None]:
        area = self._tallied(filters)
        async with self._snapshot(filters.snapshot) as conn:
            if area is not None:
                households = await tallied.household_counts(conn, filters, area)
                counted = await tallied.by_kind(conn, filters, area)
                reached = await tallied.reached(conn, filters, area)
            else:
                households = await self._household_counts(conn, filters)
                q = _Sql()
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

    async def agencies(self, filters: Filters) -> tuple[dict[str, AgencyFigures], dict[str, int]]:
        area = self._tallied(filters)
        async with self._snapshot(filters.snapshot) as conn:
            figures = (
                await tallied.agencies(conn, filters, area)
                if area is not None
                else await self._agencies(conn, filters)
            )
            q = _Sql()
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

    async def _agencies(self, conn: Connection, filters: Filters) -> dict[str, AgencyFigures]:
        q = _Sql()
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

    async def areas(
        self, area: Area, child_length: int, filters: Filters
    ) -> dict[str, AreaFigures]:
        """Figures of the area's children (of the area itself for a village), by code."""
        scoped = Filters(
            agency=filters.agency,
            areas=(area.code,) if area.code else (),
            fiscal_year=filters.fiscal_year,
            month=filters.month,
        )
        by_code: dict[str, dict[str, int]] = {}
        tallied_scope = self._tallied(scoped)
        async with self._snapshot(filters.snapshot) as conn:
            if tallied_scope is not None and child_length in LEVELS:
                by_code = await tallied.areas(conn, tallied_scope, child_length, scoped)
            else:
                by_code = await self._areas(conn, child_length, scoped)
        return {
            code: AreaFigures(code=code, name=code, level="village", **values)
            for code, values in by_code.items()
        }

    async def _areas(
        self, conn: Connection, child_length: int, scoped: Filters
    ) -> dict[str, dict[str, int]]:
        by_code: dict[str, dict[str, int]] = {}
        q = _Sql()
        length = q(child_length)
        reg = q.period(scoped, _day("h.registered_at"))
        enr = q.period(scoped, _day("h.enrolled_at"))
        ex = q.period(scoped, _day("h.exited_at"))
        rows = await conn.fetch(
            f"""SELECT left(h.village_code, {length}) AS code,
                  count(*) FILTER (WHERE h.registered_at IS NOT NULL AND {reg})
                    AS households_registered,
                  count(*) FILTER (WHERE h.enrolled_at IS NOT NULL AND {enr})
                    AS households_enrolled,
                  count(*) FILTER (WHERE h.exited_at IS NOT NULL AND {ex})
                    AS households_exited,
                  count(*) FILTER (WHERE h.exit_reason = 'graduated' AND {ex})
                    AS households_graduated
                FROM household_state h
                WHERE h.village_code IS NOT NULL AND {q.areas(scoped)}
                GROUP BY 1""",
            *q.params,
        )
        for r in rows:
            by_code.setdefault(r["code"], {}).update(
                {k: int(v) for k, v in r.items() if k != "code"}
            )
        q = _Sql()
        length = q(child_length)
        rows = await conn.fetch(
            f"""SELECT left(i.village_code, {length}) AS code,
                  count(DISTINCT i.household_id) AS households_reached,
                  count(*) AS interventions,
                  coalesce(sum(i.amount_idr), 0) AS idr_disbursed,
                  count(*) FILTER (WHERE i.kind = 'training') AS trainings_completed
                FROM {q.live(scoped, state=True)}
                WHERE i.village_code IS NOT NULL
                GROUP BY 1""",
            *q.params,
        )
        for r in rows:
            by_code.setdefault(r["code"], {}).update(
                {k: int(v) for k, v in r.items() if k != "code"}
            )
        return by_code

    async def time_series(self, filters: Filters) -> list[MonthFigures]:
        area = self._tallied(filters)
        async with self._snapshot(filters.snapshot) as conn:
            if area is not None:
                months = await tallied.months(conn, filters, area)
            else:
                months = await self._months(conn, filters)
        return [MonthFigures(month=m, **months[m]) for m in sorted(months)]

    async def _months(self, conn: Connection, filters: Filters) -> dict[str, dict[str, int]]:
        months: dict[str, dict[str, int]] = {}
        q = _Sql()
        area = q.areas(filters)
        parts = []
        for column, field, extra in (
            ("h.registered_at", "households_registered", ""),
            ("h.enrolled_at", "households_enrolled", ""),
            ("h.exited_at", "households_exited", ""),
            ("h.exited_at", "households_graduated", "AND h.exit_reason = 'graduated'"),
        ):
            day = _day(column)
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
        q = _Sql()
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
            months.setdefault(r["month"], {}).update(
                {k: int(v) for k, v in r.items() if k != "month"}
            )
        return months

    async def case(
        self, household_id: uuid.UUID
    ) -> tuple[CaseHousehold | None, list[CaseEntry]] | None:
        """One household's state and every live record about it; None if nothing is known."""
        async with self._snapshot() as conn:
            state = await conn.fetchrow(
                "SELECT * FROM household_state WHERE household_id = $1", household_id
            )
            grants = await conn.fetch(
                f"""SELECT g.*, (g.issued_at {_DAY} AS happened_on FROM grants g
                   WHERE g.household_id = $1 AND {_not_voided("grant", "g.grant_id")}""",
                household_id,
            )
            trainings = await conn.fetch(
                f"""SELECT t.* FROM training_completions t WHERE t.household_id = $1
                   AND {_not_voided("training-completion", "t.completion_id")}""",
                household_id,
            )
            visits = await conn.fetch(
                f"""SELECT m.* FROM mentoring_visits m WHERE m.household_id = $1
                   AND {_not_voided("mentoring-visit", "m.visit_id")}""",
                household_id,
            )
            surveys = await conn.fetch(
                "SELECT * FROM live_surveys WHERE household_id = $1", household_id
            )
        entries = [
            CaseEntry(
                on=g["happened_on"],
                record_type="grant",
                record_id=g["grant_id"],
                agency=g["agency"],
                kind="grant-" + g["kind"],
                amount_idr=int(g["amount_idr"]),
                details={"fiscal_year": g["fiscal_year"] or g["happened_on"].year},
            )
            for g in grants
        ]
        entries += [
            CaseEntry(
                on=t["completed_on"],
                record_type="training-completion",
                record_id=t["completion_id"],
                agency=t["agency"],
                kind="training",
                details={"topic": t["topic"], "hours": t["hours"]},
            )
            for t in trainings
        ]
        entries += [
            CaseEntry(
                on=m["visited_on"],
                record_type="mentoring-visit",
                record_id=m["visit_id"],
                agency=m["agency"],
                kind="mentoring",
                details={"business_status": m["business_status"]},
            )
            for m in visits
        ]
        entries += [
            CaseEntry(
                on=s["surveyed_on"],
                record_type="business-survey",
                record_id=s["survey_id"],
                agency=s["agency"],
                kind="survey",
                details={"monthly_income_idr": s["monthly_income_idr"], "workers": s["workers"]},
            )
            for s in surveys
        ]
        if state is None and not entries:
            return None
        entries.sort(key=lambda e: (e.on, e.record_type, str(e.record_id)))
        household = None
        if state is not None:
            household = CaseHousehold(
                registered=state["registered_at"] is not None,
                village_code=state["village_code"],
                village_name=None,
                welfare_decile=state["welfare_decile"],
                initial_welfare_decile=state["initial_decile"],
                enrolled_on=_local_day(state["enrolled_at"]),
                cohort_year=state["cohort_year"],
                exited_on=_local_day(state["exited_at"]),
                exit_reason=state["exit_reason"],
            )
        return household, entries

    async def convergence(self, filters: Filters) -> tuple[dict[int, int], dict[int, int], int]:
        """Households by agencies reaching them, the same for enrolled ones, and the enrolled
        households of the scope (those the agency reached, with an agency filter)."""
        area = self._tallied(filters)
        if area is not None:
            async with self._snapshot(filters.snapshot) as conn:
                reached, enrolled_reached = await tallied.convergence(conn, filters, area)
                if filters.agency is not None:
                    enrolled = sum(enrolled_reached.values())
                else:
                    enrolled = await tallied.enrolled(conn, area)
            return reached, enrolled_reached, enrolled
        async with self._snapshot(filters.snapshot) as conn:
            q = _Sql()
            having = (
                f"HAVING bool_or(i.agency = {q(filters.agency)})"
                if filters.agency is not None
                else ""
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
                q = _Sql()
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

    async def unserved(
        self,
        filters: Filters,
        days: int,
        as_of: date,
        limit: int | None = None,
        after: UnservedKey | None = None,
    ) -> tuple[list[tuple[str | None, UnservedHousehold]], int]:
        """Enrolled households in the programme whose last contact is more than `days` before
        `as_of`: those after the key `after`, at most `limit` (None: all), and how many on
        every page."""
        cutoff = as_of - timedelta(days=days)
        async with self._snapshot(filters.snapshot) as conn:
            # The kept contacts hold each household's latest record whenever it is dated: they
            # answer for a day after every one of them (today, unless records are dated ahead).
            if self._tallies and await conn.fetchval(
                "SELECT coalesce(max(last_on) <= $1, true) FROM contacts", as_of
            ):
                rows, total = await self._kept_unserved(conn, filters, cutoff, limit, after)
            else:
                rows = await self._unserved(conn, filters, cutoff, as_of)
                total = len(rows)
                if after is not None:
                    rows = [r for r in rows if _unserved_key(r) > after]
                rows = rows[:limit]
        return [
            (
                r["village_code"] or None,
                UnservedHousehold(
                    household_id=r["household_id"],
                    last_contact=r["last_contact"],
                    days_without=(as_of - r["last_contact"]).days,
                ),
            )
            for r in rows
        ], total

    async def _kept_unserved(
        self,
        conn: Connection,
        filters: Filters,
        cutoff: date,
        limit: int | None,
        after: UnservedKey | None,
    ) -> tuple[list[asyncpg.Record], int]:
        q = _Sql()
        area = q.areas(filters, "c.village_code")
        # For an agency, a household it never reached counts from its enrolment.
        last = (
            "c.last_on"
            if filters.agency is None
            else f"coalesce((c.last_by ->> {q(filters.agency)})::date, c.enrolled_on)"
        )
        matching = f"""SELECT c.household_id, c.village_code, {last} AS last_contact
                       FROM contacts c WHERE {last} < {q(cutoff)} AND {area}"""
        scope = tallied.tallied_area(filters)
        if scope is not None and len(scope) in CONTACT_LEVELS:
            total = await tallied.unserved_by(conn, scope, filters.agency, cutoff)
        else:
            total = int(await conn.fetchval(f"SELECT count(*) FROM ({matching}) AS m", *q.params))
        later = (
            f"WHERE (m.village_code, m.last_contact, m.household_id) > ({q(after[0])}, "
            f"{q(after[1])}, {q(after[2])})"
            if after is not None
            else ""
        )
        page = f"LIMIT {q(limit)}" if limit is not None else ""
        rows = await conn.fetch(
            f"""SELECT * FROM ({matching}) AS m {later}
                ORDER BY m.village_code, m.last_contact, m.household_id {page}""",
            *q.params,
        )
        return rows, total

    async def _unserved(
        self, conn: Connection, filters: Filters, cutoff: date, as_of: date
    ) -> list[asyncpg.Record]:
        """Every unserved household, counted from the facts (derived.py keeps the contacts)."""
        q = _Sql()
        # One grouped pass over the interventions of the area's households (of every household
        # without an area), not a lookup per household.
        return await conn.fetch(
            f"""WITH latest AS (
                  SELECT i.household_id, max(i.happened_on) AS day
                  FROM {q.live(Filters(filters.agency, filters.areas), until=as_of)}
                  GROUP BY i.household_id)
                SELECT household_id, village_code, last_contact FROM (
                  SELECT h.household_id, coalesce(h.village_code, '') AS village_code,
                    coalesce(l.day, {_day("h.enrolled_at")}) AS last_contact
                  FROM household_state h LEFT JOIN latest l USING (household_id)
                  WHERE h.enrolled_at IS NOT NULL AND h.exited_at IS NULL
                    AND {q.areas(filters)}) AS c
                WHERE last_contact < {q(cutoff)}
                ORDER BY village_code COLLATE "C", last_contact, household_id""",
            *q.params,
        )

    async def double_funding(
        self, filters: Filters, limit: int | None = None, after: AlertKey | None = None
    ) -> tuple[list[DoubleFundingAlert], int]:
        """The alerts after the key `after`, at most `limit` (None: all), and how many match
        the filters on every page."""
        async with self._snapshot(filters.snapshot) as conn:
            if self._tallies:
                rows, total = await self._kept_alerts(conn, filters, limit, after)
            else:
                rows = await self._double_funding(conn, filters)
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

    async def _kept_alerts(
        self, conn: Connection, filters: Filters, limit: int | None, after: AlertKey | None
    ) -> tuple[list[asyncpg.Record], int]:
        q = _Sql()
        where = [q.areas(filters, "a.village_code")]
        if filters.fiscal_year is not None:
            where.append(f"a.fiscal_year = {q(filters.fiscal_year)}")
        if filters.agency is not None:
            where.append(f"{q(filters.agency)} = ANY(a.agencies)")
        matching = " AND ".join(where)
        total = int(
            await conn.fetchval(
                f"SELECT count(*) FROM double_funding a WHERE {matching}", *q.params
            )
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

    async def _double_funding(self, conn: Connection, filters: Filters) -> list[asyncpg.Record]:
        """The alerts counted from the facts (derived.py keeps them per household)."""
        q = _Sql()
        having = (
            f"AND bool_or(i.agency = {q(filters.agency)})" if filters.agency is not None else ""
        )
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

    async def outcomes(
        self, filters: Filters
    ) -> tuple[int, dict[str, int], IncomeChange, list[DecileMove]]:
        tallied_scope = self._tallied(filters)
        async with self._snapshot(filters.snapshot) as conn:
            if tallied_scope is not None:
                enrolled, exit_reasons, move_rows = await tallied.outcomes(conn, tallied_scope)
                income = await incomes.income_change(conn, tallied_scope)
            else:
                enrolled, exit_reasons, move_rows = await self._outcomes(conn, filters)
                income = await self._income_change(conn, filters)
        return (
            enrolled,
            exit_reasons,
            income,
            [DecileMove(from_decile=a, to_decile=b, households=n) for a, b, n in move_rows],
        )

    async def _income_change(self, conn: Connection, filters: Filters) -> IncomeChange:
        """Counted from the surveys (incomes.py keeps it for the tallied areas)."""
        q = _Sql()
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
        return incomes.income_change_of(income)

    async def _outcomes(
        self, conn: Connection, filters: Filters
    ) -> tuple[int, dict[str, int], list[tuple[int, int, int]]]:
        q = _Sql()
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

    async def data_quality(self) -> tuple[list[ReasonCount], WaitingRecords]:
        async with self._snapshot() as conn:
            reasons = await conn.fetch(
                """SELECT reason, count(*) AS n FROM rejected_events
                   GROUP BY reason ORDER BY n DESC, reason"""
            )
            if self._tallies:
                waiting = await conn.fetch(
                    """SELECT intervention_type, sum(records) AS n FROM waiting_records
                       GROUP BY 1"""
                )
                households = int(
                    await conn.fetchval("SELECT count(DISTINCT household_id) FROM waiting_records")
                )
            else:
                waiting = await conn.fetch(_WAITING)
                households = len({h for r in waiting for h in r["households"]})
        return (
            [ReasonCount(reason=r["reason"], events=int(r["n"])) for r in reasons],
            WaitingRecords(
                households=households,
                records=sum(int(r["n"]) for r in waiting),
                by_type={r["intervention_type"]: int(r["n"]) for r in waiting},
            ),
        )

    async def intake_refusals(self) -> IntakeRefusals:
        """From the dead letters (adapters/refusals.py), beside the generations: the same
        whatever read model is active."""
        async with self._pool.acquire() as conn:
            counts = await conn.fetch(
                """SELECT agency, reason_code, count(*) AS n, max(refused_at) AS last
                   FROM public.intake_refusals GROUP BY 1, 2 ORDER BY 1, 2"""
            )
            days = await conn.fetch(
                """SELECT (refused_at AT TIME ZONE 'Asia/Jakarta')::date AS day, agency,
                          count(*) AS n
                   FROM public.intake_refusals WHERE refused_at > now() - interval '30 days'
                   GROUP BY 1, 2 ORDER BY 1, 2"""
            )
        return IntakeRefusals(
            total=sum(int(r["n"]) for r in counts),
            by_agency_and_reason=[
                IntakeRefusalCount(
                    agency=r["agency"],
                    reason=r["reason_code"],
                    refusals=int(r["n"]),
                    last_refused_at=r["last"],
                )
                for r in counts
            ],
            by_day=[
                IntakeRefusalDay(day=r["day"], agency=r["agency"], refusals=int(r["n"]))
                for r in days
            ],
        )

    async def public_counts(self, filters: Filters) -> PublicCounts:
        area = self._tallied(filters)
        if area is not None:
            async with self._snapshot() as conn:
                households = await tallied.household_counts(conn, filters, area)
                reach = await tallied.public_reach(conn, filters, area)
                counted = await tallied.by_kind(conn, filters, area)
                enrolled = await tallied.enrolled(conn, area)
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
        async with self._snapshot() as conn:
            households = await self._household_counts(conn, filters)
            q = _Sql()
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
            q = _Sql()
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


# Live records of households not registered (yet), counted from the facts (derived.py keeps
# them per household).
_WAITING: Final = """WITH records AS (
      SELECT intervention_type, household_id FROM live_interventions
      UNION ALL
      SELECT 'business-survey', household_id FROM live_surveys)
    SELECT r.intervention_type, count(*) AS n,
           array_agg(DISTINCT r.household_id) AS households
    FROM records r
    WHERE NOT EXISTS (SELECT 1 FROM household_state h
                      WHERE h.household_id = r.household_id
                        AND h.registered_at IS NOT NULL)
    GROUP BY 1"""


def _local_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(JAKARTA).date()


def children_length(area: Area, index: AreaIndex) -> int:
    kids = index.children(area.code)
    return len(kids[0].code) if kids else len(area.code)
