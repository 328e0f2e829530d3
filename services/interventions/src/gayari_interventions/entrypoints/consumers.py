"""Kafka consumers: the registry's household events feed the table of known households
(registration, members, enrolment, exit).

At-least-once: FastStream commits the offset only after the handler returned
(NACK_ON_ERROR seeks back on an exception, e.g. the database is away); the handler is
idempotent and order-independent, so a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from gayari_interventions.service_layer.handlers import InterventionsDeps, learn_household
from gayari_shared.events.contracts import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.envelope import Envelope, InvalidEventError
from gayari_shared.events.factory import parse_data
from gayari_shared.http.correlation import bind_correlation_id
from gayari_shared.kafka.clients import raw_body
from gayari_shared.kafka.deadletter import Rejection
from gayari_shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from gayari_shared.tracing import consuming

log = structlog.get_logger(__name__)
GROUP_ID = "gayari-interventions"
TRANSIENT_BACKOFF_S = 1.0


def register_consumers(
    broker: KafkaBroker,
    deps: InterventionsDeps,
    households_topic: str,
    dead_letters: Callable[[Rejection], Awaitable[None]],
) -> None:
    @broker.subscriber(
        households_topic,
        group_id=GROUP_ID,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
    )
    async def on_household_event(message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)  # a batch; this subscriber reads one at a time
        try:
            envelope = Envelope.from_kafka(record.key, record.value, list(record.headers))
            data = parse_data(envelope)
        except InvalidEventError as exc:
            # A record we cannot read must not block the partition: it goes to the dead-letter
            # topic with its reason (safe there before the offset moves) and we go on.
            await dead_letters(
                Rejection(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers),
                    reason=exc.reason,
                )
            )
            EVENTS_CONSUMED.labels(GROUP_ID, record.topic, "rejected").inc()
            DEAD_LETTERS.labels(GROUP_ID, "invalid-event").inc()
            log.error(
                "invalid household event dead-lettered",
                reason=exc.reason,
                partition=record.partition,
                offset=record.offset,
            )
            return
        bind_correlation_id(envelope.correlationid)
        structlog.contextvars.bind_contextvars(event_id=str(envelope.id))
        try:
            match data:
                case (
                    HouseholdRegisteredV1()
                    | HouseholdDetailsChangedV1()
                    | HouseholdEnrolledV1()
                    | HouseholdExitedV1()
                ):
                    with consuming(envelope.type, envelope.traceparent, envelope.tracestate):
                        changed = await learn_household(deps, data, envelope.id)
                    EVENTS_CONSUMED.labels(GROUP_ID, record.topic, "applied").inc()
                    log.info(
                        "household event applied",
                        event_type=envelope.type,
                        household_id=str(data.household_id),
                        changed=changed,
                    )
        except Exception:
            # The database is away or the like: wait, then let FastStream seek back so the
            # record is read again, instead of spinning on it.
            log.exception("household event not applied; it will be read again")
            await asyncio.sleep(TRANSIENT_BACKOFF_S)
            raise
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "correlation_id")
