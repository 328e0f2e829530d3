"""Build envelopes from event data and parse them back into typed events."""

from __future__ import annotations

from pydantic import ValidationError

from gayari_shared.events.contracts import CATALOGUE, EventBase
from gayari_shared.events.envelope import Envelope, InvalidEventError
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
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise InvalidEventError(f"invalid {envelope.type} data: {fields}") from exc
    if data.subject != envelope.subject:
        raise InvalidEventError("ce_subject differs from the data's subject")
    return to_latest(data)
