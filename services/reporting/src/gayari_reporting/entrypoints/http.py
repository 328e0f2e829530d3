"""HTTP API of reporting: the joint programme's read models.

Three routers, one per audience: readers (`reporting:read`) get every figure and export; the
case view of one household needs `reporting:case`; the public summary needs no key and shows
no count small enough to single out a family.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from gayari_reporting.adapters.generations import Generation, Generations
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.domain.projection import Progress, progress_report
from gayari_reporting.domain.readmodels import (
    Agencies,
    AreaReport,
    Case,
    Convergence,
    DataQuality,
    DoubleFunding,
    Outcomes,
    PublicSummary,
    Summary,
    TimeSeries,
    Unserved,
)
from gayari_reporting.entrypoints.exports import export_routes
from gayari_reporting.entrypoints.monthly_report import monthly_report_routes
from gayari_reporting.entrypoints.parameters import (
    AreaParameters,
    DoubleFundingParameters,
    OutcomeParameters,
    PublicParameters,
    UnservedParameters,
    ViewParameters,
)
from gayari_reporting.entrypoints.projector import Projector
from gayari_reporting.entrypoints.requests import deps_of, filters_of
from gayari_reporting.service_layer import reports
from gayari_shared.agencies import Agency
from gayari_shared.audit.http import AuditTrailDep
from gayari_shared.auth import Role, authorized
from gayari_shared.http.openapi import DeclaredQueryRoute
from gayari_shared.http.problems import PROBLEM_JSON, Problem, ProblemError

# Every error is a problem document; saying so in the OpenAPI lets clients (and the fuzz tests'
# schema checks) know its shape.
_PROBLEM: dict[str, Any] = {
    "model": Problem,
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {**_PROBLEM, "description": "No API key, or an unknown, revoked or expired one"},
    403: {**_PROBLEM, "description": "The key lacks the role"},
    404: {**_PROBLEM, "description": "Nothing known of it"},
    422: {**_PROBLEM, "description": "A parameter is unknown or its value is not valid"},
}
router = APIRouter(
    tags=["reporting"],
    dependencies=[authorized(Role.REPORTING_READ)],
    responses=_ERRORS,
    route_class=DeclaredQueryRoute,
)
case_router = APIRouter(
    tags=["reporting"],
    dependencies=[authorized(Role.REPORTING_CASE)],
    responses=_ERRORS,
    route_class=DeclaredQueryRoute,
)
public_router = APIRouter(
    tags=["public"], responses={422: _ERRORS[422]}, route_class=DeclaredQueryRoute
)

FILTERS_DOC = (
    " The area filters (area, district, village) keep the households lying in every area "
    "given. An unknown parameter, one given twice, or a value that names nothing (an agency "
    "not configured, an area Kemendagri does not have) is a 422 problem naming it."
)
# Documented values of the parameters, for those the document cannot spell as a type.
AREA_CODE = Path(description="A Kemendagri area code", examples=["62.09"])


class ProjectionStatus(BaseModel):
    consumer_group: str
    events_projected_since_start: int
    events_behind: int | None
    events_rejected: int


@router.get("/progress", operation_id="getProgress")
async def get_progress(request: Request) -> Progress:
    """Households registered, grants (count and IDR) and trainings completed, overall and per
    agency."""
    store: ReadModelStore = request.app.state.store
    agencies: tuple[Agency, ...] = request.app.state.agencies
    households, grants, trainings, as_of = await store.progress_figures()
    return progress_report(
        households=households,
        grants_by_agency=grants,
        trainings_by_agency=trainings,
        agencies=agencies,
        as_of=as_of,
    )


@router.get("/projection/status", operation_id="getProjectionStatus")
async def get_projection_status(request: Request) -> ProjectionStatus:
    """How far the projection is: events behind the head of the assigned partitions."""
    projector: Projector = request.app.state.projector
    store: ReadModelStore = request.app.state.store
    return ProjectionStatus(
        consumer_group=projector.group_id,
        events_projected_since_start=projector.projected_total,
        events_behind=await projector.events_behind(),
        events_rejected=await store.rejected_count(),
    )


class GenerationInfo(BaseModel):
    name: str
    kind: Literal["live", "as-of"]
    state: Literal["building", "active", "retired", "ready"]
    as_of: datetime | None
    events: int
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, g: Generation) -> GenerationInfo:
        return cls(
            name=g.schema,
            kind=g.kind,
            state=g.state,
            as_of=g.as_of,
            events=g.events,
            created_at=g.created_at,
            finished_at=g.finished_at,
        )


@router.get(
    "/generations",
    operation_id="listGenerations",
    description="The read models' generations: the active one, any being rebuilt by a replay, "
    "and the finished as-of reports, whose name every view takes as `snapshot`.",
)
async def get_generations(request: Request) -> list[GenerationInfo]:
    filters_of(request, ())
    generations: Generations = request.app.state.generations
    return [GenerationInfo.of(g) for g in await generations.all()]


@router.get(
    "/summary", operation_id="getSummary", description="The programme in figures." + FILTERS_DOC
)
async def get_summary(request: Request, parameters: Annotated[ViewParameters, Query()]) -> Summary:
    deps = deps_of(request)
    return await reports.summary(deps, filters_of(request, parameters.names()))


@router.get(
    "/agencies",
    operation_id="getAgencies",
    description="Per agency: households reached, grants, IDR, trainings, visits and budget "
    "realisation (IDR disbursed against the allocations of the same fiscal years)." + FILTERS_DOC,
)
async def get_agencies(
    request: Request, parameters: Annotated[ViewParameters, Query()]
) -> Agencies:
    deps = deps_of(request)
    return await reports.agencies(deps, filters_of(request, parameters.names()))


@router.get("/areas", operation_id="getCountry", description="The whole country and its provinces.")
async def get_country(
    request: Request, parameters: Annotated[AreaParameters, Query()]
) -> AreaReport:
    deps = deps_of(request)
    filters = filters_of(request, parameters.names())
    return await reports.area_report(deps, reports.area_named(deps, "", "path", "code"), filters)


@router.get(
    "/areas/{code}",
    operation_id="getArea",
    description="An area's figures and its children's (a regency's districts, a district's "
    "villages), rolled up along the Kemendagri hierarchy.",
)
async def get_area(
    request: Request,
    code: Annotated[str, AREA_CODE],
    parameters: Annotated[AreaParameters, Query()],
) -> AreaReport:
    deps = deps_of(request)
    area = reports.area_named(deps, code, "path", "code")
    return await reports.area_report(deps, area, filters_of(request, parameters.names()))


@router.get(
    "/timeseries",
    operation_id="getTimeSeries",
    description="The figures month by month." + FILTERS_DOC,
)
async def get_time_series(
    request: Request, parameters: Annotated[ViewParameters, Query()]
) -> TimeSeries:
    deps = deps_of(request)
    return await reports.time_series(deps, filters_of(request, parameters.names()))


@router.get(
    "/convergence",
    operation_id="getConvergence",
    description="Households by the number of agencies that reached them, and the share of "
    "enrolled households reached by two or more (the collaboration indicator). With agency: "
    "the households that agency reached." + FILTERS_DOC,
)
async def get_convergence(
    request: Request, parameters: Annotated[ViewParameters, Query()]
) -> Convergence:
    deps = deps_of(request)
    return await reports.convergence_report(deps, filters_of(request, parameters.names()))


@router.get(
    "/unserved",
    operation_id="listUnserved",
    description="Enrolled households that have not exited and whose latest intervention (or "
    "enrolment, if none) is more than `days` days before `as_of` (default: today in the zone "
    "of the area asked, WIB without one; a household's days are in its province's zone), "
    "by village, a page at a time (`households` counts every page; pass `next` as `after` for "
    "the next one)." + FILTERS_DOC,
)
async def get_unserved(
    request: Request, parameters: Annotated[UnservedParameters, Query()], trail: AuditTrailDep
) -> Unserved:
    deps = deps_of(request)
    found = await reports.unserved(deps, filters_of(request, parameters.names()))
    listed = (h.household_id for village in found.villages for h in village.households)
    await trail.read("read:unserved", listed)
    return found


@router.get(
    "/double-funding",
    operation_id="listDoubleFunding",
    description="Alerts: a household given grants of the same kind by two or more agencies in "
    "one fiscal year, a page at a time (`total` counts every page; pass `next` as `after` for "
    "the next one)." + FILTERS_DOC,
)
async def get_double_funding(
    request: Request,
    parameters: Annotated[DoubleFundingParameters, Query()],
    trail: AuditTrailDep,
) -> DoubleFunding:
    deps = deps_of(request)
    found = await reports.double_funding(deps, filters_of(request, parameters.names()))
    await trail.read("read:double-funding", (a.household_id for a in found.alerts))
    return found


@router.get(
    "/outcomes",
    operation_id="getOutcomes",
    description="Graduation rate, business income between each household's first and latest "
    "survey, and welfare decile movement." + FILTERS_DOC,
)
async def get_outcomes(
    request: Request, parameters: Annotated[OutcomeParameters, Query()]
) -> Outcomes:
    deps = deps_of(request)
    return await reports.outcomes(deps, filters_of(request, parameters.names()))


@router.get(
    "/data-quality",
    operation_id="getDataQuality",
    description="Events rejected by reason, the agencies' intake records refused (dead-lettered) "
    "by agency and reason, records waiting for a household the registry has not announced yet, "
    "and the projection's lag per partition.",
)
async def get_data_quality(request: Request) -> DataQuality:
    filters_of(request, ())
    return await reports.data_quality(deps_of(request))


export_routes(router)
monthly_report_routes(router)


@case_router.get(
    "/households/{household_id}/case",
    operation_id="getCase",
    description="Every agency's interventions on one household, in time order (voided records "
    "left out). Needs the reporting:case role.",
)
async def get_case(request: Request, household_id: uuid.UUID, trail: AuditTrailDep) -> Case:
    filters_of(request, ())
    found = await reports.case(deps_of(request), household_id)
    if found is None:
        raise ProblemError(
            404,
            "Not found",
            f"reporting knows nothing of household {household_id}",
            kind="urn:gayari:problem:not-found",
        )
    await trail.read("read:case", [household_id])
    return found


@public_router.get(
    "/public/summary",
    operation_id="getPublicSummary",
    description="Public figures of an area (any Kemendagri code; the whole country without "
    "one), without an API key. Any figure resting on fewer than 5 households is null with "
    "`suppressed: true`.",
)
async def get_public_summary(
    request: Request, parameters: Annotated[PublicParameters, Query()]
) -> PublicSummary:
    deps = deps_of(request)
    return await reports.public_summary(deps, filters_of(request, parameters.names()))
