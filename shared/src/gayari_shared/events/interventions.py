"""Events of the interventions the agencies give to households."""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Final, Literal

from pydantic import AwareDatetime, Field

from gayari_shared.events.base import (
    AGENCY_CODE_PATTERN,
    INTERVENTIONS,
    EventData,
)


class GrantIssuedV1(EventData):
    TYPE: ClassVar[str] = "gayari.grant.issued.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    grant_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0)
    issued_at: AwareDatetime


class TrainingCompletedV1(EventData):
    TYPE: ClassVar[str] = "gayari.training.completed.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    completion_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    topic: str = Field(min_length=1, max_length=200)
    hours: int = Field(gt=0, le=1000)
    completed_on: date
    recorded_at: AwareDatetime


INTERVENTION_EVENTS: Final[tuple[type[EventData], ...]] = (GrantIssuedV1, TrainingCompletedV1)
