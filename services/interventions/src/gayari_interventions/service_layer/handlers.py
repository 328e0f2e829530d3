"""Use cases of the interventions service.

Each handler takes the acting agency (the authenticated caller's, never the request's) and a
request model, runs in one transaction and publishes one event through the outbox. They raise
the domain's errors and know nothing of HTTP, so an HTTP route and a Kafka intake consumer can
share them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from gayari_interventions.adapters.postgres import InterventionsUnitOfWork, Recordable
from gayari_interventions.domain.budget import (
    BudgetAllocation,
    BudgetAllocationRequest,
    allocate_budget,
    budget_allocated,
)
from gayari_interventions.domain.grants import Grant, GrantRequest, grant_issued, issue_grant
from gayari_interventions.domain.households import (
    HouseholdEvent,
    KnownHousehold,
    fold_household_events,
)
from gayari_interventions.domain.monitoring import (
    BusinessSurvey,
    BusinessSurveyRequest,
    MentoringVisit,
    MentoringVisitRequest,
    business_surveyed,
    mentoring_visited,
    record_survey,
    record_visit,
)
from gayari_interventions.domain.records import ListedKind, RecordFilter, StoredRecord, paged
from gayari_interventions.domain.rules import NotFoundError
from gayari_interventions.domain.training import (
    Attendance,
    AttendanceRequest,
    CompletionRequest,
    Participant,
    ParticipationRequest,
    TrainingCompletion,
    TrainingSession,
    TrainingSessionRequest,
    add_participant,
    attended,
    complete_training,
    participant_added,
    record_attendance,
    record_session,
    session_recorded,
    training_completed,
)
from gayari_interventions.domain.voids import Void, VoidRequest, intervention_voided, void_record
from gayari_shared.events.base import EventBase
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[InterventionsUnitOfWork]]
# Waits until this service knows the household at the version or later (or gives up): True
# when it does. See adapters.household_watch.
HouseholdWait = Callable[[uuid.UUID, int], Awaitable[bool]]


async def _no_wait(household_id: uuid.UUID, version: int) -> bool:
    return False  # decided on what is there: require_current tells whether it is behind


@dataclass(frozen=True, slots=True)
class InterventionsDeps:
    unit_of_work: UnitOfWorkFactory
    agencies: frozenset[str]
    # Statements outside a transaction, each atomic by itself (see _record): a use case whose
    # write is one statement then needs no BEGIN, no COMMIT and no lock held between round
    # trips. None: every use case runs in one unit_of_work transaction, as it must when a
    # wrapper of unit_of_work writes in that transaction too (intake's claim of an event id).
    statements: UnitOfWorkFactory | None = None
    # For a request naming the household's version: wait, outside any transaction, for the
    # registry's events up to it to be applied here (bounded by the wait's own timeout).
    await_household: HouseholdWait = _no_wait


R = TypeVar("R", bound=Recordable)


def agency_source(agency: str) -> str:
    """CloudEvents source of an intervention: the agency that gave it."""
    return f"/gayari/agencies/{agency}"


async def _publish(
    uow: InterventionsUnitOfWork, event: EventBase, agency: str, correlation_id: str
) -> None:
    await uow.publish(_envelope(event, agency, correlation_id), event.STREAM)


def _envelope(event: EventBase, agency: str, correlation_id: str) -> Envelope:
    return envelope_for(event, source=agency_source(agency), correlation_id=correlation_id)


def _now() -> datetime:
    return datetime.now(UTC)


async def _catch_up(deps: InterventionsDeps, household_id: uuid.UUID, version: int | None) -> None:
    """Before a record for a household whose version the client named: wait for it here."""
    if version is not None:
        await deps.await_household(household_id, version)


async def _record(
    deps: InterventionsDeps,
    household_id: uuid.UUID | None,
    decide: Callable[[KnownHousehold | None], R],
    event_of: Callable[[R], EventBase],
    *,
    agency: str,
    correlation_id: str,
    household_version: int | None = None,
) -> R:
    """Decide a record (for `household_id`, or for the agency alone when None) and write it
    with its event in one statement; for a household whose version the client named, after
    waiting for this service's view of it to reach that version (`decide` is told the version
    too: see domain.households.require_current).

    With `deps.statements`, optimistically, outside a transaction: the household is read
    without a lock, and the statement writes only if its row is still the version decided on,
    taking it FOR SHARE for that statement as the transaction would (two round trips for a
    household's record, one for an agency's, against five). A household changed meanwhile (an
    exit just applied, say) is decided again the locked way: in one transaction, the household
    read FOR SHARE, so an exit arriving meanwhile waits for the record."""
    if household_id is not None:
        await _catch_up(deps, household_id, household_version)
    if deps.statements is not None:
        async with deps.statements() as uow:
            if household_id is None:
                record = decide(None)
                event = event_of(record)
                await uow.record(record, _envelope(event, agency, correlation_id), event.STREAM)
                return record
            seen = await uow.versioned_household(household_id)
            if seen is not None:
                household, version = seen
                record = decide(household)
                event = event_of(record)
                if await uow.record(
                    record,
                    _envelope(event, agency, correlation_id),
                    event.STREAM,
                    household_version=version,
                ):
                    return record
    async with deps.unit_of_work() as uow:
        known = None if household_id is None else await uow.known_household(household_id)
        record = decide(known)
        event = event_of(record)
        await uow.record(record, _envelope(event, agency, correlation_id), event.STREAM)
    return record


async def record_grant(
    deps: InterventionsDeps,
    agency: str,
    request: GrantRequest,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> Grant:
    def decide(household: KnownHousehold | None) -> Grant:
        return issue_grant(
            request,
            agency=agency,
            agencies=deps.agencies,
            household=household,
            grant_id=uuid.uuid4(),
            now=_now(),
            household_version=household_version,
        )

    return await _record(
        deps,
        request.household_id,
        decide,
        grant_issued,
        agency=agency,
        correlation_id=correlation_id,
        household_version=household_version,
    )


async def record_training_session(
    deps: InterventionsDeps, agency: str, request: TrainingSessionRequest, correlation_id: str
) -> TrainingSession:
    def decide(_: KnownHousehold | None) -> TrainingSession:
        return record_session(
            request, agency=agency, agencies=deps.agencies, session_id=uuid.uuid4(), now=_now()
        )

    return await _record(
        deps, None, decide, session_recorded, agency=agency, correlation_id=correlation_id
    )


async def add_training_participant(
    deps: InterventionsDeps,
    agency: str,
    request: ParticipationRequest,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> Participant:
    await _catch_up(deps, request.household_id, household_version)
    async with deps.unit_of_work() as uow:
        participant = add_participant(
            request,
            agency=agency,
            agencies=deps.agencies,
            session=await uow.live_session(request.session_id),
            household=await uow.known_household(request.household_id),
            already=await uow.live_participant(
                request.session_id, request.household_id, request.member_id
            ),
            participant_id=uuid.uuid4(),
            now=_now(),
            household_version=household_version,
        )
        # The participant and its event in one statement, in this transaction.
        event = participant_added(participant)
        await uow.record(participant, _envelope(event, agency, correlation_id), event.STREAM)
    return participant


async def record_training_attendance(
    deps: InterventionsDeps,
    agency: str,
    request: AttendanceRequest,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> Attendance:
    await _catch_up(deps, request.household_id, household_version)
    async with deps.unit_of_work() as uow:
        # The session's lock before the participant's, as add_training_participant takes them.
        session = await uow.live_session(request.session_id)
        household = await uow.known_household(request.household_id)
        participant = await uow.live_participant(
            request.session_id, request.household_id, request.member_id
        )
        attendance = record_attendance(
            request,
            agency=agency,
            agencies=deps.agencies,
            session=session,
            household=household,
            participant=participant,
            attended_already=await uow.attended(participant, request.attended_on),
            attendance_id=uuid.uuid4(),
            now=_now(),
            household_version=household_version,
        )
        await uow.add_attendance(attendance)
        await _publish(uow, attended(attendance), agency, correlation_id)
    return attendance


async def record_training_completion(
    deps: InterventionsDeps,
    agency: str,
    request: CompletionRequest,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> TrainingCompletion:
    await _catch_up(deps, request.household_id, household_version)
    async with deps.unit_of_work() as uow:
        # The session's lock before the participant's, as add_training_participant takes them.
        session = await uow.live_session(request.session_id)
        household = await uow.known_household(request.household_id)
        participant = await uow.live_participant(
            request.session_id, request.household_id, request.member_id
        )
        completion = complete_training(
            request,
            agency=agency,
            agencies=deps.agencies,
            session=session,
            household=household,
            participant=participant,
            completed_already=await uow.completed(participant),
            completion_id=uuid.uuid4(),
            now=_now(),
            household_version=household_version,
        )
        await uow.add_training_completion(completion)
        await _publish(uow, training_completed(completion), agency, correlation_id)
    return completion


async def record_mentoring_visit(
    deps: InterventionsDeps,
    agency: str,
    request: MentoringVisitRequest,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> MentoringVisit:
    def decide(household: KnownHousehold | None) -> MentoringVisit:
        return record_visit(
            request,
            agency=agency,
            agencies=deps.agencies,
            household=household,
            visit_id=uuid.uuid4(),
            now=_now(),
            household_version=household_version,
        )

    return await _record(
        deps,
        request.household_id,
        decide,
        mentoring_visited,
        agency=agency,
        correlation_id=correlation_id,
        household_version=household_version,
    )


async def record_business_survey(
    deps: InterventionsDeps,
    agency: str,
    request: BusinessSurveyRequest,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> BusinessSurvey:
    def decide(household: KnownHousehold | None) -> BusinessSurvey:
        return record_survey(
            request,
            agency=agency,
            agencies=deps.agencies,
            household=household,
            survey_id=uuid.uuid4(),
            now=_now(),
            household_version=household_version,
        )

    return await _record(
        deps,
        request.household_id,
        decide,
        business_surveyed,
        agency=agency,
        correlation_id=correlation_id,
        household_version=household_version,
    )


async def record_budget_allocation(
    deps: InterventionsDeps, agency: str, request: BudgetAllocationRequest, correlation_id: str
) -> BudgetAllocation:
    def decide(_: KnownHousehold | None) -> BudgetAllocation:
        return allocate_budget(
            request, agency=agency, agencies=deps.agencies, allocation_id=uuid.uuid4(), now=_now()
        )

    return await _record(
        deps, None, decide, budget_allocated, agency=agency, correlation_id=correlation_id
    )


async def void_intervention(
    deps: InterventionsDeps,
    agency: str,
    request: VoidRequest,
    correlation_id: str,
    *,
    household_id: uuid.UUID | None = None,
) -> Void:
    """With `household_id` (an intake message names it), a record of another household is
    not found."""
    async with deps.unit_of_work() as uow:
        if request.external_id is not None:
            # Only the caller's own intake ids: another agency's is as unknown as no record.
            target = await uow.void_target_by_external_id(
                request.intervention_type, agency, request.external_id
            )
        else:
            assert request.intervention_id is not None  # VoidRequest takes one of the two
            target = await uow.void_target(request.intervention_type, request.intervention_id)
        if household_id is not None and target is not None and target.household_id != household_id:
            target = None
        void = void_record(request, agency=agency, target=target, void_id=uuid.uuid4(), now=_now())
        await uow.add_void(void)
        await _publish(uow, intervention_voided(void), agency, correlation_id)
    return void


async def list_records(
    deps: InterventionsDeps, kind: ListedKind, query: RecordFilter
) -> tuple[list[StoredRecord], str | None]:
    """A page of records of `kind` (the agency's own, or everyone's for `agency` None) and the
    cursor of the next page, if any."""
    async with (deps.statements or deps.unit_of_work)() as uow:
        return paged(await uow.records(kind, query), query.limit)


async def get_record(
    deps: InterventionsDeps, kind: ListedKind, record_id: uuid.UUID, agency: str | None
) -> StoredRecord:
    """One record; another agency's is not found (its id tells the caller nothing)."""
    async with (deps.statements or deps.unit_of_work)() as uow:
        found = await uow.records(kind, RecordFilter(agency=agency, limit=1), record_id)
    if not found:
        raise NotFoundError(f"there is no {kind} {record_id}")
    return found[0]


async def learn_households(
    deps: InterventionsDeps, events: Sequence[tuple[HouseholdEvent, uuid.UUID]]
) -> int:
    """A batch of the registry's household events (with their event ids, in the order
    consumed) in one transaction. Idempotent and order-independent (see domain.households).
    How many households changed."""
    folded = fold_household_events(events)
    async with deps.unit_of_work() as uow:
        return await uow.learn_households(folded)
