"""Events of the registry: a household's life cycle.

No personal data: no name, NIK or KK, only the household id, area codes, figures and keyed
hashes (HMAC-SHA256 with GAYARI_HASH_SECRET) where another system must match a record.
"""

from __future__ import annotations

import uuid
from typing import Annotated, ClassVar, Final, Literal

from pydantic import AwareDatetime, Field

from gayari_shared.events.base import (
    AGENCY_CODE_PATTERN,
    HOUSEHOLDS,
    VILLAGE_CODE_PATTERN,
    EventData,
)

ExitReason = Literal["graduated", "moved", "deceased", "ineligible"]

# Added later as optional: events published before versions existed carry none.
HouseholdVersion = Annotated[
    int | None,
    Field(
        ge=1,
        description="The household's version at the registry after this change: 1 at its "
        "registration, one more with every change (the registry's ETag for the household)",
    ),
]


class HouseholdRegisteredV1(EventData):
    TYPE: ClassVar[str] = "gayari.household.registered.v1"
    STREAM: ClassVar[str] = HOUSEHOLDS

    village_code: str = Field(pattern=VILLAGE_CODE_PATTERN)
    welfare_decile: int = Field(ge=1, le=10)
    member_count: int = Field(ge=1)
    kk_hash: str = Field(description="HMAC-SHA256 of the family card number (hex)")
    registered_at: AwareDatetime
    # Added later as optional: events published before it carry none.
    member_ids: list[uuid.UUID] = Field(
        default=[], description="The registry's ids of the members (not personal data)"
    )
    household_version: HouseholdVersion = None


class HouseholdDetailsChangedV1(EventData):
    """Some of the household's public details changed; fields left out did not change."""

    TYPE: ClassVar[str] = "gayari.household.details-changed.v1"
    STREAM: ClassVar[str] = HOUSEHOLDS

    changed: list[Literal["welfare_decile", "members", "address", "village_code"]] = Field(
        min_length=1
    )
    welfare_decile: int | None = Field(default=None, ge=1, le=10)
    member_count: int | None = Field(default=None, ge=1)
    village_code: str | None = Field(default=None, pattern=VILLAGE_CODE_PATTERN)
    changed_at: AwareDatetime
    member_ids: list[uuid.UUID] = Field(
        default=[], description="All members' ids after the change; empty unless members changed"
    )
    household_version: HouseholdVersion = None


class HouseholdEnrolledV1(EventData):
    """The household joined GAYARI: from now on the agencies may give it interventions."""

    TYPE: ClassVar[str] = "gayari.household.enrolled.v1"
    STREAM: ClassVar[str] = HOUSEHOLDS

    cohort_year: int = Field(ge=2000, le=2100)
    enrolling_agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    enrolled_at: AwareDatetime
    household_version: HouseholdVersion = None


class HouseholdExitedV1(EventData):
    """The household left GAYARI; `graduated` means it became self-reliant."""

    TYPE: ClassVar[str] = "gayari.household.exited.v1"
    STREAM: ClassVar[str] = HOUSEHOLDS

    reason: ExitReason
    exited_at: AwareDatetime
    household_version: HouseholdVersion = None


HOUSEHOLD_EVENTS: Final[tuple[type[EventData], ...]] = (
    HouseholdRegisteredV1,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
)
