"""Corrections: a record is voided, with a reason, by the agency that made it. Nothing is
deleted or rewritten; the void is a record (and an event) of its own. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_interventions.domain.rules import (
    ConflictError,
    NotFoundError,
    Text200,
    require_owner,
)
from gayari_shared.events.interventions import InterventionType, InterventionVoidedV1, VoidReason
from gayari_shared.rules import RuleViolationError


class VoidRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    intervention_type: InterventionType
    intervention_id: uuid.UUID
    reason: VoidReason
    explanation: Text200 | None = Field(
        default=None, description="Required for reason `other`; kept here, never published"
    )


class VoidTarget(BaseModel):
    """The record to void, as stored."""

    model_config = ConfigDict(frozen=True)

    agency: str
    household_id: uuid.UUID | None
    voided: bool


class Void(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    intervention_type: InterventionType
    intervention_id: uuid.UUID
    household_id: uuid.UUID | None
    agency: str
    reason: VoidReason
    explanation: str | None
    voided_at: AwareDatetime


def void_record(
    request: VoidRequest,
    *,
    agency: str,
    target: VoidTarget | None,
    void_id: uuid.UUID,
    now: datetime,
) -> Void:
    what = f"{request.intervention_type} {request.intervention_id}"
    if request.reason == "other" and request.explanation is None:
        raise RuleViolationError("explanation", "say why, when the reason is `other`")
    if target is None:
        raise NotFoundError(f"there is no {what}")
    require_owner(target.agency, agency, what)
    if target.voided:
        raise ConflictError(f"{what} is already voided")
    return Void(
        id=void_id,
        household_id=target.household_id,
        agency=agency,
        voided_at=now,
        **request.model_dump(),
    )


def intervention_voided(void: Void) -> InterventionVoidedV1:
    return InterventionVoidedV1(
        intervention_id=void.intervention_id,
        intervention_type=void.intervention_type,
        household_id=void.household_id,
        agency=void.agency,
        reason=void.reason,
        voided_at=void.voided_at,
    )
