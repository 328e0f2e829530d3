"""Which dead letters a redrive sends back to an agency's intake topic. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gayari_shared.kafka.deadletter import INTAKE_CONSUMER, DeadLetter


@dataclass(frozen=True, slots=True)
class RedriveSelection:
    """The dead letters of one agency's intake topic, optionally of one reason code and
    refused in [since, until)."""

    intake_topic: str
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        if letter.consumer != INTAKE_CONSUMER or letter.source_topic != self.intake_topic:
            return False
        if self.reason is not None and letter.reason_code != self.reason:
            return False
        if self.since is None and self.until is None:
            return True
        if letter.refused_at is None:
            return False
        if self.since is not None and letter.refused_at < self.since:
            return False
        return self.until is None or letter.refused_at < self.until
