"""Use cases of the interventions service.

Each handler takes the acting agency (the authenticated caller's, never the request's) and a
request model, runs in one unit of work and publishes one event through the outbox. They raise
the domain's errors and know nothing of HTTP or of PostgreSQL (service_layer.unit_of_work), so
an HTTP route and a Kafka intake consumer can share them, and unit tests run them in memory.

The records made in one write (a grant, a session, a visit, a survey, a budget allocation) take
one path, `record`, driven by a table of their kinds; those that hang on other records
(participants, attendance, completions, voids) read those first, in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Generic, Protocol, TypeVar

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
from gayari_interventions.domain.records import (
    ListedKind,
    Recordable,
    RecordFilter,
    StoredRecord,
    paged,
)
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
from gayari_interventions.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from gayari_shared.events.base import EventBase
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for

# Waits until this service knows the household at the version or later (or gives up): True
# when it does. See adapters.household_watch.
HouseholdWait = Callable[[uuid.UUID, int], Awaitable[bool]]


async def _no_wait(household_id: uuid.UUID, version: int) -> bool:
    return False  # decided on what is there: require_current tells whether it is behind


@dataclass(frozen=True, slots=True)
class InterventionsDeps:
    unit_of_work: UnitOfWorkFactory
    agencies: frozenset[str]
    # Statements outside a transaction, each atomic by itself (see record_decided): a record
    # written in one statement then needs no BEGIN, no COMMIT and no lock held between round
    # trips. None: every use case runs in one unit_of_work transaction, as it must when a
    # wrapper of unit_of_work writes in that transaction too (intake's claim of an event id).
    statements: UnitOfWorkFactory | None = None
    # For a request naming the household's version: wait, outside any transaction, for the
    # registry's events up to it to be applied here (bounded by the wait's own timeout).
    await_household: HouseholdWait = _no_wait


Q = TypeVar("Q")
Q_contra = TypeVar("Q_contra", contravariant=True)
R = TypeVar("R", bound=Recordable)
R_co = TypeVar("R_co", bound=Recordable, covariant=True)


def agency_source(agency: str) -> str:
    """CloudEvents source of an intervention: the agency that gave it."""
    return f"/gayari/agencies/{agency}"


async def _publish(uow: UnitOfWork, event: EventBase, agency: str, correlation_id: str) -> None:
    await uow.publish(_envelope(event, agency, correlation_id), event.STREAM)


def _envelope(event: EventBase, agency: str, correlation_id: str) -> Envelope:
    return envelope_for(event, source=agency_source(agency), correlation_id=correlation_id)


def _now() -> datetime:
    return datetime.now(UTC)


async def _catch_up(deps: InterventionsDeps, household_id: uuid.UUID, version: int | None) -> None:
    """Before a record for a household whose version the client named: wait for it here."""
    if version is not None:
        await deps.await_household(household_id, version)


# -- records made in one write: one path, a table of kinds ----------------------------------


@dataclass(frozen=True, slots=True)
class Decision(Generic[Q]):
    """What a kind's rule decides on: the request, who asks, the household as found here (None
    for a record of the agency alone), and the new record's id and time."""

    request: Q
    agency: str
    agencies: frozenset[str]
    household: KnownHousehold | None
    record_id: uuid.UUID
    now: datetime
    household_version: int | None


@dataclass(frozen=True)  # no slots: RecordKind[Q, R](...) sets __orig_class__
class RecordKind(Generic[Q, R]):
    """A kind of record written with its event in one write: whose household it is for (None:
    the agency's own), the domain's rule that decides it, the event it causes."""

    household: Callable[[Q], uuid.UUID | None]
    decide: Callable[[Decision[Q]], R]
    event: Callable[[R], EventBase]


def _for_agency(_: object) -> None:
    return None


GRANT: Final = RecordKind[GrantRequest, Grant](
    household=lambda request: request.household_id,
    decide=lambda d: issue_grant(
        d.request,
        agency=d.agency,
        agencies=d.agencies,
        household=d.household,
        grant_id=d.record_id,
        now=d.now,
        household_version=d.household_version,
    ),
    event=grant_issued,
)
TRAINING_SESSION: Final = RecordKind[TrainingSessionRequest, TrainingSession](
    household=_for_agency,
    decide=lambda d: record_session(
        d.request, agency=d.agency, agencies=d.agencies, session_id=d.record_id, now=d.now
    ),
    event=session_recorded,
)
MENTORING_VISIT: Final = RecordKind[MentoringVisitRequest, MentoringVisit](
    household=lambda request: request.household_id,
    decide=lambda d: record_visit(
        d.request,
        agency=d.agency,
        agencies=d.agencies,
        household=d.household,
        visit_id=d.record_id,
        now=d.now,
        household_version=d.household_version,
    ),
    event=mentoring_visited,
)
BUSINESS_SURVEY: Final = RecordKind[BusinessSurveyRequest, BusinessSurvey](
    household=lambda request: request.household_id,
    decide=lambda d: record_survey(
        d.request,
        agency=d.agency,
        agencies=d.agencies,
        household=d.household,
        survey_id=d.record_id,
        now=d.now,
        household_version=d.household_version,
    ),
    event=business_surveyed,
)
BUDGET_ALLOCATION: Final = RecordKind[BudgetAllocationRequest, BudgetAllocation](
    household=_for_agency,
    decide=lambda d: allocate_budget(
        d.request, agency=d.agency, agencies=d.agencies, allocation_id=d.record_id, now=d.now
    ),
    event=budget_allocated,
)


async def record(
    deps: InterventionsDeps,
    kind: RecordKind[Q, R],
    agency: str,
    request: Q,
    correlation_id: str,
    *,
    household_version: int | None = None,
) -> R:
    """Decide a record of `kind` and write it with its event in one write; for a household
    whose version the client named, after waiting for this service's view of it to reach that
    version (the rule is told the version too: see domain.households.require_current). How the
    household is kept unchanged between the decision and the write is the unit of work's
    (record_decided)."""
    household_id = kind.household(request)
    if household_id is not None:
        await _catch_up(deps, household_id, household_version)

    def decide(household: KnownHousehold | None) -> tuple[R, Envelope, str]:
        decided = kind.decide(
            Decision(
                request,
                agency,
                deps.agencies,
                household,
                uuid.uuid4(),
                _now(),
                household_version,
            )
        )
        event = kind.event(decided)
        return decided, _envelope(event, agency, correlation_id), event.STREAM

    async with (deps.statements or deps.unit_of_work)() as uow:
        return await uow.record_decided(household_id, decide)


class Recording(Protocol[Q_contra, R_co]):
    """The use case of one kind of record (record_grant, ...)."""

    async def __call__(
        self,
        deps: InterventionsDeps,
        agency: str,
        request: Q_contra,
        correlation_id: str,
        *,
        household_version: int | None = None,
    ) -> R_co: ...


def recording(kind: RecordKind[Q, R]) -> Recording[Q, R]:
    async def use_case(
        deps: InterventionsDeps,
        agency: str,
        request: Q,
        correlation_id: str,
        *,
        household_version: int | None = None,
    ) -> R:
        return await record(
            deps, kind, agency, request, correlation_id, household_version=household_version
        )

    return use_case


record_grant: Final = recording(GRANT)
record_training_session: Final = recording(TRAINING_SESSION)
record_mentoring_visit: Final = recording(MENTORING_VISIT)
record_business_survey: Final = recording(BUSINESS_SURVEY)
record_budget_allocation: Final = recording(BUDGET_ALLOCATION)


# -- records that hang on others: a transaction each ------------------------------------------


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
