"""What a consumed Kafka record became, and what projecting a batch of them did. Pure data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gayari_reporting.domain.projection import Fact

# (topic, partition)
PartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


# Not frozen: two of these are made for every event consumed, and a frozen dataclass's
# __init__ sets each field through object.__setattr__, several times a plain one's cost;
# nothing changes them after decoding.
@dataclass(slots=True)
class EventMeta:
    """What the logs say about a projected event."""

    event_id: uuid.UUID  # made text only when logged: most batches log a summary instead
    event_type: str
    correlation_id: str
    household_id: str


@dataclass(slots=True)
class ConsumedRecord:
    offset: int
    outcome: Fact | Rejected | None  # None: an event type this read model does not use
    meta: EventMeta | None = None


# A batch: each partition's records, decoded, in offset order.
Batch = dict[PartitionKey, list[ConsumedRecord]]


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: list[ConsumedRecord]
    skipped_as_seen: int
