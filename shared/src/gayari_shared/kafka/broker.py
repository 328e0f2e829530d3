"""The FastStream broker a service consumes with, observed by FastStream's own middlewares.

- `KafkaTelemetryMiddleware`: a consumer span per record (or per batch) that lasts the handling,
  child of the span that wrote the event (a batch's span links to each event's). Our events carry
  the W3C trace context as the CloudEvents extension (`ce_traceparent`, `ce_tracestate`), where
  FastStream does not look: `cloudevents_trace_context` hands it over under the W3C names.
- `KafkaPrometheusMiddleware`: `faststream_received_messages_total`,
  `faststream_received_processed_messages_duration_seconds`, ... by handler (the topics) and
  status, in the registry /metrics serves.

Each consumer group's lag is measured by its router (gayari_shared.kafka.lag).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from opentelemetry.trace import TracerProvider
from prometheus_client import REGISTRY

from gayari_shared.events.envelope import CE_PREFIX
from gayari_shared.kafka.connection import KafkaConnection

_TRACE_HEADERS = ("traceparent", "tracestate")


@asynccontextmanager
async def running(broker: KafkaBroker, *producers: AIOKafkaProducer) -> AsyncIterator[None]:
    """The broker's subscribers consuming for as long as the block runs; `producers`, which
    its handlers send with (dead letters), started before and stopped after them."""
    async with AsyncExitStack() as stack:
        for producer in producers:
            await producer.start()
            stack.push_async_callback(producer.stop)
        await broker.start()
        stack.push_async_callback(broker.stop)
        yield


def consuming_broker(
    service: str, kafka: KafkaConnection, tracer_provider: TracerProvider | None = None
) -> KafkaBroker:
    """A broker for `service`'s subscribers, logged in as its principal; spans go to
    `tracer_provider`, by default the process's (gayari_shared.tracing)."""
    return KafkaBroker(
        kafka.bootstrap_servers,
        security=kafka.faststream_security(),
        client_id=service,
        logger=None,
        parser=cloudevents_trace_context,
        # The first is the outermost: the span also covers what Prometheus measures.
        middlewares=[
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"gayari-{service}"),
        ],
    )


async def cloudevents_trace_context(
    record: Any, parse: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream's own parsing, then each record's `ce_traceparent`/`ce_tracestate` also under
    the W3C names its telemetry reads (over a transport-level `traceparent`, should a producer
    add one: the event's cause is the trace it continues); in a batch, the event id as each
    record's `correlation_id`, which FastStream makes one span link of."""
    message = await parse(record)
    for headers in message.batch_headers or [message.headers]:
        for name in _TRACE_HEADERS:
            value = headers.get(CE_PREFIX + name)
            if value is not None:
                headers[name] = value
        if message.batch_headers and (event_id := headers.get(CE_PREFIX + "id")) is not None:
            headers.setdefault("correlation_id", event_id)
    return message
