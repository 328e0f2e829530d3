"""The broker services consume with (gayari_shared.kafka.broker): FastStream's telemetry makes a
consumer span that lasts the handling and continues the event's trace (carried as
`ce_traceparent`), its Prometheus middleware counts what was handled. In memory, with
TestKafkaBroker; tests/integration/test_consumer_observability.py runs it on the real Kafka."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from faststream.kafka import TestKafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from gayari_shared.kafka.broker import consuming_broker
from gayari_shared.kafka.connection import KafkaConnection

HANDLING_S = 0.05


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # this test's own: the process's stays as it is
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_a_consumer_span_continues_the_events_trace_and_lasts_the_handling(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    broker = consuming_broker("unit", KafkaConnection("127.0.0.1:9"), tracer_provider=provider)
    seen: list[trace.SpanContext] = []

    @broker.subscriber("unit.events", group_id="unit-group")
    async def handle(body: dict[str, str]) -> None:
        seen.append(trace.get_current_span().get_span_context())
        await asyncio.sleep(HANDLING_S)  # the span must still be open when this ends

    trace_id, cause = secrets.token_hex(16), secrets.token_hex(8)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            b"{}", "unit.events", headers={"ce_traceparent": f"00-{trace_id}-{cause}-01"}
        )

    (process,) = [s for s in exporter.get_finished_spans() if s.name == "unit.events process"]
    assert process.kind is trace.SpanKind.CONSUMER
    assert f"{process.context.trace_id:032x}" == trace_id
    assert process.parent is not None and f"{process.parent.span_id:016x}" == cause
    assert seen == [process.context]  # the handler ran inside it
    assert process.end_time is not None and process.start_time is not None
    assert (process.end_time - process.start_time) / 1e9 >= HANDLING_S


async def test_a_record_without_trace_context_starts_a_trace_of_its_own(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    broker = consuming_broker("unit", KafkaConnection("127.0.0.1:9"), tracer_provider=provider)

    @broker.subscriber("unit.untraced", group_id="unit-group")
    async def handle(body: dict[str, str]) -> None:
        pass

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"{}", "unit.untraced")

    (process,) = [s for s in exporter.get_finished_spans() if s.name == "unit.untraced process"]
    assert process.parent is not None  # FastStream's "create" span, no caller's
    assert process.parent.trace_id == process.context.trace_id


async def test_handled_records_are_counted_by_fast_streams_prometheus_middleware() -> None:
    broker = consuming_broker("unit-metrics", KafkaConnection("127.0.0.1:9"))

    @broker.subscriber("unit.counted", group_id="unit-group")
    async def handle(body: dict[str, str]) -> None:
        pass

    labels = {"app_name": "gayari-unit-metrics", "broker": "kafka", "handler": "unit.counted"}
    before = REGISTRY.get_sample_value("faststream_received_messages_total", labels) or 0.0
    async with TestKafkaBroker(broker) as test_broker:
        for _ in range(3):
            await test_broker.publish(b"{}", "unit.counted")
    after = REGISTRY.get_sample_value("faststream_received_messages_total", labels)
    assert after == before + 3
    processed = REGISTRY.get_sample_value(
        "faststream_received_processed_messages_total", {**labels, "status": "acked"}
    )
    assert processed is not None and processed >= 3
