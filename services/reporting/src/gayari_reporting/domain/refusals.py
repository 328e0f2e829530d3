"""Intake refusals as the dead-letter topic tells them: which agency's record, refused why and
when. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gayari_shared.kafka.deadletter import INTAKE_CONSUMER, DeadLetter


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused intake record, keyed by where it was read (a dead letter written twice for
    one record is one refusal)."""

    source_topic: str
    source_partition: int
    source_offset: int
    agency: str
    reason_code: str
    reason: str
    event_id: str | None
    refused_at: datetime


def refusal_of(
    headers: Sequence[tuple[str, bytes]], topic_prefix: str, written_at: datetime
) -> Refusal | None:
    """The intake refusal a dead letter records, or None for another consumer's dead letter
    (or one without the headers the dead-letter plumbing adds)."""
    letter = DeadLetter.of(headers)
    stem = f"{topic_prefix}.intake."
    if (
        letter is None
        or letter.consumer != INTAKE_CONSUMER
        or not letter.source_topic.startswith(stem)
    ):
        return None
    return Refusal(
        source_topic=letter.source_topic,
        source_partition=letter.source_partition,
        source_offset=letter.source_offset,
        agency=letter.source_topic.removeprefix(stem),
        reason_code=letter.reason_code,
        reason=letter.reason,
        event_id=letter.header("ce_id"),
        refused_at=letter.refused_at or written_at,
    )
