"""The query side: one module per report, each with the facts query and the tallies it reads.

`ReportQueries` is what the service layer's `ReadModelQueries` (service_layer/queries.py) asks
for: one method per report, each one snapshot (snapshots.py). A report counts from the facts
(facts.py) unless its scope is kept: then it reads the tallies (tally_rows.py, and the rows
only it reads, in its own module) or the per-household rows (double funding, unserved,
waiting records).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import asyncpg

from gayari_reporting.adapters.reports import (
    agencies,
    areas,
    case_view,
    convergence,
    data_quality,
    double_funding,
    outcomes,
    public_summary,
    summary,
    time_series,
    unserved,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.domain.areas import Area
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.privacy import PublicCounts
from gayari_reporting.domain.readmodels import (
    AgencyFigures,
    AlertKey,
    AreaFigures,
    CaseEntry,
    CaseHousehold,
    DecileMove,
    DoubleFundingAlert,
    HouseholdCounts,
    IncomeChange,
    IntakeRefusals,
    MonthFigures,
    ReasonCount,
    UnservedHousehold,
    UnservedKey,
    WaitingRecords,
)

__all__ = ["AlertKey", "ReportQueries", "UnservedKey"]


class ReportQueries:
    def __init__(self, pool: asyncpg.Pool, *, tallies: bool = True) -> None:
        """Without `tallies`, every figure is counted from the facts (to check the tallies)."""
        self._db = Snapshots(pool, kept=tallies)

    async def summary(
        self, filters: Filters
    ) -> tuple[HouseholdCounts, dict[str, int], int, datetime | None]:
        return await summary.read(self._db, filters)

    async def agencies(self, filters: Filters) -> tuple[dict[str, AgencyFigures], dict[str, int]]:
        return await agencies.read(self._db, filters)

    async def areas(
        self, area: Area, child_length: int, filters: Filters
    ) -> dict[str, AreaFigures]:
        return await areas.read(self._db, area, child_length, filters)

    async def time_series(self, filters: Filters) -> list[MonthFigures]:
        return await time_series.read(self._db, filters)

    async def convergence(self, filters: Filters) -> tuple[dict[int, int], dict[int, int], int]:
        return await convergence.read(self._db, filters)

    async def unserved(
        self,
        filters: Filters,
        days: int,
        as_of: date,
        limit: int | None = None,
        after: UnservedKey | None = None,
    ) -> tuple[list[tuple[str | None, UnservedHousehold]], int]:
        return await unserved.read(self._db, filters, days, as_of, limit=limit, after=after)

    async def double_funding(
        self, filters: Filters, limit: int | None = None, after: AlertKey | None = None
    ) -> tuple[list[DoubleFundingAlert], int]:
        return await double_funding.read(self._db, filters, limit, after)

    async def outcomes(
        self, filters: Filters
    ) -> tuple[int, dict[str, int], IncomeChange, list[DecileMove]]:
        return await outcomes.read(self._db, filters)

    async def data_quality(self) -> tuple[list[ReasonCount], WaitingRecords]:
        return await data_quality.read(self._db)

    async def intake_refusals(self) -> IntakeRefusals:
        return await data_quality.intake_refusals(self._db)

    async def public_counts(self, filters: Filters) -> PublicCounts:
        return await public_summary.read(self._db, filters)

    async def case(
        self, household_id: uuid.UUID
    ) -> tuple[CaseHousehold | None, list[CaseEntry]] | None:
        return await case_view.read(self._db, household_id)
