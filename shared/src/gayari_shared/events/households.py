"""Events of the registry: a household's life cycle. No personal data: ids and keyed hashes."""

from __future__ import annotations

from typing import ClassVar, Final

from pydantic import AwareDatetime, Field

from gayari_shared.events.base import (
    HOUSEHOLDS,
    VILLAGE_CODE_PATTERN,
    EventData,
)


class HouseholdRegisteredV1(EventData):
    TYPE: ClassVar[str] = "gayari.household.registered.v1"
    STREAM: ClassVar[str] = HOUSEHOLDS

    village_code: str = Field(pattern=VILLAGE_CODE_PATTERN)
    welfare_decile: int = Field(ge=1, le=10)
    member_count: int = Field(ge=1)
    kk_hash: str = Field(description="HMAC-SHA256 of the family card number (hex)")
    registered_at: AwareDatetime


HOUSEHOLD_EVENTS: Final[tuple[type[EventData], ...]] = (HouseholdRegisteredV1,)
