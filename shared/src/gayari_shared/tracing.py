"""OpenTelemetry traces, carried from the HTTP request through Kafka to every consumer.

The W3C trace context travels as the CloudEvents distributed-tracing extension (`ce_traceparent`,
`ce_tracestate` headers), so any CloudEvents-aware consumer can continue the trace. Tracing is
off (the API's no-op tracer, next to no cost) unless an exporter is configured:
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) for an OTLP/HTTP collector,
or GAYARI_TRACES_CONSOLE=true to print spans.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind
from starlette.types import Scope

TRACER = "gayari"


def configure_tracing(service: str, processor: SpanProcessor | None = None) -> bool:
    """Install a tracer provider when there is somewhere to send spans; True if it did."""
    if processor is None:
        exporter = _exporter_from_environment()
        if exporter is None:
            return False
        processor = BatchSpanProcessor(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": f"gayari-{service}"}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return True


def _exporter_from_environment() -> SpanExporter | None:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        return OTLPSpanExporter()
    if os.environ.get("GAYARI_TRACES_CONSOLE", "").lower() in {"1", "true", "yes"}:
        return ConsoleSpanExporter()
    return None


def current_trace_context() -> tuple[str | None, str | None]:
    """(traceparent, tracestate) of the span in hand, for an event being written."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context:
    carrier = {"traceparent": traceparent} if traceparent else {}
    if traceparent and tracestate:
        carrier["tracestate"] = tracestate
    return propagate.extract(carrier)


def tracing_enabled() -> bool:
    """Whether spans go anywhere (a lookup in the environment, under a microsecond). A consumer
    asks once per batch and skips the per-event span, half its decoding time, when they go
    nowhere; the HTTP middleware asks once per request."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


@contextmanager
def consuming(
    event_type: str, traceparent: str | None, tracestate: str | None, **attributes: str
) -> Iterator[Span]:
    """A consumer span, child of the span that wrote the event."""
    tracer = trace.get_tracer(TRACER)
    with tracer.start_as_current_span(
        f"process {event_type}",
        context=context_of(traceparent, tracestate),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "cloudevents.event_type": event_type,
            **attributes,
        },
    ) as span:
        yield span


@contextmanager
def server_span(scope: Scope) -> Iterator[Span]:
    """A server span for an HTTP request, continuing a caller's `traceparent` if it sent one."""
    headers: Mapping[str, str] = {
        k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
    }
    tracer = trace.get_tracer(TRACER)
    with tracer.start_as_current_span(
        f"{scope['method']} {scope['path']}",
        context=propagate.extract(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
    ) as span:
        yield span
