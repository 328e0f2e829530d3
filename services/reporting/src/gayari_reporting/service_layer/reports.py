"""The reporting use cases: the read model a request asks for, from filters already parsed.

Each checks what the filters alone cannot (an area code, a cursor), runs its report's query and
assembles the figures. The JSON endpoints and the exports (exports.py) share them, so an export
is exactly its view. A request that names nothing valid raises InvalidQueryError; the
entrypoints make it a 422 problem.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from gayari_reporting.domain.areas import CHILD, Area, AreaIndex, children_length, parent_code
from gayari_reporting.domain.calendar import every_month, zone_of_areas
from gayari_reporting.domain.filters import (
    Cursor,
    Filters,
    InvalidQueryError,
    ParameterError,
    encode_cursor,
)
from gayari_reporting.domain.privacy import THRESHOLD, public_figures
from gayari_reporting.domain.readmodels import (
    Agencies,
    AlertKey,
    AreaReport,
    Case,
    Convergence,
    DataQuality,
    DoubleFunding,
    Outcomes,
    PartitionLag,
    PublicSummary,
    Summary,
    TimeSeries,
    Unserved,
    UnservedHousehold,
    UnservedKey,
    UnservedVillage,
    agency_rows,
    convergence,
    decile_movement,
    named_refusals,
    percent,
    roll_up,
)
from gayari_reporting.service_layer.queries import (
    ProjectorStatus,
    ReadModelQueries,
    StoredPositions,
)
from gayari_shared.agencies import Agency

# Rows of a list page when the request does not say (filters.MAX_LIMIT at most).
DEFAULT_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class ReportingDeps:
    """What the use cases are given (bootstrap.py wires the adapters; the unit tests, fakes)."""

    queries: ReadModelQueries
    store: StoredPositions
    projector: ProjectorStatus
    agencies: tuple[Agency, ...]
    areas: AreaIndex
    unserved_days: int


def _invalid(parameter: str, message: str, place: str = "query") -> InvalidQueryError:
    return InvalidQueryError([ParameterError(parameter, message)], place)


async def summary(deps: ReportingDeps, filters: Filters) -> Summary:
    households, kinds, idr, as_of = await deps.queries.summary(filters)
    return Summary(
        filters=filters.as_dict(),
        households=households,
        interventions=kinds,
        idr_disbursed=idr,
        trainings_completed=kinds["training"],
        as_of=as_of,
    )


async def agencies(deps: ReportingDeps, filters: Filters) -> Agencies:
    figures, budgets = await deps.queries.agencies(filters)
    configured = {a.code: a.name for a in deps.agencies}
    if filters.agency is not None:
        configured = {filters.agency: configured[filters.agency]}
    return Agencies(filters=filters.as_dict(), agencies=agency_rows(configured, figures, budgets))


def area_named(deps: ReportingDeps, code: str, place: str, name: str) -> Area:
    area = deps.areas.get(code)
    if area is None:
        raise _invalid(name, f"no Kemendagri area has the code {code!r}", place)
    return area


async def area_report(deps: ReportingDeps, area: Area, filters: Filters) -> AreaReport:
    children = deps.areas.children(area.code) if CHILD[area.level] else []
    by_code = await deps.queries.areas(area, children_length(area, deps.areas), filters)
    report = roll_up(area, children, by_code)
    return report.model_copy(update={"filters": filters.as_dict() | {"areas": area.code}})


async def time_series(deps: ReportingDeps, filters: Filters) -> TimeSeries:
    months = every_month(await deps.queries.time_series(filters))
    return TimeSeries(filters=filters.as_dict(), months=months)


async def case(deps: ReportingDeps, household_id: uuid.UUID) -> Case | None:
    found = await deps.queries.case(household_id)
    if found is None:
        return None
    household, entries = found
    if household is not None and household.village_code:
        village = deps.areas.get(household.village_code)
        household = household.model_copy(update={"village_name": village.name if village else None})
    return Case(
        household_id=household_id,
        household=household,
        agencies=sorted({e.agency for e in entries}),
        entries=entries,
    )


async def convergence_report(deps: ReportingDeps, filters: Filters) -> Convergence:
    reached, enrolled_reached, enrolled = await deps.queries.convergence(filters)
    return convergence(filters.as_dict(), reached, enrolled_reached, enrolled, len(deps.agencies))


def _unserved_villages(
    deps: ReportingDeps, rows: list[tuple[str | None, UnservedHousehold]]
) -> list[UnservedVillage]:
    villages: dict[str | None, list[UnservedHousehold]] = {}
    for code, household in rows:
        villages.setdefault(code, []).append(household)
    listed = []
    for code, households in villages.items():
        village = deps.areas.get(code) if code else None
        district = deps.areas.get(parent_code(code)) if code else None
        listed.append(
            UnservedVillage(
                village_code=code,
                village_name=village.name if village else None,
                district_code=district.code if district else None,
                district_name=district.name if district else None,
                households=households,
            )
        )
    return listed


async def unserved_pages(
    deps: ReportingDeps, filters: Filters, page: int
) -> AsyncIterator[list[UnservedVillage]]:
    """Every unserved household, `page` of them at a time in the list's order (each page by
    village), for an export that never holds them all. Each page is read afresh, after the
    last one's key, as a client paging through the list would."""
    days = filters.days or deps.unserved_days
    as_of = filters.as_of or datetime.now(zone_of_areas(filters.areas)).date()
    after: UnservedKey | None = None
    while True:
        rows, _ = await deps.queries.unserved(filters, days, as_of, page, after)
        if rows:
            yield _unserved_villages(deps, rows)
        if len(rows) < page:
            return
        code, last = rows[-1]
        after = (code or "", last.last_contact, last.household_id)


async def unserved(
    deps: ReportingDeps, filters: Filters, default_limit: int | None = DEFAULT_LIMIT
) -> Unserved:
    """A page of the unserved households (`default_limit` None: all, for an export)."""
    days = filters.days or deps.unserved_days
    as_of = filters.as_of or datetime.now(zone_of_areas(filters.areas)).date()
    limit = filters.limit or default_limit
    rows, total = await deps.queries.unserved(
        filters, days, as_of, limit, _unserved_key(filters.after)
    )
    listed = _unserved_villages(deps, rows)
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
    raise _invalid("after", "not a cursor of this list")


async def double_funding(
    deps: ReportingDeps, filters: Filters, default_limit: int | None = DEFAULT_LIMIT
) -> DoubleFunding:
    """A page of the alerts (`default_limit` None: all of them, for an export)."""
    limit = filters.limit or default_limit
    alerts, total = await deps.queries.double_funding(filters, limit, _alert_key(filters.after))
    alerts = [
        a.model_copy(update={"village_name": _place_name(deps, a.village_code)}) for a in alerts
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


def _place_name(deps: ReportingDeps, code: str | None) -> str | None:
    area = deps.areas.get(code) if code else None
    return area.name if area else None


def _alert_key(after: Cursor | None) -> AlertKey | None:
    if after is None:
        return None
    match after:
        case (int(year), str(village), str(household), str(kind)):
            with contextlib.suppress(ValueError):
                return (year, village, uuid.UUID(household), kind)
    raise _invalid("after", "not a cursor of this list")


async def outcomes(deps: ReportingDeps, filters: Filters) -> Outcomes:
    enrolled, exits, income, moves = await deps.queries.outcomes(filters)
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


async def data_quality(deps: ReportingDeps) -> DataQuality:
    reasons, waiting = await deps.queries.data_quality()
    stored = await deps.store.stored_positions(deps.projector.group_id)
    live = {(t, p): (pos, hw) for t, p, pos, hw in await deps.projector.partition_positions()}
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
        intake_refusals=named_refusals(await deps.queries.intake_refusals(), deps.agencies),
        waiting_for_household=waiting,
        partitions=partitions,
        events_projected_since_start=deps.projector.projected_total,
    )


async def public_summary(deps: ReportingDeps, filters: Filters) -> PublicSummary:
    area = deps.areas.get(filters.areas[0] if filters.areas else "")
    assert area is not None  # parse_filters checked the code
    counts = await deps.queries.public_counts(filters)
    return PublicSummary(
        area=area.code,
        area_name=area.name,
        level=area.level,
        threshold=THRESHOLD,
        figures=public_figures(counts),
    )
