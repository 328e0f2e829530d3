"""The base of every event contract: streams, common field patterns, EventData.

Two kinds of event, told apart by their subject (the CloudEvents `subject`, also the Kafka key):
- `EventData`: about one household; subject = the household id, so one household's events stay
  in order on one partition;
- `AgencyEventData`: about an agency's own business (budgets, training sessions), no household;
  subject = `agency:<code>`, so one agency's events stay in order on one partition.
`EventBase` is what both share; code that handles any event (the catalogue, envelopes, parsing,
upcasting) is typed with it.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

# Streams are the logical topics; a deployment's topic is "<GAYARI_TOPIC_PREFIX>.<stream>".
HOUSEHOLDS: Final = "households"
INTERVENTIONS: Final = "interventions"
DOMAIN_STREAMS: Final = (HOUSEHOLDS, INTERVENTIONS)

VILLAGE_CODE_PATTERN = r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$"
AGENCY_CODE_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"
AGENCY_SUBJECT_PREFIX: Final = "agency:"


class EventBase(BaseModel):
    """Base of every event's data, whatever it is about.

    Unknown fields are ignored, not rejected: a consumer built against an older minor shape of
    a version keeps working when a producer adds an optional field. Anything else that changes
    a published schema needs a new version (see tests/unit/test_contract_compatibility.py).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    STREAM: ClassVar[str]

    @property
    def subject(self) -> str:
        """The CloudEvents subject and Kafka key: what the event is about."""
        raise NotImplementedError


class EventData(EventBase):
    """Base of every event about one household."""

    household_id: uuid.UUID

    @property
    def subject(self) -> str:
        return str(self.household_id)


def agency_subject(agency: str) -> str:
    return f"{AGENCY_SUBJECT_PREFIX}{agency}"


class AgencyEventData(EventBase):
    """Base of every event about an agency's own business rather than a household."""

    agency: str = Field(pattern=AGENCY_CODE_PATTERN)

    @property
    def subject(self) -> str:
        return agency_subject(self.agency)
