"""Taking an agency system's message: the same use cases as the HTTP API, plus idempotency by
event id, claimed in the same transaction as the record it creates."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gayari_interventions.domain.grants import GrantRequest
from gayari_interventions.domain.intake import (
    IntakeBusinessSurveyV1,
    IntakeGrantV1,
    IntakeMentoringVisitV1,
    IntakeMessage,
    IntakeRejectionRecord,
    IntakeVoidV1,
)
from gayari_interventions.domain.monitoring import BusinessSurveyRequest, MentoringVisitRequest
from gayari_interventions.domain.voids import VoidRequest
from gayari_interventions.service_layer.handlers import (
    BUSINESS_SURVEY,
    GRANT,
    MENTORING_VISIT,
    InterventionsDeps,
    record,
    void_intervention,
)
from gayari_interventions.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory


class DuplicateIntakeError(Exception):
    """This event id was taken before; nothing more to do."""


def _claiming(
    unit_of_work: UnitOfWorkFactory, event_id: uuid.UUID, agency: str, event_type: str
) -> UnitOfWorkFactory:
    @asynccontextmanager
    async def claimed() -> AsyncIterator[UnitOfWork]:
        async with unit_of_work() as uow:
            # Raised inside the transaction: it rolls back, and nothing is recorded twice.
            if not await uow.claim_intake(event_id, agency, event_type):
                raise DuplicateIntakeError(str(event_id))
            yield uow
            # Still in the transaction: the record is found, and voided, by the event's id.
            if uow.recorded is not None:
                await uow.link_intake(event_id, agency, *uow.recorded)

    return claimed


async def accept_intake(
    deps: InterventionsDeps,
    message: IntakeMessage,
    *,
    event_id: uuid.UUID,
    correlation_id: str,
) -> uuid.UUID:
    """Record the message as the agency's own intervention; returns the new record's id.

    Raises DuplicateIntakeError for an event id seen before, and the domain's errors
    (RuleViolationError, ForbiddenError, ...) for a message that breaks a rule."""
    # The claim and the record in one transaction: no statements outside it.
    once = dataclasses.replace(
        deps,
        unit_of_work=_claiming(deps.unit_of_work, event_id, message.agency, message.TYPE),
        statements=None,
    )
    fields = message.model_dump(exclude={"agency"})
    match message:
        case IntakeGrantV1():
            grant = GrantRequest.model_validate(fields)
            return (await record(once, GRANT, message.agency, grant, correlation_id)).id
        case IntakeMentoringVisitV1():
            visit = MentoringVisitRequest.model_validate(fields)
            return (await record(once, MENTORING_VISIT, message.agency, visit, correlation_id)).id
        case IntakeBusinessSurveyV1():
            survey = BusinessSurveyRequest.model_validate(fields)
            return (await record(once, BUSINESS_SURVEY, message.agency, survey, correlation_id)).id
        case IntakeVoidV1():
            void = VoidRequest.model_validate(
                message.model_dump(exclude={"agency", "household_id"})
            )
            # Voids the agency's own record of that household only: any other is not found,
            # so a message tells nothing of other agencies' records or other households'.
            return (
                await void_intervention(
                    once, message.agency, void, correlation_id, household_id=message.household_id
                )
            ).id


async def count_rejection(deps: InterventionsDeps, rejection: IntakeRejectionRecord) -> None:
    async with deps.unit_of_work() as uow:
        await uow.record_rejection(rejection)


async def rejection_counts(deps: InterventionsDeps) -> list[tuple[str, str, int]]:
    async with deps.unit_of_work() as uow:
        return await uow.rejection_counts()
