"""Kafka consumers: the registry's household events feed the table of known households
(registration, members, enrolment, exit).

Read in batches (up to MAX_RECORDS per fetch) and applied set-based: a batch's events are
folded to one change per household in memory and merged into the table in one transaction
(domain.households, adapters.postgres). At-least-once: FastStream commits the offsets only
after the handler returned (NACK_ON_ERROR seeks every partition of the batch back to its first
record on an exception, e.g. the database is away); applying is idempotent and
order-independent, so a redelivered batch, or part of one, changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from gayari_interventions.domain.households import HouseholdEvent
from gayari_interventions.service_layer.handlers import InterventionsDeps, learn_households
from gayari_shared.events.contracts import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.envelope import EventAttributes, InvalidEventError
from gayari_shared.events.factory import decode_event
from gayari_shared.kafka.clients import raw_body
from gayari_shared.kafka.deadletter import Rejection
from gayari_shared.kafka.lag import ConsumerLag
from gayari_shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED

log = structlog.get_logger(__name__)
GROUP_ID = "gayari-interventions"
TRANSIENT_BACKOFF_S = 1.0
# Records per batch: one transaction, a few statements, whatever the count. A batch holds
# its households' rows until it commits; recordings for them wait that long (milliseconds).
MAX_RECORDS = 1000
# Up to this many events a batch logs a line per event; a catch-up logs one line per batch.
LOG_EACH_UP_TO = 100
_HOUSEHOLD_EVENTS = (
    HouseholdRegisteredV1,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
)


def register_consumers(
    broker: KafkaBroker,
    deps: InterventionsDeps,
    households_topic: str,
    dead_letters: Callable[[Rejection], Awaitable[None]],
) -> None:
    # The broker's middlewares trace each batch (a span for its handling, linked to each
    # event's cause) and count it; the router's measures the group's lag.
    router = KafkaRouter(middlewares=[ConsumerLag(GROUP_ID).middleware])

    @router.subscriber(
        households_topic,
        group_id=GROUP_ID,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
        batch=True,
        max_records=MAX_RECORDS,
    )
    async def on_household_events(message: KafkaMessage) -> None:
        records = message.raw_message
        # A batch subscriber: a tuple of records (a list under TestKafkaBroker).
        assert isinstance(records, Sequence)
        try:
            await _apply(deps, records, dead_letters)
        except Exception:
            # The database is away or the like: wait, then let FastStream seek back so the
            # batch is read again, instead of spinning on it.
            log.exception("household events not applied; they will be read again")
            await asyncio.sleep(TRANSIENT_BACKOFF_S)
            raise

    broker.include_router(router)


async def _apply(
    deps: InterventionsDeps,
    records: Sequence[ConsumerRecord[bytes, bytes]],
    dead_letters: Callable[[Rejection], Awaitable[None]],
) -> None:
    events: list[tuple[HouseholdEvent, uuid.UUID]] = []
    read: list[EventAttributes] = []
    for record in records:
        try:
            attributes, data = decode_event(record.key, record.value, record.headers)
        except InvalidEventError as exc:
            # A record we cannot read must not block the partition: it goes to the
            # dead-letter topic with its reason (safe there before the offset moves) and we
            # go on.
            await _reject(record, exc.reason, dead_letters)
            continue
        if not isinstance(data, _HOUSEHOLD_EVENTS):
            continue  # not a household event: nothing this table learns from
        events.append((data, attributes.id))
        read.append(attributes)
    if not events:
        return
    changed = await learn_households(deps, events)
    EVENTS_CONSUMED.labels(GROUP_ID, records[0].topic, "applied").inc(len(events))
    if len(events) > LOG_EACH_UP_TO:
        log.info(
            "household events applied",
            count=len(events),
            households=len({event.household_id for event, _ in events}),
            changed=changed,
        )
        return
    for (event, _), attributes in zip(events, read, strict=True):
        log.info(
            "household event applied",
            event_type=attributes.type,
            event_id=str(attributes.id),
            correlation_id=attributes.correlationid,
            household_id=str(event.household_id),
        )


async def _reject(
    record: ConsumerRecord[bytes, bytes],
    reason: str,
    dead_letters: Callable[[Rejection], Awaitable[None]],
) -> None:
    await dead_letters(Rejection.of(record, reason))
    EVENTS_CONSUMED.labels(GROUP_ID, record.topic, "rejected").inc()
    DEAD_LETTERS.labels(GROUP_ID, "invalid-event").inc()
    log.error(
        "invalid household event dead-lettered",
        reason=reason,
        partition=record.partition,
        offset=record.offset,
    )
