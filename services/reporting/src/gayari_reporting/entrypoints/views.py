"""The read models a request asks for: filters checked, queries run, figures assembled.

Shared by the JSON endpoints and the exports, so that an export is exactly its view.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from fastapi import Request
from pydantic import BaseModel

from gayari_reporting.adapters.projector import Projector
from gayari_reporting.adapters.reports import AlertKey, ReportQueries, UnservedKey
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.domain.areas import CHILD, Area, AreaIndex, children_length, parent_code
from gayari_reporting.domain.calendar import every_month
from gayari_reporting.domain.filters import (
    Cursor,
    Filters,
    InvalidQueryError,
    ParameterError,
    encode_cursor,
    parse_filters,
)
from gayari_reporting.domain.privacy import THRESHOLD, public_figures
from gayari_reporting.domain.readmodels import (
    Agencies,
    AreaReport,
    Case,
    Convergence,
    DataQuality,
    DoubleFunding,
    DoubleFundingAlert,
    MonthFigures,
    Outcomes,
    PartitionLag,
    PublicSummary,
    ReasonCount,
    Summary,
    TimeSeries,
    Unserved,
    UnservedHousehold,
    UnservedVillage,
    agency_rows,
    convergence,
    decile_movement,
    percent,
    roll_up,
)
from gayari_reporting.domain.tables import Table, empty_table, table_of
from gayari_reporting.entrypoints.parameters import (
    AreaExportParameters,
    DoubleFundingExportParameters,
    NoParameters,
    OutcomeParameters,
    QueryParameters,
    UnservedExportParameters,
    ViewParameters,
)
from gayari_reporting.settings import ReportingSettings
from gayari_shared.agencies import Agency
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.http.problems import FieldError, ProblemError

# Rows of a list page when the request does not say (filters.MAX_LIMIT at most).
DEFAULT_LIMIT: Final = 1000


def invalid(errors: list[ParameterError], place: str = "query") -> ProblemError:
    names = ", ".join(dict.fromkeys(e.parameter for e in errors))
    return ProblemError(
        422,
        "The request is not valid",
        f"Invalid or missing: {names}",
        kind="urn:gayari:problem:invalid-request",
        errors=[FieldError(field=f"{place}.{e.parameter}", message=e.message) for e in errors],
    )


@dataclass(frozen=True, slots=True)
class Context:
    queries: ReportQueries
    store: ReadModelStore
    projector: Projector
    agencies: tuple[Agency, ...]
    areas: AreaIndex
    settings: ReportingSettings

    @classmethod
    def of(cls, request: Request) -> Context:
        state = request.app.state
        return cls(
            state.queries,
            state.store,
            state.projector,
            state.agencies,
            state.areas,
            state.reporting_settings,
        )

    def filters(self, request: Request, allowed: Collection[str]) -> Filters:
        try:
            return parse_filters(
                list(request.query_params.multi_items()),
                allowed,
                agencies={a.code for a in self.agencies},
                areas=self.areas,
            )
        except InvalidQueryError as exc:
            raise invalid(exc.errors) from exc


async def summary(ctx: Context, filters: Filters) -> Summary:
    households, kinds, idr, as_of = await ctx.queries.summary(filters)
    return Summary(
        filters=filters.as_dict(),
        households=households,
        interventions=kinds,
        idr_disbursed=idr,
        trainings_completed=kinds["training"],
        as_of=as_of,
    )


async def agencies(ctx: Context, filters: Filters) -> Agencies:
    figures, budgets = await ctx.queries.agencies(filters)
    configured = {a.code: a.name for a in ctx.agencies}
    if filters.agency is not None:
        configured = {filters.agency: configured[filters.agency]}
    return Agencies(filters=filters.as_dict(), agencies=agency_rows(configured, figures, budgets))


def area_or_422(ctx: Context, code: str, place: str, name: str) -> Area:
    area = ctx.areas.get(code)
    if area is None:
        raise invalid([ParameterError(name, f"no Kemendagri area has the code {code!r}")], place)
    return area


async def area_report(ctx: Context, area: Area, filters: Filters) -> AreaReport:
    children = ctx.areas.children(area.code) if CHILD[area.level] else []
    by_code = await ctx.queries.areas(area, children_length(area, ctx.areas), filters)
    report = roll_up(area, children, by_code)
    return report.model_copy(update={"filters": filters.as_dict() | {"areas": area.code}})


async def time_series(ctx: Context, filters: Filters) -> TimeSeries:
    months = every_month(await ctx.queries.time_series(filters))
    return TimeSeries(filters=filters.as_dict(), months=months)


async def case(ctx: Context, household_id: uuid.UUID) -> Case | None:
    found = await ctx.queries.case(household_id)
    if found is None:
        return None
    household, entries = found
    if household is not None and household.village_code:
        village = ctx.areas.get(household.village_code)
        household = household.model_copy(update={"village_name": village.name if village else None})
    return Case(
        household_id=household_id,
        household=household,
        agencies=sorted({e.agency for e in entries}),
        entries=entries,
    )


async def convergence_view(ctx: Context, filters: Filters) -> Convergence:
    reached, enrolled_reached, enrolled = await ctx.queries.convergence(filters)
    return convergence(filters.as_dict(), reached, enrolled_reached, enrolled, len(ctx.agencies))


async def unserved(
    ctx: Context, filters: Filters, default_limit: int | None = DEFAULT_LIMIT
) -> Unserved:
    """A page of the unserved households (`default_limit` None: all, for an export)."""
    days = filters.days or ctx.settings.unserved_days
    as_of = filters.as_of or datetime.now(JAKARTA).date()
    limit = filters.limit or default_limit
    rows, total = await ctx.queries.unserved(
        filters, days, as_of, limit, _unserved_key(filters.after)
    )
    villages: dict[str | None, list[UnservedHousehold]] = {}
    for code, household in rows:
        villages.setdefault(code, []).append(household)
    listed = []
    for code, households in villages.items():
        village = ctx.areas.get(code) if code else None
        district = ctx.areas.get(parent_code(code)) if code else None
        listed.append(
            UnservedVillage(
                village_code=code,
                village_name=village.name if village else None,
                district_code=district.code if district else None,
                district_name=district.name if district else None,
                households=households,
            )
        )
    last = rows[-1] if rows and limit is not None and len(rows) == limit else None
    return Unserved(
        filters=filters.as_dict(),
        days=days,
        as_of=as_of,
        households=total,
        villages=listed,
        next=None
        if last is None
        else encode_cursor(
            (last[0] or "", last[1].last_contact.isoformat(), str(last[1].household_id))
        ),
    )


def _unserved_key(after: Cursor | None) -> UnservedKey | None:
    if after is None:
        return None
    match after:
        case (str(village), str(day), str(household)):
            with contextlib.suppress(ValueError):
                return (village, date.fromisoformat(day), uuid.UUID(household))
    raise invalid([ParameterError("after", "not a cursor of this list")])


async def double_funding(
    ctx: Context, filters: Filters, default_limit: int | None = DEFAULT_LIMIT
) -> DoubleFunding:
    """A page of the alerts (`default_limit` None: all of them, for an export)."""
    limit = filters.limit or default_limit
    alerts, total = await ctx.queries.double_funding(filters, limit, _alert_key(filters.after))
    alerts = [
        a.model_copy(update={"village_name": _place_name(ctx, a.village_code)}) for a in alerts
    ]
    last = alerts[-1] if alerts and limit is not None and len(alerts) == limit else None
    return DoubleFunding(
        filters=filters.as_dict(),
        total=total,
        alerts=alerts,
        next=None
        if last is None
        else encode_cursor(
            (last.fiscal_year, last.village_code or "", str(last.household_id), last.kind)
        ),
    )


def _place_name(ctx: Context, code: str | None) -> str | None:
    area = ctx.areas.get(code) if code else None
    return area.name if area else None


def _alert_key(after: Cursor | None) -> AlertKey | None:
    if after is None:
        return None
    match after:
        case (int(year), str(village), str(household), str(kind)):
            with contextlib.suppress(ValueError):
                return (year, village, uuid.UUID(household), kind)
    raise invalid([ParameterError("after", "not a cursor of this list")])


async def outcomes(ctx: Context, filters: Filters) -> Outcomes:
    enrolled, exits, income, moves = await ctx.queries.outcomes(filters)
    graduated = exits.get("graduated", 0)
    return Outcomes(
        filters=filters.as_dict(),
        enrolled=enrolled,
        graduated=graduated,
        exits_by_reason=exits,
        graduation_rate_percent=percent(graduated, enrolled),
        income=income,
        deciles=decile_movement(moves),
    )


async def data_quality(ctx: Context) -> DataQuality:
    reasons, waiting = await ctx.queries.data_quality()
    stored = await ctx.store.stored_positions(ctx.projector.group_id)
    live = {(t, p): (pos, hw) for t, p, pos, hw in await ctx.projector.partition_positions()}
    partitions = []
    for topic, partition in sorted(stored.keys() | live.keys()):
        position, highwater = live.get((topic, partition), (None, None))
        next_offset = stored.get((topic, partition))
        lag = None if highwater is None else max(0, highwater - (next_offset or 0))
        partitions.append(
            PartitionLag(
                topic=topic,
                partition=partition,
                stored_next_offset=next_offset,
                position=position,
                highwater=highwater,
                lag=lag,
            )
        )
    return DataQuality(
        rejected_total=sum(r.events for r in reasons),
        rejected_by_reason=reasons,
        intake_refusals=await ctx.queries.intake_refusals(),
        waiting_for_household=waiting,
        partitions=partitions,
        events_projected_since_start=ctx.projector.projected_total,
    )


async def public_summary(ctx: Context, filters: Filters) -> PublicSummary:
    area = ctx.areas.get(filters.areas[0] if filters.areas else "")
    assert area is not None  # parse_filters checked the code
    counts = await ctx.queries.public_counts(filters)
    return PublicSummary(
        area=area.code,
        area_name=area.name,
        level=area.level,
        threshold=THRESHOLD,
        figures=public_figures(counts),
    )


# --- exports: each table view, with the parameters its JSON endpoint takes --------------------


def _one_row(title: str, model: BaseModel, *, exclude: frozenset[str] = frozenset()) -> Table:
    return table_of(title, [model], exclude=exclude)


async def _summary_table(ctx: Context, filters: Filters) -> Table:
    view = await summary(ctx, filters)
    flat = {
        **{f"households_{k}": v for k, v in view.households.model_dump().items()},
        **{f"interventions_{k.replace('-', '_')}": v for k, v in view.interventions.items()},
        "idr_disbursed": view.idr_disbursed,
        "trainings_completed": view.trainings_completed,
    }
    return table_of("summary", [_Flat.model_validate(flat)])


class _Flat(BaseModel):
    model_config = {"extra": "allow"}


async def _agencies_table(ctx: Context, filters: Filters) -> Table:
    return table_of("agencies", (await agencies(ctx, filters)).agencies)


async def _areas_table(ctx: Context, filters: Filters) -> Table:
    code = filters.areas[0] if filters.areas else ""
    area = area_or_422(ctx, code, "query", "area")
    scoped = Filters(filters.agency, (), filters.fiscal_year, filters.month)
    report = await area_report(ctx, area, scoped)
    return table_of("areas", [report.area, *report.children])


async def _timeseries_table(ctx: Context, filters: Filters) -> Table:
    months = (await time_series(ctx, filters)).months
    return table_of("timeseries", months) if months else empty_table("timeseries", MonthFigures)


async def _convergence_table(ctx: Context, filters: Filters) -> Table:
    return table_of("convergence", (await convergence_view(ctx, filters)).reached_by)


class _UnservedRow(BaseModel):
    village_code: str | None
    village_name: str | None
    district_code: str | None
    district_name: str | None
    household_id: uuid.UUID
    last_contact: object
    days_without: int


async def _unserved_table(ctx: Context, filters: Filters) -> Table:
    view = await unserved(ctx, filters, None)
    rows = [
        _UnservedRow(**v.model_dump(exclude={"households"}), **h.model_dump())
        for v in view.villages
        for h in v.households
    ]
    return table_of("unserved", rows) if rows else empty_table("unserved", _UnservedRow)


async def _double_funding_table(ctx: Context, filters: Filters) -> Table:
    alerts = (await double_funding(ctx, filters, None)).alerts
    if not alerts:
        return empty_table("double-funding", DoubleFundingAlert)
    return table_of("double-funding", alerts)


async def _outcomes_table(ctx: Context, filters: Filters) -> Table:
    view = await outcomes(ctx, filters)
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


async def _data_quality_table(ctx: Context, filters: Filters) -> Table:
    reasons = (await data_quality(ctx)).rejected_by_reason
    return table_of("rejected", reasons) if reasons else empty_table("rejected", ReasonCount)


Exporter = Callable[[Context, Filters], Awaitable[Table]]
# Each table view with the parameters its JSON endpoint takes (a list's page parameters aside:
# an export has every row).
EXPORTS: Final[dict[str, tuple[type[QueryParameters], Exporter]]] = {
    "summary": (ViewParameters, _summary_table),
    "agencies": (ViewParameters, _agencies_table),
    "areas": (AreaExportParameters, _areas_table),
    "timeseries": (ViewParameters, _timeseries_table),
    "convergence": (ViewParameters, _convergence_table),
    "unserved": (UnservedExportParameters, _unserved_table),
    "double-funding": (DoubleFundingExportParameters, _double_funding_table),
    "outcomes": (OutcomeParameters, _outcomes_table),
    "data-quality": (NoParameters, _data_quality_table),
}
