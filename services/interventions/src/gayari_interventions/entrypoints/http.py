"""HTTP API of the interventions service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from gayari_interventions.domain.model import (
    Grant,
    GrantRequest,
    TrainingCompletion,
    TrainingCompletionRequest,
)
from gayari_interventions.service_layer.handlers import (
    InterventionsDeps,
    record_grant,
    record_training_completion,
)
from gayari_shared.auth import Principal, Role, require
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.problems import FieldError, Problem, ProblemError
from gayari_shared.rules import RuleViolationError

PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
router = APIRouter(tags=["interventions"])


def _deps(request: Request) -> InterventionsDeps:
    deps: InterventionsDeps = request.app.state.deps
    return deps


async def acting_agency(
    principal: Annotated[Principal, Depends(require(Role.INTERVENTIONS_WRITE))],
) -> str:
    """The agency an intervention is recorded for: always the caller's own."""
    if principal.agency is None:
        raise ProblemError(
            403,
            "Forbidden",
            f"key {principal.key_id} belongs to no agency; interventions are recorded by the "
            "agency that gives them",
            kind="urn:gayari:problem:forbidden",
        )
    return principal.agency


ActingAgency = Annotated[str, Depends(acting_agency)]


def _rejected(exc: RuleViolationError) -> ProblemError:
    return ProblemError(
        422,
        "The intervention breaks a rule",
        str(exc),
        kind="urn:gayari:problem:rule-violation",
        errors=[FieldError(field=exc.field, message=exc.message)],
    )


@router.post("/grants", status_code=status.HTTP_201_CREATED, responses={422: PROBLEM})
async def post_grant(grant: GrantRequest, request: Request, agency: ActingAgency) -> Grant:
    try:
        return await record_grant(_deps(request), agency, grant, current_correlation_id())
    except RuleViolationError as exc:
        raise _rejected(exc) from exc


@router.post("/training-completions", status_code=status.HTTP_201_CREATED, responses={422: PROBLEM})
async def post_training_completion(
    completion: TrainingCompletionRequest, request: Request, agency: ActingAgency
) -> TrainingCompletion:
    try:
        return await record_training_completion(
            _deps(request), agency, completion, current_correlation_id()
        )
    except RuleViolationError as exc:
        raise _rejected(exc) from exc
