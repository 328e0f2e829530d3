"""The agencies' intake topics: each agency's own system publishes its records there.

Every message is validated (CloudEvent, schema, agency = the topic's agency, household
enrolled, event id not seen before) and becomes the canonical event on the interventions
topic through the outbox. Anything invalid goes to the dead-letter topic with the reason in
its headers, is counted (table intake_rejections, metric gayari_dead_letters_total) and never
stops the consumer. Offsets are committed only after the record is settled either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace

from gayari_interventions.domain.households import HouseholdNotCurrentError
from gayari_interventions.domain.intake import (
    IntakeRejectedError,
    IntakeRejectionRecord,
    agency_of_topic,
    validate_intake,
)
from gayari_interventions.domain.rules import ConflictError, ForbiddenError, NotFoundError
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_interventions.service_layer.intake import (
    DuplicateIntakeError,
    accept_intake,
    count_rejection,
)
from gayari_shared.audit import Actor, act_as, reset_actor
from gayari_shared.events.envelope import Envelope, InvalidEventError
from gayari_shared.http.correlation import bind_correlation_id
from gayari_shared.kafka.clients import raw_body
from gayari_shared.kafka.deadletter import INTAKE_CONSUMER, Rejection, send_to_dead_letters
from gayari_shared.kafka.lag import ConsumerLag
from gayari_shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from gayari_shared.rules import RuleViolationError

log = structlog.get_logger(__name__)
INTAKE_GROUP_ID = "gayari-interventions-intake"
CONSUMER = INTAKE_CONSUMER
# A failure that is not the message's fault (database away): wait, then let the record be
# read again, rather than spinning on it.
TRANSIENT_BACKOFF_S = 1.0


@dataclass(frozen=True, slots=True)
class IntakeWiring:
    deps: InterventionsDeps
    topic_prefix: str
    deadletter_topic: str
    producer: AIOKafkaProducer


def register_intake(broker: KafkaBroker, wiring: IntakeWiring, topics: Sequence[str]) -> None:
    # The broker's middlewares trace each record (a span for its handling, child of the
    # agency's span if it sent one) and count it; the router's measures the group's lag.
    router = KafkaRouter(middlewares=[ConsumerLag(INTAKE_GROUP_ID).middleware])

    @router.subscriber(
        *topics,
        group_id=INTAKE_GROUP_ID,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
        title="intake:consume",
    )
    async def on_intake(message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)  # one record at a time
        try:
            await _take(wiring, record)
        except Exception:
            log.exception("intake record not settled; it will be read again")
            await asyncio.sleep(TRANSIENT_BACKOFF_S)
            raise
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "correlation_id")

    broker.include_router(router)


async def _take(wiring: IntakeWiring, record: ConsumerRecord[bytes, bytes]) -> None:
    agency = agency_of_topic(record.topic, wiring.topic_prefix) or "unknown"
    event_id: str | None = None
    try:
        envelope = Envelope.from_kafka(record.key, record.value, list(record.headers))
        event_id = str(envelope.id)
        bind_correlation_id(envelope.correlationid)
        structlog.contextvars.bind_contextvars(event_id=event_id)
        trace.get_current_span().set_attributes(
            {
                "cloudevents.event_type": envelope.type,
                "cloudevents.event_id": event_id,
                "agency": agency,
            }
        )
        intake = validate_intake(envelope, agency)
        # The audit trail's actor: the agency whose intake topic it is (only its system may
        # write there); no API key, so the topic stands for the key.
        actor = act_as(Actor(f"kafka:{record.topic}", agency))
        try:
            created = await accept_intake(
                wiring.deps,
                intake,
                event_id=envelope.id,
                correlation_id=envelope.correlationid,
            )
        finally:
            reset_actor(actor)
    except DuplicateIntakeError:
        EVENTS_CONSUMED.labels(CONSUMER, record.topic, "duplicate").inc()
        log.info("intake event already taken", agency=agency)
        return
    except InvalidEventError as exc:
        await _reject(
            wiring, record, agency, event_id, code="invalid-cloudevent", detail=exc.reason
        )
        return
    except IntakeRejectedError as exc:
        await _reject(wiring, record, agency, event_id, code=exc.code, detail=exc.detail)
        return
    except RuleViolationError as exc:
        await _reject(wiring, record, agency, event_id, code="rule-violation", detail=str(exc))
        return
    except HouseholdNotCurrentError as exc:
        # Not final: the household's registration or enrolment may not have reached this
        # service yet. Dead-lettered at once rather than waited for (a wait holds the partition,
        # and a rebalance meanwhile has the record read and refused again), untaken, to be
        # redriven or published again as it is.
        detail = f"{exc.message} (not taken: publish the record again, its ce_id unchanged)"
        await _reject(
            wiring, record, agency, event_id, code="household-not-known-yet", detail=detail
        )
        return
    except (
        ForbiddenError,
        NotFoundError,
        ConflictError,
        asyncpg.DataError,
        UnicodeEncodeError,
    ) as exc:
        code, detail = _refusal(exc)
        await _reject(wiring, record, agency, event_id, code=code, detail=detail)
        return
    EVENTS_CONSUMED.labels(CONSUMER, record.topic, "applied").inc()
    log.info("intake event accepted", agency=agency, record_id=str(created))


def _refusal(exc: Exception) -> tuple[str, str]:
    """The dead-letter code and detail of a domain refusal or a value the database refused."""
    if isinstance(exc, asyncpg.DataError | UnicodeEncodeError):
        # SQLSTATE class 22, or text that cannot be encoded: the record's fault, not a passing
        # one. Read again, it would be refused again and block its partition.
        return "invalid-data", f"a value the database cannot store ({type(exc).__name__}: {exc})"
    code = {ForbiddenError: "forbidden", NotFoundError: "not-found"}.get(type(exc), "conflict")
    return code, str(exc)


async def _reject(
    wiring: IntakeWiring,
    record: ConsumerRecord[bytes, bytes],
    agency: str,
    event_id: str | None,
    *,
    code: str,
    detail: str,
) -> None:
    reason = f"{code}: {detail}"
    rejection = Rejection.of(record, reason)
    # The dead letter first: once it is safe in Kafka the source record may be committed.
    await send_to_dead_letters(wiring.producer, wiring.deadletter_topic, rejection, CONSUMER)
    await count_rejection(
        wiring.deps,
        IntakeRejectionRecord(
            agency=agency,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event_id=event_id,
            code=code,
            reason=reason,
        ),
    )
    DEAD_LETTERS.labels(CONSUMER, code).inc()
    EVENTS_CONSUMED.labels(CONSUMER, record.topic, "rejected").inc()
    log.warning("intake event dead-lettered", agency=agency, reason=reason)
