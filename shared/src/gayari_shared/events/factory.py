"""Build envelopes from event data and parse them back into typed events."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from gayari_shared.events.contracts import CATALOGUE, EventBase
from gayari_shared.events.envelope import (
    Envelope,
    EventAttributes,
    InvalidEventError,
    invalid_fields,
)
from gayari_shared.events.upcasting import to_latest
from gayari_shared.tracing import current_trace_context


def envelope_for(data: EventBase, *, source: str, correlation_id: str) -> Envelope:
    """The event's envelope; it carries the trace context of the span in hand, if any."""
    traceparent, tracestate = current_trace_context()
    return Envelope(
        source=source,
        type=data.TYPE,
        subject=data.subject,
        correlationid=correlation_id,
        traceparent=traceparent,
        tracestate=tracestate,
        data=data.model_dump(mode="json"),
    )


def parse_data(envelope: Envelope) -> EventBase:
    """The typed data of a known event type, upcast to its newest version; InvalidEventError
    names what is wrong."""
    model = CATALOGUE.get(envelope.type)
    if model is None:
        raise InvalidEventError(f"unknown event type {envelope.type}")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid {envelope.type} data: {invalid_fields(exc)}") from exc
    if data.subject != envelope.subject:
        raise InvalidEventError("ce_subject differs from the data's subject")
    return to_latest(data)


def decode_event(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> tuple[EventAttributes, EventBase]:
    """A record's attributes and typed data, upcast: what `Envelope.from_kafka` then
    `parse_data` give, with the same checks, for consumers that need speed. The data is
    validated straight from the JSON bytes into its model, never built as a dict first."""
    attributes = EventAttributes.from_headers(key, headers)
    if value is None:
        raise InvalidEventError("record has no value")
    model = CATALOGUE.get(attributes.type)
    if model is None:
        raise InvalidEventError(f"unknown event type {attributes.type}")
    try:
        data = model.model_validate_json(value)
    except ValidationError as exc:
        errors = exc.errors()
        if errors[0]["type"] == "json_invalid":
            raise InvalidEventError(f"value is not JSON: {errors[0]['msg']}") from exc
        if errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            raise InvalidEventError("value is not a JSON object") from exc
        raise InvalidEventError(f"invalid {attributes.type} data: {invalid_fields(exc)}") from exc
    if data.subject != attributes.subject:
        raise InvalidEventError("ce_subject differs from the data's subject")
    return attributes, to_latest(data)
