"""Every event the services emit is a valid CloudEvent for the `cloudevents` Kafka binding."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from gayari_shared.events.contracts import (
    CATALOGUE,
    BudgetAllocatedV1,
    BusinessSurveyedV1,
    EventBase,
    GrantIssuedV1,
    GrantIssuedV2,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingAttendedV1,
    TrainingCompletedV1,
    TrainingCompletedV2,
    TrainingParticipantAddedV1,
    TrainingSessionRecordedV1,
)
from gayari_shared.events.envelope import Envelope, InvalidEventError
from gayari_shared.events.factory import envelope_for, parse_data
from gayari_shared.events.interventions import GrantItem
from gayari_shared.events.upcasting import to_latest

HOUSEHOLD = uuid.uuid4()
NOW = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)

# One of every event type in the catalogue (a test below insists): add one with each new type.
SESSION = uuid.uuid4()
MEMBER = uuid.uuid4()
SAMPLES: list[EventBase] = [
    HouseholdDetailsChangedV1(
        household_id=HOUSEHOLD,
        changed=["welfare_decile", "members"],
        welfare_decile=3,
        member_count=2,
        member_ids=[uuid.uuid4(), uuid.uuid4()],
        changed_at=NOW,
    ),
    HouseholdEnrolledV1(
        household_id=HOUSEHOLD, cohort_year=2026, enrolling_agency="dinsos", enrolled_at=NOW
    ),
    HouseholdExitedV1(household_id=HOUSEHOLD, reason="graduated", exited_at=NOW),
    HouseholdRegisteredV1(
        household_id=HOUSEHOLD,
        village_code="62.09.01.2001",
        welfare_decile=2,
        member_count=4,
        kk_hash="ab" * 32,
        registered_at=NOW,
        member_ids=[uuid.uuid4() for _ in range(4)],
    ),
    GrantIssuedV1(
        household_id=HOUSEHOLD,
        grant_id=uuid.uuid4(),
        agency="distakan",
        kind="capital",
        amount_idr=2_500_000,
        issued_at=NOW,
    ),
    TrainingCompletedV1(
        household_id=HOUSEHOLD,
        completion_id=uuid.uuid4(),
        agency="dkukmpp",
        topic="Pembukuan usaha",
        hours=16,
        completed_on=date(2026, 11, 1),
        recorded_at=NOW,
    ),
    GrantIssuedV2(
        household_id=HOUSEHOLD,
        grant_id=uuid.uuid4(),
        agency="distakan",
        kind="equipment",
        amount_idr=1_150_000,
        purpose="Budidaya ikan nila dalam keramba",
        fiscal_year=2026,
        budget_line="5.1.05.05.01.0001",
        items=[
            GrantItem(
                description="Bibit ikan nila", quantity=1000, unit="ekor", unit_value_idr=500
            ),
            GrantItem(
                description="Jaring keramba", quantity=1, unit="buah", unit_value_idr=650_000
            ),
        ],
        issued_at=NOW,
    ),
    TrainingCompletedV2(
        household_id=HOUSEHOLD,
        completion_id=uuid.uuid4(),
        session_id=SESSION,
        member_id=MEMBER,
        agency="dkukmpp",
        topic="Pembukuan usaha",
        hours=16,
        completed_on=date(2026, 11, 1),
        recorded_at=NOW,
    ),
    TrainingSessionRecordedV1(
        agency="dispar",
        session_id=SESSION,
        topic="Pengelolaan homestay",
        starts_on=date(2026, 10, 27),
        ends_on=date(2026, 10, 29),
        hours=24,
        place="Balai Desa Bukit Raya",
        recorded_at=NOW,
    ),
    TrainingParticipantAddedV1(
        household_id=HOUSEHOLD,
        participant_id=uuid.uuid4(),
        session_id=SESSION,
        member_id=MEMBER,
        agency="dispar",
        added_at=NOW,
    ),
    TrainingAttendedV1(
        household_id=HOUSEHOLD,
        attendance_id=uuid.uuid4(),
        participant_id=uuid.uuid4(),
        session_id=SESSION,
        member_id=MEMBER,
        agency="dispar",
        attended_on=date(2026, 10, 28),
        recorded_at=NOW,
    ),
    MentoringVisitedV1(
        household_id=HOUSEHOLD,
        visit_id=uuid.uuid4(),
        agency="dkukmpp",
        visited_on=date(2026, 11, 20),
        business_status="growing",
        recorded_at=NOW,
    ),
    BusinessSurveyedV1(
        household_id=HOUSEHOLD,
        survey_id=uuid.uuid4(),
        agency="dkukmpp",
        surveyed_on=date(2026, 11, 20),
        monthly_income_idr=3_200_000,
        workers=2,
        recorded_at=NOW,
    ),
    BudgetAllocatedV1(
        agency="dinsos",
        allocation_id=uuid.uuid4(),
        fiscal_year=2026,
        amount_idr=750_000_000,
        budget_line="5.1.05.05.01.0001",
        allocated_at=NOW,
    ),
    InterventionVoidedV1(
        intervention_id=uuid.uuid4(),
        intervention_type="grant",
        household_id=HOUSEHOLD,
        agency="distakan",
        reason="duplicate",
        voided_at=NOW,
    ),
    InterventionVoidedV1(
        intervention_id=uuid.uuid4(),
        intervention_type="budget-allocation",
        household_id=None,
        agency="dinsos",
        reason="entered-in-error",
        voided_at=NOW,
    ),
]


GRANT = next(s for s in SAMPLES if isinstance(s, GrantIssuedV1))


def test_samples_cover_the_whole_catalogue() -> None:
    assert {type(s).TYPE for s in SAMPLES} == set(CATALOGUE)


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).TYPE)
def test_cloudevents_kafka_binding_accepts_what_we_emit(data: EventBase) -> None:
    envelope = envelope_for(data, source="/gayari/registry", correlation_id="req-1")
    record = envelope.to_kafka("gayari.test")

    message = ce_kafka.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    event = ce_kafka.from_binary_event(message)

    assert event.get_id() == str(envelope.id)
    assert event.get_type() == data.TYPE
    assert event.get_source() == "/gayari/registry"
    assert event.get_specversion() == "1.0"
    assert event.get_subject() == data.subject
    assert event.get_time() == envelope.time
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("correlationid") == "req-1"
    assert event.get_data() == data.model_dump(mode="json")
    # Keyed by household (one household's events in order), or by agency for its own business.
    assert record.key == data.subject.encode()
    assert data.subject in (str(HOUSEHOLD), "agency:dispar", "agency:dinsos")


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).TYPE)
def test_round_trip_through_kafka_record(data: EventBase) -> None:
    envelope = envelope_for(data, source="/gayari/agencies/dinsos", correlation_id="c")
    record = envelope.to_kafka("t")
    parsed = Envelope.from_kafka(record.key, record.value, record.headers)
    assert parsed == envelope
    assert parse_data(parsed) == to_latest(data)  # older versions are read as the newest


def _record() -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    record = envelope_for(GRANT, source="/s", correlation_id="c").to_kafka("t")
    return record.key, record.value, record.headers


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda k, v, h: (k, b"not json", h), "value is not JSON"),
        (lambda k, v, h: (k, b"[1]", h), "not a JSON object"),
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "ce_id"]), "attributes: missing id$"),
        (lambda k, v, h: (b"someone-else", v, h), "key differs"),
        (lambda k, v, h: (k, None, h), "no value"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    key, value, headers = mutate(*_record())
    with pytest.raises(InvalidEventError, match=reason):
        Envelope.from_kafka(key, value, headers)


def test_unknown_type_and_bad_data_are_rejected() -> None:
    envelope = envelope_for(GRANT, source="/s", correlation_id="c")
    unknown = envelope.model_copy(update={"type": "gayari.nothing.v1"})
    with pytest.raises(InvalidEventError, match="unknown event type"):
        parse_data(unknown)
    negative = envelope.model_copy(update={"data": {**envelope.data, "amount_idr": -5}})
    with pytest.raises(InvalidEventError, match="amount_idr"):
        parse_data(negative)
