"""Every event the services emit is a valid CloudEvent for the `cloudevents` Kafka binding."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from gayari_shared.events.contracts import (
    CATALOGUE,
    EventData,
    GrantIssuedV1,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    TrainingCompletedV1,
)
from gayari_shared.events.envelope import Envelope, InvalidEventError
from gayari_shared.events.factory import envelope_for, parse_data

HOUSEHOLD = uuid.uuid4()
NOW = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)

# One of every event type in the catalogue (a test below insists): add one with each new type.
SAMPLES: list[EventData] = [
    HouseholdDetailsChangedV1(
        household_id=HOUSEHOLD, changed=["welfare_decile"], welfare_decile=3, changed_at=NOW
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
]


GRANT = next(s for s in SAMPLES if isinstance(s, GrantIssuedV1))


def test_samples_cover_the_whole_catalogue() -> None:
    assert {type(s).TYPE for s in SAMPLES} == set(CATALOGUE)


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).TYPE)
def test_cloudevents_kafka_binding_accepts_what_we_emit(data: EventData) -> None:
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
    assert event.get_subject() == str(HOUSEHOLD)
    assert event.get_time() == envelope.time
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("correlationid") == "req-1"
    assert event.get_data() == data.model_dump(mode="json")
    assert record.key == str(HOUSEHOLD).encode()  # keyed by household: one household in order


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: type(d).TYPE)
def test_round_trip_through_kafka_record(data: EventData) -> None:
    envelope = envelope_for(data, source="/gayari/agencies/dinsos", correlation_id="c")
    record = envelope.to_kafka("t")
    parsed = Envelope.from_kafka(record.key, record.value, record.headers)
    assert parsed == envelope
    assert parse_data(parsed) == data


def _record() -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    record = envelope_for(GRANT, source="/s", correlation_id="c").to_kafka("t")
    return record.key, record.value, record.headers


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda k, v, h: (k, b"not json", h), "value is not JSON"),
        (lambda k, v, h: (k, b"[1]", h), "not a JSON object"),
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "ce_id"]), "invalid CloudEvents"),
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
