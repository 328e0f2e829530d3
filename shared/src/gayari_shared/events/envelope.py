"""CloudEvents 1.0 envelope carried with the CloudEvents Kafka protocol binding, binary mode.

Binary mode: the attributes travel as `ce_*` headers (`datacontenttype` as `content-type`) and the
Kafka value is the event data itself. We chose it over structured mode because
- the value is the plain domain document, so its JSON Schema applies to the bytes on the topic
  and a consumer that knows nothing of CloudEvents still reads it;
- consumers route, filter and dead-letter on headers (type, source) without parsing the body;
- nothing is duplicated: the key is the household id (the CloudEvents `partitionkey`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

CONTENT_TYPE: Final = "application/json"
CE_PREFIX: Final = "ce_"
_ATTRIBUTES: Final = ("id", "source", "type", "specversion", "time", "subject", "correlationid")
# On the wire nothing is defaulted: a record lacking one of these is not one of our events.
_REQUIRED: Final = (*_ATTRIBUTES, "datacontenttype")
_REQUIRED_SET: Final = frozenset(_REQUIRED)


def invalid_fields(exc: ValidationError) -> str:
    """The fields a validation error names, dotted, for an InvalidEventError's reason."""
    return ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())


class InvalidEventError(ValueError):
    """A Kafka record that is not a valid GAYARI CloudEvent; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What goes on the wire: aiokafka's shapes for key, value and headers."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class EventAttributes(BaseModel):
    """The CloudEvents context attributes of one event: what travels in the headers."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str = Field(min_length=1)
    type: str = Field(pattern=r"^gayari\.[a-z0-9_.-]+\.v[0-9]+$")
    specversion: Literal["1.0"] = "1.0"
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str = Field(
        min_length=1,
        description="The household id (agency:<code> for an agency's own records); "
        "also the Kafka key",
    )
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    correlationid: str = Field(min_length=1, max_length=128)
    # CloudEvents Distributed Tracing extension: the W3C trace context of the cause.
    traceparent: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
    )
    tracestate: str | None = Field(default=None, max_length=512)

    @classmethod
    def from_headers(
        cls, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> EventAttributes:
        """The attributes of a record, checked (InvalidEventError says what is wrong)."""
        attributes = _header_attributes(headers)
        try:
            parsed = cls.model_validate(attributes)
        except ValidationError as exc:
            raise InvalidEventError(
                f"invalid CloudEvents attributes: {invalid_fields(exc)}"
            ) from exc
        if key is not None and key.decode(errors="replace") != parsed.subject:
            raise InvalidEventError("record key differs from ce_subject")
        return parsed


class Envelope(EventAttributes):
    """One event: the CloudEvents context attributes plus its data."""

    data: dict[str, Any]

    def to_kafka(self, topic: str) -> KafkaRecord:
        attributes = self.model_dump(mode="json", include=set(_ATTRIBUTES))
        headers = [(CE_PREFIX + name, str(attributes[name]).encode()) for name in _ATTRIBUTES]
        headers += [
            (CE_PREFIX + name, value.encode())
            for name, value in (("traceparent", self.traceparent), ("tracestate", self.tracestate))
            if value
        ]
        headers.append(("content-type", self.datacontenttype.encode()))
        value = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()
        return KafkaRecord(topic=topic, key=self.subject.encode(), value=value, headers=headers)

    @classmethod
    def from_kafka(
        cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Envelope:
        attributes = _header_attributes(headers)
        if value is None:
            raise InvalidEventError("record has no value")
        try:
            data = json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidEventError(f"value is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidEventError("value is not a JSON object")
        try:
            envelope = cls.model_validate({**attributes, "data": data})
        except ValidationError as exc:
            raise InvalidEventError(
                f"invalid CloudEvents attributes: {invalid_fields(exc)}"
            ) from exc
        if key is not None and key.decode(errors="replace") != envelope.subject:
            raise InvalidEventError("record key differs from ce_subject")
        return envelope


# What each header says, for the AsyncAPI documents.
_HEADER_DOCS: Final = {
    "id": "Unique per event: a consumer that has seen it already skips it",
    "source": "Who published it: /gayari/<service>, or /gayari/agencies/<code> for an agency",
    "type": "gayari.<stream>.<event>.v<major>: the schema of the value",
    "specversion": "CloudEvents 1.0",
    "time": "When it happened (RFC 3339)",
    "correlationid": "The correlation id of the request (X-Correlation-ID) or of the event that "
    "caused it",
    "traceparent": "W3C trace context of the cause (CloudEvents distributed tracing); only "
    "when tracing is on",
    "tracestate": "W3C trace state, with traceparent",
    "datacontenttype": "The value's media type (the CloudEvents datacontenttype)",
}


def header_name(attribute: str) -> str:
    return "content-type" if attribute == "datacontenttype" else CE_PREFIX + attribute


def headers_schema() -> dict[str, Any]:
    """The record headers of an event (binary mode) as a JSON Schema of their UTF-8 text: the
    attributes' own schemas, under their header names."""
    properties: dict[str, Any] = {}
    for name, attribute in EventAttributes.model_json_schema()["properties"].items():
        # An optional attribute is a header left out, never a null.
        branch = next(b for b in attribute.get("anyOf", [attribute]) if b.get("type") != "null")
        schema = {k: v for k, v in branch.items() if k not in ("title", "default")}
        described = _HEADER_DOCS.get(name) or attribute["description"]
        properties[header_name(name)] = {**schema, "description": described}
    return {
        "type": "object",
        "properties": properties,
        "required": [header_name(name) for name in _REQUIRED],
    }


# Header names as the binding writes them; any other casing still works, found the slow way.
_HEADER_NAMES: Final = {
    **{CE_PREFIX + name: name for name in (*_ATTRIBUTES, "traceparent", "tracestate")},
    "content-type": "datacontenttype",
}


def _header_attributes(headers: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
    """The CloudEvents attributes among a record's headers; other headers are not read."""
    attributes: dict[str, Any] = {}
    for name, raw in headers:
        attribute = _HEADER_NAMES.get(name)
        if attribute is None:
            lowered = name.lower()
            if lowered.startswith(CE_PREFIX):
                attribute = lowered.removeprefix(CE_PREFIX)
            elif lowered == "content-type":
                attribute = "datacontenttype"
            else:
                continue
        try:
            attributes[attribute] = raw.decode()
        except UnicodeDecodeError as exc:
            raise InvalidEventError(f"header {name} is not UTF-8") from exc
    if not attributes.keys() >= _REQUIRED_SET:  # a set operation: this runs for every record
        missing = [name for name in _REQUIRED if name not in attributes]
        raise InvalidEventError(f"invalid CloudEvents attributes: missing {', '.join(missing)}")
    return attributes
