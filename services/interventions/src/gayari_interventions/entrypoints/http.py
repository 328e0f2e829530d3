"""HTTP API of the interventions service."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

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
from gayari_shared.http.correlation import current_correlation_id
from gayari_shared.http.problems import FieldError, Problem, ProblemError
from gayari_shared.rules import RuleViolationError

PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
router = APIRouter(tags=["interventions"])


def _deps(request: Request) -> InterventionsDeps:
    deps: InterventionsDeps = request.app.state.deps
    return deps


def _rejected(exc: RuleViolationError) -> ProblemError:
    return ProblemError(
        422,
        "The intervention breaks a rule",
        str(exc),
        kind="urn:gayari:problem:rule-violation",
        errors=[FieldError(field=exc.field, message=exc.message)],
    )


@router.post("/grants", status_code=status.HTTP_201_CREATED, responses={422: PROBLEM})
async def post_grant(grant: GrantRequest, request: Request) -> Grant:
    try:
        return await record_grant(_deps(request), grant, current_correlation_id())
    except RuleViolationError as exc:
        raise _rejected(exc) from exc


@router.post("/training-completions", status_code=status.HTTP_201_CREATED, responses={422: PROBLEM})
async def post_training_completion(
    completion: TrainingCompletionRequest, request: Request
) -> TrainingCompletion:
    try:
        return await record_training_completion(
            _deps(request), completion, current_correlation_id()
        )
    except RuleViolationError as exc:
        raise _rejected(exc) from exc
