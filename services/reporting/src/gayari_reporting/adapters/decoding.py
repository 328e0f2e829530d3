"""Kafka records decoded into what the projection takes: the fact each adds, or why it was
refused (stage 1 of service_layer/projection.py)."""

from __future__ import annotations

from datetime import datetime

import structlog
from aiokafka import ConsumerRecord, TopicPartition

from gayari_reporting.domain.consumed import Batch, ConsumedRecord, EventMeta, Rejected
from gayari_reporting.domain.projection import fact_of
from gayari_shared.events.envelope import InvalidEventError
from gayari_shared.events.factory import decode_event
from gayari_shared.tracing import consuming, tracing_enabled

log = structlog.get_logger(__name__)


def decode(
    record: ConsumerRecord[bytes, bytes], until: datetime | None = None, *, traced: bool = True
) -> ConsumedRecord:
    """The fact a record adds; with `until`, nothing for an event whose time is later. With
    `traced`, a consumer span per event, child of the request that caused it."""
    try:
        envelope, data = decode_event(record.key, record.value, record.headers)
        if until is not None and envelope.time > until:
            return ConsumedRecord(record.offset, None)
    except InvalidEventError as exc:
        log.warning(
            "event rejected",
            reason=exc.reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        return ConsumedRecord(record.offset, Rejected(exc.reason))
    meta = EventMeta(envelope.id, envelope.type, envelope.correlationid, envelope.subject)
    if not traced:
        return ConsumedRecord(record.offset, fact_of(data, envelope.id), meta)
    with consuming(
        envelope.type,
        envelope.traceparent,
        envelope.tracestate,
        **{"cloudevents.event_id": str(envelope.id)},
    ):
        return ConsumedRecord(record.offset, fact_of(data, envelope.id), meta)


Fetched = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


def decode_batch(
    fetched: Fetched, *, until: datetime | None = None, traced: bool | None = None
) -> Batch:
    """Every record of a fetch decoded (see `decode`); `traced` None: if tracing is on."""
    trace = tracing_enabled() if traced is None else traced
    return {
        (tp.topic, tp.partition): [decode(r, until, traced=trace) for r in rs]
        for tp, rs in fetched.items()
    }
