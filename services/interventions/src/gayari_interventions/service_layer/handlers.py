"""Use cases of the interventions service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from gayari_interventions.adapters.postgres import InterventionsUnitOfWork
from gayari_interventions.domain.model import (
    Grant,
    GrantRequest,
    TrainingCompletion,
    TrainingCompletionRequest,
    complete_training,
    grant_issued,
    issue_grant,
    training_completed,
)
from gayari_shared.events.contracts import HouseholdRegisteredV1
from gayari_shared.events.factory import envelope_for

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[InterventionsUnitOfWork]]


@dataclass(frozen=True, slots=True)
class InterventionsDeps:
    unit_of_work: UnitOfWorkFactory
    agencies: frozenset[str]


def agency_source(agency: str) -> str:
    """CloudEvents source of an intervention: the agency that gave it."""
    return f"/gayari/agencies/{agency}"


async def record_grant(
    deps: InterventionsDeps, agency: str, request: GrantRequest, correlation_id: str
) -> Grant:
    async with deps.unit_of_work() as uow:
        grant = issue_grant(
            request,
            agency=agency,
            agencies=deps.agencies,
            household_known=await uow.household_known(request.household_id),
            grant_id=uuid.uuid4(),
            now=datetime.now(UTC),
        )
        await uow.add_grant(grant)
        event = grant_issued(grant)
        envelope = envelope_for(
            event, source=agency_source(grant.agency), correlation_id=correlation_id
        )
        await uow.publish(envelope, event.STREAM)
    return grant


async def record_training_completion(
    deps: InterventionsDeps, agency: str, request: TrainingCompletionRequest, correlation_id: str
) -> TrainingCompletion:
    async with deps.unit_of_work() as uow:
        completion = complete_training(
            request,
            agency=agency,
            agencies=deps.agencies,
            household_known=await uow.household_known(request.household_id),
            completion_id=uuid.uuid4(),
            now=datetime.now(UTC),
        )
        await uow.add_training_completion(completion)
        event = training_completed(completion)
        envelope = envelope_for(
            event, source=agency_source(completion.agency), correlation_id=correlation_id
        )
        await uow.publish(envelope, event.STREAM)
    return completion


async def learn_household(
    deps: InterventionsDeps, event: HouseholdRegisteredV1, event_id: uuid.UUID
) -> bool:
    async with deps.unit_of_work() as uow:
        return await uow.remember_household(event, event_id)
