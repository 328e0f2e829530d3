"""Versioned event contracts. Each event names its CloudEvents type and its stream.

No personal data travels on Kafka: events carry the household id and keyed hashes only.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Streams are the logical topics; a deployment's topic is "<GAYARI_TOPIC_PREFIX>.<stream>".
HOUSEHOLDS: Final = "households"
INTERVENTIONS: Final = "interventions"
DOMAIN_STREAMS: Final = (HOUSEHOLDS, INTERVENTIONS)

VillageCode = str
_VILLAGE_CODE = r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$"
_AGENCY_CODE = r"^[a-z][a-z0-9-]{1,31}$"


class EventData(BaseModel):
    """Base of every event's data: strict about unknown fields so contracts stay explicit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    STREAM: ClassVar[str]

    household_id: uuid.UUID

    @property
    def subject(self) -> str:
        return str(self.household_id)


class HouseholdRegisteredV1(EventData):
    TYPE: ClassVar[str] = "gayari.household.registered.v1"
    STREAM: ClassVar[str] = HOUSEHOLDS

    village_code: VillageCode = Field(pattern=_VILLAGE_CODE)
    welfare_decile: int = Field(ge=1, le=10)
    member_count: int = Field(ge=1)
    kk_hash: str = Field(description="HMAC-SHA256 of the family card number (hex)")
    registered_at: AwareDatetime


class GrantIssuedV1(EventData):
    TYPE: ClassVar[str] = "gayari.grant.issued.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    grant_id: uuid.UUID
    agency: str = Field(pattern=_AGENCY_CODE)
    kind: Literal["capital", "equipment"]
    amount_idr: int = Field(gt=0)
    issued_at: AwareDatetime


class TrainingCompletedV1(EventData):
    TYPE: ClassVar[str] = "gayari.training.completed.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    completion_id: uuid.UUID
    agency: str = Field(pattern=_AGENCY_CODE)
    topic: str = Field(min_length=1, max_length=200)
    hours: int = Field(gt=0, le=1000)
    completed_on: date
    recorded_at: AwareDatetime


CATALOGUE: Final[dict[str, type[EventData]]] = {
    model.TYPE: model for model in (HouseholdRegisteredV1, GrantIssuedV1, TrainingCompletedV1)
}

__all__ = [
    "CATALOGUE",
    "DOMAIN_STREAMS",
    "HOUSEHOLDS",
    "INTERVENTIONS",
    "EventData",
    "GrantIssuedV1",
    "HouseholdRegisteredV1",
    "TrainingCompletedV1",
]
