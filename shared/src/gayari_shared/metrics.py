"""Prometheus metrics every service exposes at /metrics.

One process per service instance, so the default registry is enough; the names are the ones
the Grafana dashboard in deploy/ reads.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_LATENCY = Histogram(
    "gayari_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_PUBLISHED = Counter(
    "gayari_events_published_total", "Events the outbox relay published", ["topic"]
)
EVENTS_CONSUMED = Counter(
    "gayari_events_consumed_total",
    "Records consumed, by consumer and outcome (applied, duplicate, rejected)",
    ["consumer", "topic", "outcome"],
)
CONSUMER_LAG = Gauge(
    "gayari_consumer_lag", "Records on assigned partitions not yet processed", ["consumer"]
)
OUTBOX_PENDING = Gauge("gayari_outbox_pending", "Outbox rows committed but not yet published")
DEAD_LETTERS = Counter(
    "gayari_dead_letters_total", "Records sent to the dead-letter topic", ["consumer", "reason"]
)


def metrics_response(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class HttpMetricsMiddleware:
    """Times every request under its route template (e.g. /households/{household_id}), so the
    label set stays bounded whatever ids clients send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_LATENCY.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
