"""What the reporting use cases need of the read models, as Protocols.

The use cases (reports.py, exports.py, monthly_report.py) depend on these, not on PostgreSQL:
`adapters.reports.ReportQueries` answers `ReadModelQueries` from the tallies and the facts,
`adapters.store.ReadModelStore` answers `StoredPositions`, the projector `ProjectorStatus`, and
bootstrap.py wires them. The unit tests' fake (tests/unit/fakes/reporting.py) answers them from
a few facts in memory, so every use case is tested without a database.

Each query returns the figures of one report as the read models hold them; what the use case
adds (names of areas and agencies, roll-ups, the calendar's empty months, cursors, the privacy
threshold) is the use case's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Protocol

from gayari_reporting.domain.areas import Area
from gayari_reporting.domain.consumed import PartitionKey
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


class ReadModelQueries(Protocol):
    """One query per report, each read in one snapshot (filters.snapshot: an as-of report)."""

    async def summary(
        self, filters: Filters
    ) -> tuple[HouseholdCounts, dict[str, int], int, datetime | None]:
        """Households (reached among them), records by kind (every kind of KINDS, zeros too),
        Rupiah disbursed, and when the projection last advanced."""

    async def agencies(self, filters: Filters) -> tuple[dict[str, AgencyFigures], dict[str, int]]:
        """Each agency's figures, by code, for the agencies with a record in the filters; and
        the Rupiah allocated to each in the filters' fiscal year (a month's year)."""

    async def areas(
        self, area: Area, child_length: int, filters: Filters
    ) -> dict[str, AreaFigures]:
        """The figures of the area's children (codes `child_length` long; the area itself for
        a village) that have any, by code; their names are the use case's to set."""

    async def time_series(self, filters: Filters) -> list[MonthFigures]:
        """The months with any figure, in calendar order (the empty ones left out)."""

    async def convergence(self, filters: Filters) -> tuple[dict[int, int], dict[int, int], int]:
        """Households by the number of agencies reaching them, the same for enrolled ones, and
        the enrolled households of the scope (those the agency reached, with an agency)."""

    async def unserved(
        self,
        filters: Filters,
        days: int,
        as_of: date,
        limit: int | None = None,
        after: UnservedKey | None = None,
    ) -> tuple[list[tuple[str | None, UnservedHousehold]], int]:
        """Enrolled households still in the programme last reached more than `days` before
        `as_of`, with their village code: in UnservedKey order, those after `after`, at most
        `limit` (None: all); and how many on every page."""

    async def double_funding(
        self, filters: Filters, limit: int | None = None, after: AlertKey | None = None
    ) -> tuple[list[DoubleFundingAlert], int]:
        """The alerts in AlertKey order, those after `after`, at most `limit` (None: all);
        and how many on every page."""

    async def outcomes(
        self, filters: Filters
    ) -> tuple[int, dict[str, int], IncomeChange, list[DecileMove]]:
        """Enrolled households, exits by reason, the income change, the decile moves."""

    async def data_quality(self) -> tuple[list[ReasonCount], WaitingRecords]:
        """Refused events by reason, and the records waiting for their household."""

    async def intake_refusals(self) -> IntakeRefusals:
        """The agencies' intake records refused, whatever generation is active."""

    async def public_counts(self, filters: Filters) -> PublicCounts:
        """The counts the public summary publishes, before any is suppressed."""

    async def case(
        self, household_id: uuid.UUID
    ) -> tuple[CaseHousehold | None, list[CaseEntry]] | None:
        """The household's state (None if not registered) and its live records in order;
        None if nothing at all is known of it."""


class StoredPositions(Protocol):
    async def stored_positions(self, group: str) -> dict[PartitionKey, int]:
        """The next offset stored for each partition the group projected."""


class ProjectorStatus(Protocol):
    """What the data-quality report says of the projector running in this process."""

    group_id: str
    projected_total: int

    async def partition_positions(self) -> list[tuple[str, int, int | None, int | None]]:
        """(topic, partition, position, highwater) of each partition assigned here."""
