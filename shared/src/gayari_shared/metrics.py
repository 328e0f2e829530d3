"""Prometheus metrics every service exposes at /metrics.

One process per service instance, so the default registry is enough; the names are the ones
the Grafana dashboard in deploy/ reads.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

HTTP_LATENCY = Histogram(
    "gayari_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# Bounded like the label set: methods x route templates x statuses.
_latency_by_label: dict[tuple[str, str, int], Histogram] = {}
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


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Time a request under its route template (e.g. /households/{household_id}), so the label
    set stays bounded whatever ids clients send."""
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    key = (scope["method"], template, status)
    histogram = _latency_by_label.get(key)
    if histogram is None:
        # The labelled child is looked up (labels checked, a lock taken) once per label set.
        histogram = HTTP_LATENCY.labels(scope["method"], template, str(status))
        _latency_by_label[key] = histogram
    histogram.observe(seconds)
