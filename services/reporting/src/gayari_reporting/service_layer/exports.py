"""The exports: each table view as a table (domain/tables.py), from the same use case as its
JSON endpoint (reports.py), so that an export is exactly its view with every row."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from pydantic import BaseModel

from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import DoubleFundingAlert, MonthFigures, ReasonCount
from gayari_reporting.domain.tables import Table, empty_table, table_of
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


async def _unserved_table(deps: ReportingDeps, filters: Filters) -> Table:
    view = await reports.unserved(deps, filters, None)
    rows = [
        _UnservedRow(**v.model_dump(exclude={"households"}), **h.model_dump())
        for v in view.villages
        for h in v.households
    ]
    return table_of("unserved", rows) if rows else empty_table("unserved", _UnservedRow)


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
# Each table view by the name of its export (its route: /exports/<name>.csv|.xlsx).
TABLES: Final[dict[str, Exporter]] = {
    "summary": _summary_table,
    "agencies": _agencies_table,
    "areas": _areas_table,
    "timeseries": _timeseries_table,
    "convergence": _convergence_table,
    "unserved": _unserved_table,
    "double-funding": _double_funding_table,
    "outcomes": _outcomes_table,
    "data-quality": _data_quality_table,
}
