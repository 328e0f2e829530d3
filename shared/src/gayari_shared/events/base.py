"""The base of every event contract: streams, common field patterns, EventData."""

from __future__ import annotations

import uuid
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict

# Streams are the logical topics; a deployment's topic is "<GAYARI_TOPIC_PREFIX>.<stream>".
HOUSEHOLDS: Final = "households"
INTERVENTIONS: Final = "interventions"
DOMAIN_STREAMS: Final = (HOUSEHOLDS, INTERVENTIONS)

VILLAGE_CODE_PATTERN = r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$"
AGENCY_CODE_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"


class EventData(BaseModel):
    """Base of every event's data.

    Unknown fields are ignored, not rejected: a consumer built against an older minor shape of
    a version keeps working when a producer adds an optional field. Anything else that changes
    a published schema needs a new version (see tests/unit/test_contract_compatibility.py).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    STREAM: ClassVar[str]

    household_id: uuid.UUID

    @property
    def subject(self) -> str:
        return str(self.household_id)
