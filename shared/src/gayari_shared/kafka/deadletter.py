"""Dead letters: a record a consumer cannot accept is copied, untouched, to the dead-letter
topic with the reason and its origin in headers, and the consumer moves on.

Headers added: dlq-reason, dlq-source-topic, dlq-source-partition, dlq-source-offset,
dlq-consumer, dlq-time. The original key, value and headers are kept, so the record can be
repaired and published again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord

REASON_HEADER = "dlq-reason"


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
