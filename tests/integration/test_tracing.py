"""A trace started by an HTTP caller continues through the outbox, Kafka headers
(ce_traceparent) and the reporting projector."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gayari_registry.bootstrap import create_app
from gayari_registry.settings import RegistrySettings
from gayari_reporting.adapters.decoding import decode
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process: OpenTelemetry allows no override
    yield exporter
    provider.shutdown()  # later tests create spans that go nowhere
    exporter.clear()


@pytest.fixture
async def registry(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        isolated_settings,
        RegistrySettings(database_url=await databases.create(migrated="registry")),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers=api_keys.bearer(api_keys.agencies["dinsos"]),
        ) as client:
            yield client


async def test_trace_context_travels_through_kafka(
    spans: InMemorySpanExporter, registry: httpx.AsyncClient, isolated_settings: CommonSettings
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    reply = await registry.post(
        "/households",
        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
        json={
            "kk": f"620902{uuid.uuid4().int % 10**10:010d}",
            "head_name": "Yulius Damang",
            "village_code": "62.09.02.2004",
            "welfare_decile": 3,
            "members": [
                {
                    "name": "Yulius Damang",
                    "nik": "6209020707800001",
                    "sex": "M",
                    "birth_date": "1980-07-07",
                    "relationship": "head",
                }
            ],
        },
    )
    assert reply.status_code == 201, reply.text

    (record,) = await read_topic(
        isolated_settings.kafka_connection(), isolated_settings.topic("households"), 1
    )
    traceparent = dict(record.headers)["ce_traceparent"].decode()
    assert traceparent.split("-")[1] == trace_id

    # One server span: FastAPI's own telemetry, which would add a second, is off.
    server = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert [s.name for s in server] == ["POST /households"]
    assert f"{server[0].context.trace_id:032x}" == trace_id
    assert f"{server[0].parent.span_id:016x}" == caller_span  # type: ignore[union-attr]

    consumed = decode(record)
    assert consumed.meta is not None
    processing = [
        s for s in spans.get_finished_spans() if s.name == "process gayari.household.registered.v1"
    ]
    assert len(processing) == 1
    assert f"{processing[0].context.trace_id:032x}" == trace_id
    assert processing[0].parent is not None
    assert f"{processing[0].parent.span_id:016x}" == traceparent.split("-")[2]
