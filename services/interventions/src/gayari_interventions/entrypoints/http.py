"""HTTP API of the interventions service: each route hands the caller's agency and the body to
a handler; the domain's errors become problem details (see install_error_handlers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gayari_interventions.domain.budget import BudgetAllocation, BudgetAllocationRequest
from gayari_interventions.domain.grants import Grant, GrantRequest
from gayari_interventions.domain.households import (
    HouseholdBehindError,
    HouseholdNotCurrentError,
    HouseholdNotKnownYetError,
)
from gayari_interventions.domain.monitoring import (
    BusinessSurvey,
    BusinessSurveyRequest,
    MentoringVisit,
    MentoringVisitRequest,
)
from gayari_interventions.domain.rules import ConflictError, ForbiddenError, NotFoundError
from gayari_interventions.domain.training import (
    Attendance,
    AttendanceRequest,
    CompletionRequest,
    Participant,
    ParticipationRequest,
    TrainingCompletion,
    TrainingSession,
    TrainingSessionRequest,
)
from gayari_interventions.domain.voids import Void, VoidRequest
from gayari_interventions.entrypoints import examples
from gayari_interventions.service_layer import handlers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_shared.auth import Principal, Role
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.idempotency import IdempotentRoute, authorized_idempotent, json_answer
from gayari_shared.http.problems import (
    NOT_JSON,
    FieldError,
    Problem,
    ProblemError,
    problem_response,
)
from gayari_shared.idempotency import Answer, answer_written
from gayari_shared.rules import RuleViolationError

# The Problem schema for the problem+json body too, so that clients (and the fuzz tests'
# schema conformance) know its shape; `model` puts Problem into the components.
PROBLEM: dict[str, Any] = {
    "model": Problem,
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
CREATED: dict[str, Any] = {
    "status_code": status.HTTP_201_CREATED,
    "responses": {
        # A body that is no JSON object at all: nothing to name but where it breaks.
        400: {
            **PROBLEM,
            "description": f"{NOT_JSON}; or the Idempotency-Key is malformed",
        },
        401: {**PROBLEM, "description": "No API key, or an unknown, revoked or expired one"},
        403: PROBLEM,
        409: {
            **PROBLEM,
            "description": "Recorded already, or a request with this Idempotency-Key is still "
            "in flight (Retry-After)",
        },
        422: {
            **PROBLEM,
            "description": "Invalid input, or the Idempotency-Key was used for another request",
        },
    },
}
RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds after which the request may be sent again",
        "schema": {"type": "integer"},
    }
}
# The routes of records for a household: their answers when this service's view of the
# household is not (yet) current enough to decide (see domain.households.require_current).
FOR_A_HOUSEHOLD: dict[str, Any] = {
    **CREATED,
    "responses": {
        **CREATED["responses"],
        409: {
            **PROBLEM,
            "description": "Already recorded (urn:gayari:problem:conflict), or, with no "
            "Gayari-Household-Version, a household this service does not know yet, or knows "
            "as registered and not enrolled (urn:gayari:problem:household-not-known-yet, "
            "Retry-After): its registration or enrolment may still be on its way",
            "headers": RETRY_AFTER,
        },
        503: {
            **PROBLEM,
            "description": "This service has not reached the Gayari-Household-Version sent "
            "within its wait (urn:gayari:problem:household-not-current): retry after "
            "Retry-After",
            "headers": RETRY_AFTER,
        },
    },
}
HOUSEHOLD_VERSION = "Gayari-Household-Version"
# Every write honours the Idempotency-Key header (see gayari_shared.http.idempotency);
# IdempotentRoute is a DeclaredQueryRoute too.
router = APIRouter(tags=["interventions"], route_class=IdempotentRoute)


@dataclass(frozen=True, slots=True)
class Writing:
    """What a write needs beside its body: the wiring, the agency it is recorded for (always
    the caller's own) and the request's correlation id."""

    deps: InterventionsDeps
    agency: str
    correlation_id: str
    # The household's version at the registry that the client last saw (its ETag), if sent.
    household_version: int | None = None


Writer_ = Annotated[Principal, authorized_idempotent(Role.INTERVENTIONS_WRITE)]


async def writing(request: Request, principal: Writer_) -> Writing:
    # One dependency, not one per part: FastAPI solves each dependency on every request, and
    # its solving is a large part of a write's CPU when there are several.
    # Async on purpose: FastAPI runs a sync dependency in a worker thread, a thread hop on
    # every request, away from the request's context variables (the correlation id).
    return _writing(request, principal)


async def household_writing(
    request: Request,
    principal: Writer_,
    version: Annotated[
        str | None,
        Header(
            alias=HOUSEHOLD_VERSION,
            pattern=r'^(\d{1,15}|"\d{1,15}")$',
            description="The household's version as the registry last answered it (its "
            'ETag, e.g. "3", or the body\'s `version`, 3). The service waits briefly for its '
            "own view of the household to reach it, then decides on that state (an exit "
            "included); if it has not, 503 household-not-current with Retry-After. Without "
            "it, a household not known here as enrolled or exited gets a retryable 409.",
            examples=['"2"'],
        ),
    ] = None,
) -> Writing:
    """`writing` for a record naming a household, with the household's version if sent."""
    write = _writing(request, principal)
    if version is None:
        return write
    return Writing(write.deps, write.agency, write.correlation_id, int(version.strip('"')))


def _writing(request: Request, principal: Principal) -> Writing:
    if principal.agency is None:
        raise ProblemError(
            403,
            "Forbidden",
            f"key {principal.key_id} belongs to no agency; interventions are recorded by the "
            "agency that gives them",
            kind="urn:gayari:problem:forbidden",
        )
    deps: InterventionsDeps = request.app.state.deps
    # Every write answers 201 with what it wrote: with an Idempotency-Key, a record written in
    # one statement stores that answer with it.
    answer_written(_created)
    return Writing(deps, principal.agency, current_correlation_id())


def _created(written: BaseModel) -> Answer:
    return json_answer(status.HTTP_201_CREATED, written)


Writer = Annotated[Writing, Depends(writing)]
HouseholdWriter = Annotated[Writing, Depends(household_writing)]


@router.post("/grants", operation_id="recordGrant", **FOR_A_HOUSEHOLD)
async def post_grant(
    body: Annotated[GrantRequest, Body(openapi_examples=examples.GRANT)], write: HouseholdWriter
) -> Grant:
    """A capital-stimulus grant (amount) or an equipment / in-kind grant (items)."""
    return await handlers.record_grant(
        write.deps,
        write.agency,
        body,
        write.correlation_id,
        household_version=write.household_version,
    )


@router.post("/training-sessions", operation_id="recordTrainingSession", **CREATED)
async def post_training_session(
    body: Annotated[TrainingSessionRequest, Body(openapi_examples=examples.TRAINING_SESSION)],
    write: Writer,
) -> TrainingSession:
    return await handlers.record_training_session(
        write.deps, write.agency, body, write.correlation_id
    )


@router.post("/training-participants", operation_id="addTrainingParticipant", **FOR_A_HOUSEHOLD)
async def post_training_participant(
    body: Annotated[ParticipationRequest, Body(openapi_examples=examples.PARTICIPANT)],
    write: HouseholdWriter,
) -> Participant:
    """A member of an enrolled household joins one of the caller's sessions."""
    return await handlers.add_training_participant(
        write.deps,
        write.agency,
        body,
        write.correlation_id,
        household_version=write.household_version,
    )


@router.post("/training-attendance", operation_id="recordTrainingAttendance", **FOR_A_HOUSEHOLD)
async def post_training_attendance(
    body: Annotated[AttendanceRequest, Body(openapi_examples=examples.ATTENDANCE)],
    write: HouseholdWriter,
) -> Attendance:
    return await handlers.record_training_attendance(
        write.deps,
        write.agency,
        body,
        write.correlation_id,
        household_version=write.household_version,
    )


@router.post("/training-completions", operation_id="recordTrainingCompletion", **FOR_A_HOUSEHOLD)
async def post_training_completion(
    body: Annotated[CompletionRequest, Body(openapi_examples=examples.COMPLETION)],
    write: HouseholdWriter,
) -> TrainingCompletion:
    return await handlers.record_training_completion(
        write.deps,
        write.agency,
        body,
        write.correlation_id,
        household_version=write.household_version,
    )


@router.post("/mentoring-visits", operation_id="recordMentoringVisit", **FOR_A_HOUSEHOLD)
async def post_mentoring_visit(
    body: Annotated[MentoringVisitRequest, Body(openapi_examples=examples.MENTORING_VISIT)],
    write: HouseholdWriter,
) -> MentoringVisit:
    return await handlers.record_mentoring_visit(
        write.deps,
        write.agency,
        body,
        write.correlation_id,
        household_version=write.household_version,
    )


@router.post("/business-surveys", operation_id="recordBusinessSurvey", **FOR_A_HOUSEHOLD)
async def post_business_survey(
    body: Annotated[BusinessSurveyRequest, Body(openapi_examples=examples.BUSINESS_SURVEY)],
    write: HouseholdWriter,
) -> BusinessSurvey:
    return await handlers.record_business_survey(
        write.deps,
        write.agency,
        body,
        write.correlation_id,
        household_version=write.household_version,
    )


@router.post("/budget-allocations", operation_id="recordBudgetAllocation", **CREATED)
async def post_budget_allocation(
    body: Annotated[BudgetAllocationRequest, Body(openapi_examples=examples.BUDGET_ALLOCATION)],
    write: Writer,
) -> BudgetAllocation:
    """The caller's GAYARI budget for a fiscal year; allocations of one year add up."""
    return await handlers.record_budget_allocation(
        write.deps, write.agency, body, write.correlation_id
    )


@router.post(
    "/voids",
    operation_id="voidRecord",
    status_code=status.HTTP_201_CREATED,
    responses={404: PROBLEM, **CREATED["responses"]},
)
async def post_void(
    body: Annotated[VoidRequest, Body(openapi_examples=examples.VOID)], write: Writer
) -> Void:
    """Void one of the caller's own records, with a reason; nothing is deleted."""
    return await handlers.void_intervention(write.deps, write.agency, body, write.correlation_id)


def _problem(status_code: int, title: str, kind: str, exc: Exception) -> JSONResponse:
    return problem_response(
        Problem(type=f"urn:gayari:problem:{kind}", title=title, status=status_code, detail=str(exc))
    )


def install_error_handlers(app: FastAPI) -> None:
    """The domain's errors as problem details; the handlers raise them whoever calls."""

    @app.exception_handler(RuleViolationError)
    async def _rule(_: Request, exc: RuleViolationError) -> JSONResponse:
        return problem_response(
            Problem(
                type="urn:gayari:problem:rule-violation",
                title="The intervention breaks a rule",
                status=422,
                detail=str(exc),
                errors=[FieldError(field=exc.field, message=exc.message)],
            )
        )

    @app.exception_handler(HouseholdNotCurrentError)
    async def _not_current(_: Request, exc: HouseholdNotCurrentError) -> JSONResponse:
        # Not the request's fault, nor final: the registry's events have not reached this
        # service yet. A retry (or sending the household's version) settles it.
        behind = isinstance(exc, HouseholdBehindError)
        assert behind or isinstance(exc, HouseholdNotKnownYetError)
        return problem_response(
            Problem(
                type="urn:gayari:problem:"
                + ("household-not-current" if behind else "household-not-known-yet"),
                title="The household's latest state has not reached this service yet"
                if behind
                else "The household is not known here as enrolled yet",
                status=503 if behind else 409,
                detail=exc.message,
                errors=[FieldError(field="household_id", message=exc.message)],
            ),
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(ForbiddenError)
    async def _forbidden(_: Request, exc: ForbiddenError) -> JSONResponse:
        return _problem(403, "Forbidden", "forbidden", exc)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _problem(404, "Not found", "not-found", exc)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return _problem(409, "Already recorded", "conflict", exc)
