"""Corrections: a record is voided, with a reason, by the agency that made it. Nothing is
deleted or rewritten; the void is a record (and an event) of its own. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from gayari_interventions.domain.rules import (
    ConflictError,
    NotFoundError,
    Text200,
    require_owner,
)
from gayari_shared.events.interventions import InterventionType, InterventionVoidedV1, VoidReason
from gayari_shared.rules import RuleViolationError


class VoidRequest(BaseModel):
    """Which record, by the id the platform gave it or by the CloudEvents id the agency's own
    system sent it with on its intake topic (exactly one of the two)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intervention_type: InterventionType
    intervention_id: uuid.UUID | None = Field(default=None, description="The record's id")
    external_id: uuid.UUID | None = Field(
        default=None,
        description="The `ce_id` of the intake message that made the record (the caller's own)",
    )
    reason: VoidReason
    explanation: Text200 | None = Field(
        default=None, description="Required for reason `other`; kept here, never published"
    )

    @model_validator(mode="after")
    def _one_id(self) -> VoidRequest:
        if (self.intervention_id is None) == (self.external_id is None):
            raise ValueError("give either intervention_id or external_id, not both")
        return self

    @property
    def what(self) -> str:
        if self.external_id is not None:
            return f"{self.intervention_type} with external id {self.external_id}"
        return f"{self.intervention_type} {self.intervention_id}"


class VoidTarget(BaseModel):
    """The record to void, as stored."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
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
    what = request.what
    if request.reason == "other" and request.explanation is None:
        raise RuleViolationError("explanation", "say why, when the reason is `other`")
    if target is None:
        raise NotFoundError(f"there is no {what}")
    require_owner(target.agency, agency, what)
    if target.voided:
        raise ConflictError(f"{what} is already voided")
    return Void(
        id=void_id,
        intervention_type=request.intervention_type,
        intervention_id=target.id,
        household_id=target.household_id,
        agency=agency,
        reason=request.reason,
        explanation=request.explanation,
        voided_at=now,
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
