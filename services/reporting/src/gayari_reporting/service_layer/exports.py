"""The exports: each table view as a table (domain/tables.py), from the same use case as its
JSON endpoint (reports.py), so that an export is exactly its view with every row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from pydantic import BaseModel

from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    DoubleFundingAlert,
    MonthFigures,
    ReasonCount,
    UnservedVillage,
)
from gayari_reporting.domain.tables import Column, Table, empty_table, table_of
from gayari_reporting.service_layer import reports
from gayari_reporting.service_layer.reports import ReportingDeps


async def _summary_table(deps: ReportingDeps, filters: Filters) -> Table:
    view = await reports.summary(deps, filters)
    flat = {
        **{f"households_{k}": v for k, v in view.households.model_dump().items()},
        **{f"interventions_{k.replace('-', '_')}": v for k, v in view.interventions.items()},
        "idr_disbursed": view.idr_disbursed,
        "trainings_completed": view.trainings_completed,
    }
    return table_of("summary", [_Flat.model_validate(flat)])


class _Flat(BaseModel):
    model_config = {"extra": "allow"}


async def _agencies_table(deps: ReportingDeps, filters: Filters) -> Table:
    return table_of("agencies", (await reports.agencies(deps, filters)).agencies)


async def _areas_table(deps: ReportingDeps, filters: Filters) -> Table:
    code = filters.areas[0] if filters.areas else ""
    area = reports.area_named(deps, code, "query", "area")
    scoped = Filters(filters.agency, (), filters.fiscal_year, filters.month)
    report = await reports.area_report(deps, area, scoped)
    return table_of("areas", [report.area, *report.children])


async def _timeseries_table(deps: ReportingDeps, filters: Filters) -> Table:
    months = (await reports.time_series(deps, filters)).months
    return table_of("timeseries", months) if months else empty_table("timeseries", MonthFigures)


async def _convergence_table(deps: ReportingDeps, filters: Filters) -> Table:
    return table_of("convergence", (await reports.convergence_report(deps, filters)).reached_by)


class _UnservedRow(BaseModel):
    village_code: str | None
    village_name: str | None
    district_code: str | None
    district_name: str | None
    household_id: uuid.UUID
    last_contact: object
    days_without: int


# An unserved list is exported this many households at a time: a province's whole list
# never sits in memory.
UNSERVED_PAGE: Final = 10_000


def _unserved_rows(villages: list[UnservedVillage]) -> list[_UnservedRow]:
    return [
        _UnservedRow(**v.model_dump(exclude={"households"}), **h.model_dump())
        for v in villages
        for h in v.households
    ]


async def _unserved_pages(deps: ReportingDeps, filters: Filters) -> AsyncIterator[Table]:
    async for villages in reports.unserved_pages(deps, filters, UNSERVED_PAGE):
        yield table_of("unserved", _unserved_rows(villages), columns=_UNSERVED_COLUMNS)


_UNSERVED_COLUMNS: Final = [
    Column("village_code", "text"),
    Column("village_name", "text"),
    Column("district_code", "text"),
    Column("district_name", "text"),
    Column("household_id", "text"),
    Column("last_contact", "date"),
    Column("days_without", "count"),
]


async def _double_funding_table(deps: ReportingDeps, filters: Filters) -> Table:
    alerts = (await reports.double_funding(deps, filters, None)).alerts
    if not alerts:
        return empty_table("double-funding", DoubleFundingAlert)
    return table_of("double-funding", alerts)


async def _outcomes_table(deps: ReportingDeps, filters: Filters) -> Table:
    view = await reports.outcomes(deps, filters)
    flat = {
        "enrolled": view.enrolled,
        "graduated": view.graduated,
        "graduation_rate_percent": view.graduation_rate_percent,
        **view.income.model_dump(),
        "deciles_improved": view.deciles.improved,
        "deciles_unchanged": view.deciles.unchanged,
        "deciles_worsened": view.deciles.worsened,
    }
    return table_of("outcomes", [_Flat.model_validate(flat)])


async def _data_quality_table(deps: ReportingDeps, filters: Filters) -> Table:
    reasons = (await reports.data_quality(deps)).rejected_by_reason
    return table_of("rejected", reasons) if reasons else empty_table("rejected", ReasonCount)


Exporter = Callable[[ReportingDeps, Filters], Awaitable[Table]]
PagedExporter = Callable[[ReportingDeps, Filters], AsyncIterator[Table]]
# Each table view by the name of its export (its route: /exports/<name>.csv|.xlsx).
TABLES: Final[dict[str, Exporter]] = {
    "summary": _summary_table,
    "agencies": _agencies_table,
    "areas": _areas_table,
    "timeseries": _timeseries_table,
    "convergence": _convergence_table,
    "double-funding": _double_funding_table,
    "outcomes": _outcomes_table,
    "data-quality": _data_quality_table,
}
# The lists that may be long, exported a page (a table) at a time.
PAGED: Final[dict[str, PagedExporter]] = {"unserved": _unserved_pages}
PAGED_COLUMNS: Final[dict[str, list[Column]]] = {"unserved": _UNSERVED_COLUMNS}
