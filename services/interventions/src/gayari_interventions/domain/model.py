"""Interventions the agencies give to households. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from gayari_shared.events.contracts import GrantIssuedV1, TrainingCompletedV1
from gayari_shared.rules import RuleViolationError

AgencyCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,31}$")]
# A single grant above one billion rupiah is a typing error, not a micro-business grant.
MAX_GRANT_IDR = 1_000_000_000


class GrantRequest(BaseModel):
    """A grant as an agency submits it; the agency is the authenticated caller, never the body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    household_id: uuid.UUID
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0, le=MAX_GRANT_IDR, description="Amount in rupiah")


class TrainingCompletionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    household_id: uuid.UUID
    topic: str = Field(min_length=1, max_length=200)
    hours: int = Field(gt=0, le=1000)
    completed_on: date


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    kind: Literal["capital", "equipment"]
    amount_idr: int
    issued_at: AwareDatetime


class TrainingCompletion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    topic: str
    hours: int
    completed_on: date
    recorded_at: AwareDatetime


def _check_eligible(agency: str, agencies: Collection[str], household_known: bool) -> None:
    if agency not in agencies:
        raise RuleViolationError("agency", f"unknown agency {agency!r}")
    if not household_known:
        raise RuleViolationError("household_id", "unknown household: not registered")


def issue_grant(
    request: GrantRequest,
    *,
    agency: str,
    agencies: Collection[str],
    household_known: bool,
    grant_id: uuid.UUID,
    now: datetime,
) -> Grant:
    _check_eligible(agency, agencies, household_known)
    return Grant(id=grant_id, agency=agency, issued_at=now, **request.model_dump())


def complete_training(
    request: TrainingCompletionRequest,
    *,
    agency: str,
    agencies: Collection[str],
    household_known: bool,
    completion_id: uuid.UUID,
    now: datetime,
) -> TrainingCompletion:
    _check_eligible(agency, agencies, household_known)
    if request.completed_on > now.date():
        raise RuleViolationError("completed_on", "a training cannot be completed in the future")
    return TrainingCompletion(
        id=completion_id, agency=agency, recorded_at=now, **request.model_dump()
    )


def grant_issued(grant: Grant) -> GrantIssuedV1:
    return GrantIssuedV1(
        household_id=grant.household_id,
        grant_id=grant.id,
        agency=grant.agency,
        kind=grant.kind,
        amount_idr=grant.amount_idr,
        issued_at=grant.issued_at,
    )


def training_completed(completion: TrainingCompletion) -> TrainingCompletedV1:
    return TrainingCompletedV1(
        household_id=completion.household_id,
        completion_id=completion.id,
        agency=completion.agency,
        topic=completion.topic,
        hours=completion.hours,
        completed_on=completion.completed_on,
        recorded_at=completion.recorded_at,
    )
