"""Reading records back: what an agency sees of its own records (and an administrator of
everyone's), how a list is filtered and paged. Pure: no I/O.

A list is ordered by when each record last changed (recorded, then maybe voided) and its id:
the keyset a cursor names, so a page never skips or repeats a record that did not change
meanwhile, and a client that asks for the changes since its last visit gets voids too.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_interventions.domain.budget import BudgetAllocation
from gayari_interventions.domain.grants import Grant
from gayari_interventions.domain.monitoring import BusinessSurvey, MentoringVisit
from gayari_interventions.domain.training import Participant, TrainingSession
from gayari_shared.events.interventions import VoidReason

# Records written with their event in one statement (see the unit of work's record).
Recordable = (
    Grant | TrainingSession | Participant | MentoringVisit | BusinessSurvey | BudgetAllocation
)

# The kinds an agency can list, by the path of their collection.
ListedKind = Literal[
    "grant", "training-session", "mentoring-visit", "business-survey", "budget-allocation"
]
DEFAULT_PAGE: Final = 100
MAX_PAGE: Final = 1000


class VoidStatus(BaseModel):
    """The record was voided: counted nowhere any more, kept for the audit."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "3e5a7c9b-1d2f-4a6b-8c0d-9e8f7a6b5c4d",
                    "reason": "duplicate",
                    "voided_at": "2026-12-01T03:40:00Z",
                }
            ]
        },
    )

    id: uuid.UUID = Field(description="The void's own id")
    reason: VoidReason
    voided_at: AwareDatetime


class RecordState(BaseModel):
    """What every listed record carries besides its own fields."""

    external_id: uuid.UUID | None = Field(
        description="The CloudEvents `id` the agency's system gave the record on its intake "
        "topic; None for a record made over HTTP",
        examples=["9d2e6b1a-3c4f-4a8b-8e7d-2f1a0b9c8d7e"],
    )
    changed_at: AwareDatetime = Field(
        description="When the record was recorded or, later, voided (server time): the "
        "`changed_since` filter and the order of a list",
        examples=["2026-11-30T02:15:00.004Z"],
    )
    void: VoidStatus | None = Field(description="Set when the record was voided")


class GrantRecord(Grant, RecordState):
    pass


class TrainingSessionRecord(TrainingSession, RecordState):
    pass


class MentoringVisitRecord(MentoringVisit, RecordState):
    pass


class BusinessSurveyRecord(BusinessSurvey, RecordState):
    pass


class BudgetAllocationRecord(BudgetAllocation, RecordState):
    pass


StoredRecord = (
    GrantRecord
    | TrainingSessionRecord
    | MentoringVisitRecord
    | BusinessSurveyRecord
    | BudgetAllocationRecord
)
RECORD_MODELS: Final[dict[ListedKind, type[StoredRecord]]] = {
    "grant": GrantRecord,
    "training-session": TrainingSessionRecord,
    "mentoring-visit": MentoringVisitRecord,
    "business-survey": BusinessSurveyRecord,
    "budget-allocation": BudgetAllocationRecord,
}


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page ends: the last record's (changed_at, id)."""

    changed_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """A list's question. `agency` None: every agency's (an administrator)."""

    agency: str | None
    household_id: uuid.UUID | None = None
    date_from: date | None = None
    date_to: date | None = None
    changed_since: datetime | None = None
    external_id: uuid.UUID | None = None
    after: Keyset | None = None
    limit: int = DEFAULT_PAGE


def in_utc_range(moment: datetime) -> datetime:
    """The moment, if it has a UTC time (0001-01-01T00:00+14:00 has none: the database driver
    would fail on it)."""
    try:
        moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range") from exc
    return moment


def encode_cursor(key: Keyset) -> str:
    text = json.dumps([key.changed_at.isoformat(), str(key.id)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Keyset | None:
    """The keyset a cursor names, or None when it is not a cursor of these lists."""
    if len(text) > 256:
        return None
    try:
        changed_at, record_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        at = in_utc_range(datetime.fromisoformat(changed_at))
        return Keyset(at, uuid.UUID(record_id)) if at.tzinfo is not None else None
    except (binascii.Error, ValueError, TypeError):  # JSON, unpacking, date and uuid errors
        return None


def paged(rows: list[StoredRecord], limit: int) -> tuple[list[StoredRecord], str | None]:
    """A page of `limit` records out of the `limit + 1` read, and the cursor of the next page
    when there is one (the extra record)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(Keyset(last.changed_at, last.id))
