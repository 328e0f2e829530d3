"""The interventions' FastStream consumers in memory: FastStream's TestKafkaBroker delivers the
records to the subscribers as registered at bootstrap, over the fake unit of work. Offsets,
commits and rebalances are not simulated (see the integration tests for those)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from gayari_interventions.domain.budget import (
    BudgetAllocationRequest,
    allocate_budget,
    budget_allocated,
)
from gayari_interventions.domain.households import KnownHousehold
from gayari_interventions.entrypoints import consumers, intake
from gayari_interventions.entrypoints.consumers import register_consumers
from gayari_interventions.entrypoints.intake import IntakeWiring, register_intake
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_shared.events.contracts import (
    HouseholdEnrolledV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.kafka.deadletter import REASON_HEADER, Rejection
from tests.unit.fakes.interventions import (
    FakeInterventions,
    FakeInterventionsUnitOfWork,
    enrolled,
    registered,
)

PREFIX = "unit"
HOUSEHOLDS = f"{PREFIX}.households"
INTAKE = f"{PREFIX}.intake.distakan"
DEADLETTER = f"{PREFIX}.deadletter"
AGENCIES = frozenset({"dinsos", "distakan"})
ENROLLED_AT = datetime.now(UTC) - timedelta(days=365)
MEMBER = uuid.uuid4()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumers, "TRANSIENT_BACKOFF_S", 0.0)
    monkeypatch.setattr(intake, "TRANSIENT_BACKOFF_S", 0.0)


class DeadLetters:
    """The dead-letter producer: what it was given, as Kafka would keep it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(
        self, topic: str, *, value: bytes | None, key: bytes | None, headers: list[Any]
    ) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers)})

    def reasons(self) -> list[str]:
        return [letter["headers"][REASON_HEADER].decode() for letter in self.sent]


def published(envelope: Envelope, topic: str) -> dict[str, Any]:
    """broker.publish's arguments for the envelope in CloudEvents binary mode."""
    record = envelope.to_kafka(topic)
    return {
        "message": record.value,
        "topic": topic,
        "key": record.key,
        "headers": {name: value.decode() for name, value in record.headers},
    }


# -- the registry's household events ----------------------------------------------------------


@asynccontextmanager
async def household_consumer(
    store: FakeInterventions,
) -> AsyncIterator[tuple[KafkaBroker, list[Rejection]]]:
    broker = KafkaBroker(logger=None)
    rejected: list[Rejection] = []

    async def dead_letter(rejection: Rejection) -> None:
        rejected.append(rejection)

    deps = InterventionsDeps(unit_of_work=store, agencies=AGENCIES)
    register_consumers(broker, deps, HOUSEHOLDS, dead_letter)
    async with TestKafkaBroker(broker) as test_broker:
        yield test_broker, rejected


def registry_event(data: HouseholdRegisteredV1 | HouseholdEnrolledV1) -> dict[str, Any]:
    return published(envelope_for(data, source="/gayari/registry", correlation_id="c"), HOUSEHOLDS)


async def test_household_events_teach_the_table_of_known_households() -> None:
    store = FakeInterventions()
    household = uuid.uuid4()
    async with household_consumer(store) as (broker, rejected):
        await broker.publish(**registry_event(enrolled(household, ENROLLED_AT)))
        await broker.publish(**registry_event(registered(household, MEMBER, ENROLLED_AT)))
        await broker.publish(
            **registry_event(registered(household, MEMBER, ENROLLED_AT))
        )  # redelivered
    known = store.state.households[household]
    assert (known.enrolled, known.version, known.village_code) == (True, 2, "62.09.01.2001")
    assert rejected == []


async def test_an_unreadable_household_record_is_dead_lettered_with_its_reason() -> None:
    store = FakeInterventions()
    household = uuid.uuid4()
    async with household_consumer(store) as (broker, rejected):
        event = registry_event(registered(household, MEMBER, ENROLLED_AT))
        await broker.publish(**(event | {"message": b"not json"}))
        await broker.publish(**registry_event(registered(household, MEMBER, ENROLLED_AT)))
    (rejection,) = rejected
    assert rejection.value == b"not json"
    assert rejection.topic == HOUSEHOLDS
    assert "not JSON" in rejection.reason
    assert household in store.state.households  # the next record is applied


async def test_another_event_on_the_topic_teaches_nothing() -> None:
    store = FakeInterventions()
    allocation = allocate_budget(
        BudgetAllocationRequest(fiscal_year=ENROLLED_AT.year, amount_idr=1_000_000),
        agency="dinsos",
        agencies=AGENCIES,
        allocation_id=uuid.uuid4(),
        now=datetime.now(UTC),
    )
    other = envelope_for(
        budget_allocated(allocation), source="/gayari/agencies/dinsos", correlation_id="c"
    )
    async with household_consumer(store) as (broker, rejected):
        await broker.publish(**published(other, HOUSEHOLDS))
    assert (store.state.households, store.units, rejected) == ({}, 0, [])


async def test_household_events_not_applied_are_read_again() -> None:
    """The database away: the handler raises (FastStream seeks back, NACK_ON_ERROR); nothing
    is dead-lettered."""
    store = FakeInterventions()

    class Away(FakeInterventionsUnitOfWork):
        async def learn_households(self, changes: Any) -> int:
            raise ConnectionError("database away")

    store.make_unit = lambda: Away(store.state)  # type: ignore[method-assign]
    async with household_consumer(store) as (broker, rejected):
        with pytest.raises(ConnectionError):
            await broker.publish(**registry_event(registered(uuid.uuid4(), MEMBER, ENROLLED_AT)))
    assert (rejected, store.state.households) == ([], {})


# -- the agencies' intake -----------------------------------------------------------------------


@asynccontextmanager
async def intake_consumer(
    store: FakeInterventions,
) -> AsyncIterator[tuple[KafkaBroker, DeadLetters]]:
    broker = KafkaBroker(logger=None)
    letters = DeadLetters()
    deps = InterventionsDeps(unit_of_work=store, agencies=AGENCIES)
    wiring = IntakeWiring(deps, PREFIX, DEADLETTER, letters)
    register_intake(broker, wiring, [INTAKE, f"{PREFIX}.intake.dinsos"])
    async with TestKafkaBroker(broker) as test_broker:
        yield test_broker, letters


def enrolled_store() -> tuple[FakeInterventions, uuid.UUID]:
    store = FakeInterventions()
    household = uuid.uuid4()
    store.state.households[household] = KnownHousehold(
        household_id=household,
        registered_at=ENROLLED_AT,
        enrolled_at=ENROLLED_AT,
        member_ids=frozenset({MEMBER}),
    )
    return store, household


def intake_grant(household: uuid.UUID, agency: str = "distakan", **data: Any) -> Envelope:
    return Envelope(
        source=f"/gayari/agencies/{agency}",
        type="gayari.intake.grant.v1",
        subject=str(household),
        correlationid="agency-42",
        data={
            "agency": agency,
            "household_id": str(household),
            "kind": "capital",
            "amount_idr": 750_000,
            "purpose": "Modal kolam",
        }
        | data,
    )


async def test_an_intake_record_becomes_the_agencys_grant_once() -> None:
    store, household = enrolled_store()
    message = intake_grant(household)
    async with intake_consumer(store) as (broker, letters):
        await broker.publish(**published(message, INTAKE))
        await broker.publish(**published(message, INTAKE))  # the same ce_id again
    ((envelope, stream),) = store.state.events
    assert (envelope.type, stream, envelope.correlationid) == (
        "gayari.grant.issued.v2",
        "interventions",
        "agency-42",
    )
    assert envelope.data["agency"] == "distakan"
    (receipt,) = store.state.receipts
    assert receipt == (message.id, "distakan")
    assert letters.sent == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"message": b"\xff not json"}, "invalid-cloudevent"),
        ({"topic": f"{PREFIX}.intake.dinsos"}, "agency-mismatch"),
        ({"data": {"amount_idr": -5}}, "invalid-data"),
        ({"household": "unknown"}, "household-not-known-yet"),
        ({"data": {"amount_idr": None, "items": []}}, "rule-violation"),
    ],
)
async def test_a_bad_intake_record_is_dead_lettered_with_a_reason_and_counted(
    change: dict[str, Any], code: str
) -> None:
    store, household = enrolled_store()
    message = intake_grant(
        uuid.uuid4() if change.get("household") else household, **change.get("data", {})
    )
    topic = change.get("topic", INTAKE)
    arguments = published(message, topic)
    if "message" in change:
        arguments["message"] = change["message"]
    async with intake_consumer(store) as (broker, letters):
        await broker.publish(**arguments)
    (letter,) = letters.sent
    assert letter["topic"] == DEADLETTER
    assert letters.reasons()[0].startswith(f"{code}: ")
    assert letter["value"] == arguments["message"]  # the record as it was sent
    assert letter["headers"]["dlq-source-topic"] == topic.encode()
    assert [(r.code, r.topic) for r in store.state.rejections.values()] == [(code, topic)]
    assert (store.state.events, store.state.receipts) == ([], {})


async def test_an_intake_record_not_settled_is_read_again_not_dead_lettered() -> None:
    store, household = enrolled_store()

    class Away(FakeInterventionsUnitOfWork):
        async def claim_intake(self, event_id: uuid.UUID, agency: str, event_type: str) -> bool:
            raise ConnectionError("database away")

    store.make_unit = lambda: Away(store.state)  # type: ignore[method-assign]
    async with intake_consumer(store) as (broker, letters):
        with pytest.raises(ConnectionError):
            await broker.publish(**published(intake_grant(household), INTAKE))
    assert (letters.sent, store.state.events, store.state.rejections) == ([], [], {})
