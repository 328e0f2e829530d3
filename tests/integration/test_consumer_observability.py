"""The interventions' household consumer on the real Kafka and PostgreSQL, observed by what
production observes it with: FastStream's telemetry (a span per batch that lasts the handling,
its batch linked to the span that wrote each event) and the group's lag (gayari_consumer_lag)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from gayari_interventions.adapters.postgres import InterventionsUnitOfWork, unit_of_work
from gayari_interventions.entrypoints import consumers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_shared.kafka.broker import consuming_broker
from gayari_shared.kafka.deadletter import Rejection
from gayari_shared.settings import CommonSettings
from tests.integration.test_interventions_api import life, publish

pytestmark = pytest.mark.stack

HOUSEHOLDS = 40
BATCH = 10  # records per batch: several batches, so lag is seen before the last
HANDLING_S = 0.1  # each batch's transaction takes at least this long


def lag() -> float | None:
    return REGISTRY.get_sample_value("gayari_consumer_lag", {"consumer": consumers.GROUP_ID})


async def test_batch_spans_last_the_handling_and_the_groups_lag_is_exported(
    interventions_pool: asyncpg.Pool,
    isolated_settings: CommonSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    households = [uuid.uuid4() for _ in range(HOUSEHOLDS)]
    with provider.get_tracer("test").start_as_current_span("register") as cause:
        # The events carry this span as their cause (ce_traceparent).
        await publish(
            isolated_settings,
            [event for household in households for event in life(household, [])],
            "/gayari/registry",
        )
    monkeypatch.setattr(consumers, "MAX_RECORDS", BATCH)
    lag_seen: list[float | None] = []

    @asynccontextmanager
    async def slow() -> AsyncIterator[InterventionsUnitOfWork]:
        lag_seen.append(lag())  # as measured after the batches before this one
        async with unit_of_work(interventions_pool, "it") as uow:
            yield uow
            await asyncio.sleep(HANDLING_S)

    async def no_dead_letters(rejection: Rejection) -> None:
        raise AssertionError(f"dead-lettered: {rejection.reason}")

    broker = consuming_broker(
        "interventions", isolated_settings.kafka_connection(), tracer_provider=provider
    )
    consumers.register_consumers(
        broker,
        InterventionsDeps(unit_of_work=slow, agencies=frozenset()),
        isolated_settings.topic("households"),
        no_dead_letters,
    )
    await broker.start()
    try:
        async with asyncio.timeout(60):
            while await interventions_pool.fetchval(
                "SELECT count(*) FROM known_households WHERE enrolled_at IS NOT NULL"
            ) < len(households):
                await asyncio.sleep(0.1)
            while lag() != 0:  # measured once the last batch's handler returned
                await asyncio.sleep(0.05)
    finally:
        await broker.stop()
        provider.shutdown()

    assert len(lag_seen) >= (2 * HOUSEHOLDS) // BATCH
    assert any(seen is not None and seen > 0 for seen in lag_seen), lag_seen
    topic = isolated_settings.topic("households")
    finished = exporter.get_finished_spans()
    batches = [s for s in finished if s.name == f"{topic} process"]
    assert len(batches) == len(lag_seen)
    # FastStream's model of a batch: a "create" span linked to each event's cause, the
    # "process" span (the handling) its child.
    created = {s.context.span_id: s for s in finished if s.name == f"{topic} create"}
    cause_id = cause.get_span_context().span_id
    for span in batches:
        assert span.kind is trace.SpanKind.CONSUMER
        assert span.start_time is not None and span.end_time is not None
        assert (span.end_time - span.start_time) / 1e9 >= HANDLING_S
        assert span.parent is not None
        links = created[span.parent.span_id].links
        assert links and all(link.context.span_id == cause_id for link in links)
