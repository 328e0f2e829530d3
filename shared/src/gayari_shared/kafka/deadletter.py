"""Dead letters: a record a consumer cannot accept is copied, untouched, to the dead-letter
topic with the reason and its origin in headers, and the consumer moves on.

Headers added: dlq-reason, dlq-source-topic, dlq-source-partition, dlq-source-offset,
dlq-consumer, dlq-time. The original key, value and headers are kept, so the record can be
repaired and published again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiokafka import AIOKafkaProducer, ConsumerRecord

REASON_HEADER = "dlq-reason"
# The consumer (dlq-consumer) that refuses what agency systems publish on their intake topics:
# reporting counts its dead letters, the interventions' redrive sends them back.
INTAKE_CONSUMER = "interventions-intake"
# The headers added, as a JSON Schema of their UTF-8 text (for the AsyncAPI documents).
HEADERS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        REASON_HEADER: {"type": "string", "maxLength": 1000, "description": "Why it was refused"},
        "dlq-source-topic": {"type": "string", "description": "Where it was read"},
        "dlq-source-partition": {"type": "string", "pattern": r"^\d+$"},
        "dlq-source-offset": {"type": "string", "pattern": r"^\d+$"},
        "dlq-consumer": {"type": "string", "description": "The consumer that refused it"},
        "dlq-time": {"type": "string", "format": "date-time", "description": "When"},
    },
    "required": [
        REASON_HEADER,
        "dlq-source-topic",
        "dlq-source-partition",
        "dlq-source-offset",
        "dlq-consumer",
        "dlq-time",
    ],
}


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reason: str

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes], reason: str) -> Rejection:
        """The record as it was read, with why it is refused."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=list(record.headers),
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """What a dead letter's headers say: who refused which record, why and when, and the
    record's own headers as they were sent."""

    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    refused_at: datetime | None
    original_headers: list[tuple[str, bytes]]

    @property
    def reason_code(self) -> str:
        """The reason's code, the part before the colon (`rule-violation: ...`)."""
        return self.reason.split(":", 1)[0].strip() or "unknown"

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.original_headers if k == name]
        return found[-1].decode("utf-8", "replace") if found else None

    @classmethod
    def of(cls, headers: Sequence[tuple[str, bytes]]) -> DeadLetter | None:
        """None for a record without the headers send_to_dead_letters adds."""
        added = {k: bytes(v).decode("utf-8", "replace") for k, v in headers if k.startswith("dlq-")}
        try:
            partition = int(added["dlq-source-partition"])
            offset = int(added["dlq-source-offset"])
            source, consumer = added["dlq-source-topic"], added["dlq-consumer"]
        except (KeyError, ValueError):
            return None
        try:
            refused_at: datetime | None = datetime.fromisoformat(added["dlq-time"])
        except (KeyError, ValueError):
            refused_at = None
        if refused_at is not None and refused_at.tzinfo is None:
            refused_at = refused_at.replace(tzinfo=UTC)
        return cls(
            consumer=consumer,
            source_topic=source,
            source_partition=partition,
            source_offset=offset,
            reason=added.get(REASON_HEADER, ""),
            refused_at=refused_at,
            original_headers=[(k, bytes(v)) for k, v in headers if not k.startswith("dlq-")],
        )


def dead_letter_headers(rejection: Rejection, consumer: str) -> list[tuple[str, bytes]]:
    kept = [(k, v) for k, v in rejection.headers if not k.startswith("dlq-")]
    return [
        *kept,
        (REASON_HEADER, rejection.reason.encode()[:1000]),
        ("dlq-source-topic", rejection.topic.encode()),
        ("dlq-source-partition", str(rejection.partition).encode()),
        ("dlq-source-offset", str(rejection.offset).encode()),
        ("dlq-consumer", consumer.encode()),
        ("dlq-time", datetime.now(UTC).isoformat().encode()),
    ]


async def send_to_dead_letters(
    producer: AIOKafkaProducer, topic: str, rejection: Rejection, consumer: str
) -> None:
    """Returns once the broker has the dead letter: only then may the source be committed."""
    await producer.send_and_wait(
        topic,
        value=rejection.value,
        key=rejection.key,
        headers=dead_letter_headers(rejection, consumer),
    )
