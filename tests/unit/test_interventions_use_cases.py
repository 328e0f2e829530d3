"""Every use case of the interventions service, in memory: the handlers over a fake unit of work
(tests/unit/fakes). What PostgreSQL adds (locks, the optimistic write, its statements) is proved
by the integration tests."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gayari_interventions.domain.budget import BudgetAllocationRequest
from gayari_interventions.domain.grants import GrantRequest
from gayari_interventions.domain.households import (
    HouseholdBehindError,
    HouseholdEvent,
    HouseholdNotKnownYetError,
    KnownHousehold,
)
from gayari_interventions.domain.intake import (
    IntakeGrantV1,
    IntakeRejectionRecord,
    IntakeVoidV1,
)
from gayari_interventions.domain.monitoring import BusinessSurveyRequest, MentoringVisitRequest
from gayari_interventions.domain.records import RecordFilter, decode_cursor
from gayari_interventions.domain.rules import ConflictError, ForbiddenError, NotFoundError
from gayari_interventions.domain.training import (
    AttendanceRequest,
    CompletionRequest,
    ParticipationRequest,
    TrainingSessionRequest,
)
from gayari_interventions.domain.voids import VoidRequest
from gayari_interventions.service_layer import handlers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_interventions.service_layer.intake import (
    DuplicateIntakeError,
    accept_intake,
    count_rejection,
    rejection_counts,
)
from gayari_shared.rules import RuleViolationError
from tests.unit.fakes.interventions import FakeInterventions, enrolled, registered

AGENCIES = frozenset({"dinsos", "dispar", "distakan", "dkukmpp"})
TODAY = datetime.now(UTC).date()
ENROLLED_AT = datetime.now(UTC) - timedelta(days=365)
DAY = TODAY - timedelta(days=30)  # a day every record may be dated
HOUSEHOLD = uuid.uuid4()
MEMBER = uuid.uuid4()


def known(household_id: uuid.UUID = HOUSEHOLD, **changes: Any) -> KnownHousehold:
    fields: dict[str, Any] = {
        "household_id": household_id,
        "village_code": "62.09.01.2001",
        "welfare_decile": 2,
        "registered_at": ENROLLED_AT,
        "enrolled_at": ENROLLED_AT,
        "member_ids": frozenset({MEMBER}),
        "version": 3,
    }
    return KnownHousehold(**(fields | changes))


@pytest.fixture
def store() -> FakeInterventions:
    fake = FakeInterventions()
    fake.state.households[HOUSEHOLD] = known()
    return fake


@pytest.fixture
def deps(store: FakeInterventions) -> InterventionsDeps:
    return InterventionsDeps(unit_of_work=store, agencies=AGENCIES, statements=store)


def capital(household_id: uuid.UUID = HOUSEHOLD) -> GrantRequest:
    return GrantRequest(
        household_id=household_id, kind="capital", amount_idr=1_000_000, purpose="Modal warung"
    )


def session_request() -> TrainingSessionRequest:
    return TrainingSessionRequest(
        topic="Budidaya ikan nila",
        starts_on=DAY,
        ends_on=DAY + timedelta(days=2),
        hours=12,
        place="Balai Desa",
    )


def event_types(store: FakeInterventions) -> list[str]:
    return [envelope.type for envelope, _ in store.state.events]


# -- records made in one write ----------------------------------------------------------------


async def test_a_grant_is_recorded_with_its_event_from_the_callers_agency(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    grant = await handlers.record_grant(deps, "distakan", capital(), "corr-1")
    assert store.state.records[grant.id] == grant
    ((envelope, stream),) = store.state.events
    assert (envelope.type, stream) == ("gayari.grant.issued.v2", "interventions")
    assert envelope.source == "/gayari/agencies/distakan"
    assert envelope.correlationid == "corr-1"
    assert envelope.data["grant_id"] == str(grant.id)
    assert (grant.agency, grant.household_id, grant.amount_idr) == (
        "distakan",
        HOUSEHOLD,
        1_000_000,
    )


async def test_a_grant_for_a_household_not_known_here_is_refused_and_nothing_written(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    with pytest.raises(HouseholdNotKnownYetError):
        await handlers.record_grant(deps, "distakan", capital(uuid.uuid4()), "c")
    assert (store.state.records, store.state.events) == ({}, [])


async def test_a_grant_for_an_exited_household_is_refused(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    store.state.households[HOUSEHOLD] = known(exited_at=ENROLLED_AT + timedelta(days=1))
    with pytest.raises(RuleViolationError, match="exited"):
        await handlers.record_grant(deps, "distakan", capital(), "c")
    assert store.state.events == []


async def test_an_agency_unknown_to_the_platform_records_nothing(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    with pytest.raises(ForbiddenError):
        await handlers.record_grant(deps, "nobody", capital(), "c")
    assert store.state.events == []


async def test_a_named_household_version_is_waited_for_then_required(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    waited: list[tuple[uuid.UUID, int]] = []

    async def wait(household_id: uuid.UUID, version: int) -> bool:
        waited.append((household_id, version))
        return False

    waiting = dataclasses.replace(deps, await_household=wait)
    await handlers.record_grant(waiting, "distakan", capital(), "c", household_version=3)
    with pytest.raises(HouseholdBehindError):
        await handlers.record_grant(waiting, "distakan", capital(), "c", household_version=4)
    assert waited == [(HOUSEHOLD, 3), (HOUSEHOLD, 4)]
    assert event_types(store) == ["gayari.grant.issued.v2"]


async def test_without_statements_a_record_takes_a_unit_of_work(store: FakeInterventions) -> None:
    deps = InterventionsDeps(unit_of_work=store, agencies=AGENCIES)
    await handlers.record_mentoring_visit(
        deps,
        "dkukmpp",
        MentoringVisitRequest(household_id=HOUSEHOLD, visited_on=DAY, business_status="running"),
        "c",
    )
    assert (store.units, event_types(store)) == (1, ["gayari.mentoring.visited.v1"])


@pytest.mark.parametrize(
    ("use_case", "request_", "event_type"),
    [
        (
            handlers.record_mentoring_visit,
            MentoringVisitRequest(
                household_id=HOUSEHOLD, visited_on=DAY, business_status="running"
            ),
            "gayari.mentoring.visited.v1",
        ),
        (
            handlers.record_business_survey,
            BusinessSurveyRequest(
                household_id=HOUSEHOLD, surveyed_on=DAY, monthly_income_idr=2_500_000, workers=2
            ),
            "gayari.business.surveyed.v1",
        ),
        (
            handlers.record_training_session,
            session_request(),
            "gayari.training-session.recorded.v1",
        ),
        (
            handlers.record_budget_allocation,
            BudgetAllocationRequest(fiscal_year=TODAY.year, amount_idr=50_000_000),
            "gayari.budget.allocated.v1",
        ),
    ],
)
async def test_each_kind_of_record_is_written_once_with_its_event(
    store: FakeInterventions,
    deps: InterventionsDeps,
    use_case: handlers.Recording[Any, Any],
    request_: Any,
    event_type: str,
) -> None:
    made = await use_case(deps, "dkukmpp", request_, "c")
    assert store.state.records == {made.id: made}
    assert event_types(store) == [event_type]
    assert made.agency == "dkukmpp"


async def test_a_visit_before_the_households_enrolment_is_refused(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    early = MentoringVisitRequest(
        household_id=HOUSEHOLD,
        visited_on=ENROLLED_AT.date() - timedelta(days=5),
        business_status="running",
    )
    with pytest.raises(RuleViolationError, match="before the household"):
        await handlers.record_mentoring_visit(deps, "dkukmpp", early, "c")
    assert store.state.records == {}


# -- training: participants, attendance, completions -------------------------------------------


async def a_session(deps: InterventionsDeps, agency: str = "dispar") -> uuid.UUID:
    return (await handlers.record_training_session(deps, agency, session_request(), "c")).id


async def test_a_member_joins_a_session_once(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    session_id = await a_session(deps)
    joining = ParticipationRequest(session_id=session_id, household_id=HOUSEHOLD, member_id=MEMBER)
    participant = await handlers.add_training_participant(deps, "dispar", joining, "c")
    assert (participant.session_id, participant.member_id) == (session_id, MEMBER)
    with pytest.raises(ConflictError, match="already takes part"):
        await handlers.add_training_participant(deps, "dispar", joining, "c")
    assert event_types(store)[-1] == "gayari.training.participant-added.v1"
    assert len(store.state.events) == 2


async def test_only_a_member_of_the_household_joins_and_only_the_sessions_agency_adds(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    session_id = await a_session(deps)
    stranger = ParticipationRequest(
        session_id=session_id, household_id=HOUSEHOLD, member_id=uuid.uuid4()
    )
    with pytest.raises(RuleViolationError, match="not a member"):
        await handlers.add_training_participant(deps, "dispar", stranger, "c")
    member = ParticipationRequest(session_id=session_id, household_id=HOUSEHOLD, member_id=MEMBER)
    with pytest.raises(ForbiddenError):
        await handlers.add_training_participant(deps, "distakan", member, "c")
    unknown = ParticipationRequest(
        session_id=uuid.uuid4(), household_id=HOUSEHOLD, member_id=MEMBER
    )
    with pytest.raises(RuleViolationError, match="unknown or voided"):
        await handlers.add_training_participant(deps, "dispar", unknown, "c")
    assert len(store.state.events) == 1  # the session's


async def test_attendance_is_recorded_once_a_day_for_a_participant(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    session_id = await a_session(deps)
    ids = {"session_id": session_id, "household_id": HOUSEHOLD, "member_id": MEMBER}
    day = AttendanceRequest(**ids, attended_on=DAY)
    with pytest.raises(RuleViolationError, match="not a participant"):
        await handlers.record_training_attendance(deps, "dispar", day, "c")
    await handlers.add_training_participant(deps, "dispar", ParticipationRequest(**ids), "c")
    attendance = await handlers.record_training_attendance(deps, "dispar", day, "c")
    assert attendance.attended_on == DAY
    with pytest.raises(ConflictError, match="already recorded"):
        await handlers.record_training_attendance(deps, "dispar", day, "c")
    await handlers.record_training_attendance(
        deps, "dispar", AttendanceRequest(**ids, attended_on=DAY + timedelta(days=1)), "c"
    )
    assert event_types(store).count("gayari.training.attended.v1") == 2


async def test_a_participant_completes_a_session_once(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    session_id = await a_session(deps)
    ids = {"session_id": session_id, "household_id": HOUSEHOLD, "member_id": MEMBER}
    await handlers.add_training_participant(deps, "dispar", ParticipationRequest(**ids), "c")
    done = CompletionRequest(**ids, completed_on=DAY + timedelta(days=2))
    completion = await handlers.record_training_completion(deps, "dispar", done, "c")
    assert (completion.topic, completion.hours) == ("Budidaya ikan nila", 12)
    with pytest.raises(ConflictError, match="already completed"):
        await handlers.record_training_completion(deps, "dispar", done, "c")
    assert event_types(store)[-1] == "gayari.training.completed.v2"
    assert event_types(store).count("gayari.training.completed.v2") == 1


async def test_a_training_record_for_a_household_behind_is_not_decided(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    session_id = await a_session(deps)
    ids = {"session_id": session_id, "household_id": HOUSEHOLD, "member_id": MEMBER}
    with pytest.raises(HouseholdBehindError):
        await handlers.add_training_participant(
            deps, "dispar", ParticipationRequest(**ids), "c", household_version=9
        )
    assert len(store.state.events) == 1


# -- voids --------------------------------------------------------------------------------------


async def test_an_agency_voids_its_own_record_once(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    grant = await handlers.record_grant(deps, "distakan", capital(), "c")
    request = VoidRequest(intervention_type="grant", intervention_id=grant.id, reason="duplicate")
    with pytest.raises(ForbiddenError):
        await handlers.void_intervention(deps, "dinsos", request, "c")
    void = await handlers.void_intervention(deps, "distakan", request, "c")
    assert (void.intervention_id, void.household_id, void.reason) == (
        grant.id,
        HOUSEHOLD,
        "duplicate",
    )
    with pytest.raises(ConflictError, match="already voided"):
        await handlers.void_intervention(deps, "distakan", request, "c")
    assert event_types(store) == ["gayari.grant.issued.v2", "gayari.intervention.voided.v1"]


async def test_voiding_what_is_not_there_is_not_found(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    missing = VoidRequest(
        intervention_type="grant", intervention_id=uuid.uuid4(), reason="entered-in-error"
    )
    with pytest.raises(NotFoundError):
        await handlers.void_intervention(deps, "distakan", missing, "c")
    grant = await handlers.record_grant(deps, "distakan", capital(), "c")
    wrong_type = VoidRequest(
        intervention_type="mentoring-visit", intervention_id=grant.id, reason="duplicate"
    )
    with pytest.raises(NotFoundError):
        await handlers.void_intervention(deps, "distakan", wrong_type, "c")
    other_household = VoidRequest(
        intervention_type="grant", intervention_id=grant.id, reason="duplicate"
    )
    with pytest.raises(NotFoundError):
        await handlers.void_intervention(
            deps, "distakan", other_household, "c", household_id=uuid.uuid4()
        )
    assert store.state.voids == {}


async def test_a_void_without_a_reason_for_other_is_refused(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    grant = await handlers.record_grant(deps, "distakan", capital(), "c")
    request = VoidRequest(intervention_type="grant", intervention_id=grant.id, reason="other")
    with pytest.raises(RuleViolationError, match="explanation"):
        await handlers.void_intervention(deps, "distakan", request, "c")
    assert store.state.voids == {}


# -- reading records back ---------------------------------------------------------------------


async def test_an_agency_lists_its_own_records_page_by_page(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    mine = [await handlers.record_grant(deps, "distakan", capital(), "c") for _ in range(3)]
    await handlers.record_grant(deps, "dinsos", capital(), "c")
    page, cursor = await handlers.list_records(deps, "grant", RecordFilter("distakan", limit=2))
    assert [r.id for r in page] == [g.id for g in mine[:2]]
    assert cursor is not None
    after = decode_cursor(cursor)
    rest, last = await handlers.list_records(
        deps, "grant", RecordFilter("distakan", after=after, limit=2)
    )
    assert ([r.id for r in rest], last) == ([mine[2].id], None)
    everyone, _ = await handlers.list_records(deps, "grant", RecordFilter(None))
    assert len(everyone) == 4


async def test_a_record_is_read_back_by_its_agency_with_its_void(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    grant = await handlers.record_grant(deps, "distakan", capital(), "c")
    void = await handlers.void_intervention(
        deps,
        "distakan",
        VoidRequest(intervention_type="grant", intervention_id=grant.id, reason="duplicate"),
        "c",
    )
    found = await handlers.get_record(deps, "grant", grant.id, "distakan")
    assert found.id == grant.id
    assert found.void is not None and found.void.id == void.id
    with pytest.raises(NotFoundError):
        await handlers.get_record(deps, "grant", grant.id, "dinsos")
    with pytest.raises(NotFoundError):
        await handlers.get_record(deps, "grant", uuid.uuid4(), None)


# -- the registry's household events ----------------------------------------------------------


async def test_household_events_are_learned_once_in_any_order(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    new = uuid.uuid4()
    batch: list[tuple[HouseholdEvent, uuid.UUID]] = [
        (enrolled(new, ENROLLED_AT + timedelta(days=1)), uuid.uuid4()),
        (registered(new, MEMBER, ENROLLED_AT), uuid.uuid4()),
    ]
    assert await handlers.learn_households(deps, batch) == 1
    learned = store.state.households[new]
    assert (learned.enrolled, learned.version, learned.member_ids) == (True, 2, frozenset({MEMBER}))
    assert await handlers.learn_households(deps, batch) == 0  # redelivered: nothing changes
    assert await handlers.learn_households(deps, batch[:1]) == 0
    await handlers.record_grant(deps, "distakan", capital(new), "c")  # now it may get one


# -- intake from agency systems ---------------------------------------------------------------


def intake_grant(household_id: uuid.UUID = HOUSEHOLD) -> IntakeGrantV1:
    return IntakeGrantV1(
        agency="distakan",
        household_id=household_id,
        kind="capital",
        amount_idr=750_000,
        purpose="Modal kolam",
    )


async def test_an_intake_message_is_recorded_once_by_its_event_id(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    event_id = uuid.uuid4()
    made = await accept_intake(deps, intake_grant(), event_id=event_id, correlation_id="k")
    assert store.state.receipts[(event_id, "distakan")] == (
        "gayari.intake.grant.v1",
        ("grant", made),
    )
    with pytest.raises(DuplicateIntakeError):
        await accept_intake(deps, intake_grant(), event_id=event_id, correlation_id="k")
    assert event_types(store) == ["gayari.grant.issued.v2"]
    listed, _ = await handlers.list_records(
        deps, "grant", RecordFilter("distakan", external_id=event_id)
    )
    assert [r.id for r in listed] == [made]


async def test_a_refused_intake_message_keeps_no_claim_and_is_taken_when_fixed(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    """A message refused for its household is not claimed: redriven once the household is
    enrolled, it is taken."""
    later = uuid.uuid4()
    event_id = uuid.uuid4()
    with pytest.raises(HouseholdNotKnownYetError):
        await accept_intake(deps, intake_grant(later), event_id=event_id, correlation_id="k")
    assert (store.state.receipts, store.state.events) == ({}, [])
    store.state.households[later] = known(later)
    await accept_intake(deps, intake_grant(later), event_id=event_id, correlation_id="k")
    assert event_types(store) == ["gayari.grant.issued.v2"]


async def test_an_intake_void_names_the_record_by_its_own_event_id(
    store: FakeInterventions, deps: InterventionsDeps
) -> None:
    granted = uuid.uuid4()
    made = await accept_intake(deps, intake_grant(), event_id=granted, correlation_id="k")
    void = IntakeVoidV1(
        agency="distakan",
        household_id=HOUSEHOLD,
        intervention_type="grant",
        external_id=granted,
        reason="duplicate",
    )
    voided = await accept_intake(deps, void, event_id=uuid.uuid4(), correlation_id="k")
    assert store.state.voids[("grant", made)].id == voided
    elsewhere = void.model_copy(update={"household_id": uuid.uuid4()})
    with pytest.raises(NotFoundError):
        await accept_intake(deps, elsewhere, event_id=uuid.uuid4(), correlation_id="k")


async def test_rejections_are_counted_once_per_source_record(deps: InterventionsDeps) -> None:
    def rejection(offset: int, agency: str = "distakan") -> IntakeRejectionRecord:
        return IntakeRejectionRecord(
            agency=agency,
            topic=f"t.intake.{agency}",
            partition=0,
            offset=offset,
            event_id=None,
            code="invalid-data",
            reason="invalid-data: amount_idr",
        )

    for offset in (1, 2, 2, 1):
        await count_rejection(deps, rejection(offset))
    await count_rejection(deps, rejection(7, "dinsos"))
    assert await rejection_counts(deps) == [
        ("dinsos", "invalid-data", 1),
        ("distakan", "invalid-data", 2),
    ]
