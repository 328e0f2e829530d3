"""Households as the registry knows them. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from gayari_shared.areas import AreaDirectory
from gayari_shared.events.contracts import HouseholdRegisteredV1
from gayari_shared.rules import RuleViolationError

Digits16 = Annotated[str, StringConstraints(pattern=r"^\d{16}$")]
VillageCode = Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class Member(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PersonName
    nik: Digits16 = Field(description="Nomor Induk Kependudukan, 16 digits")
    sex: Literal["M", "F"]
    birth_date: date
    relationship: Literal["head", "spouse", "child", "parent", "other"]


class HouseholdApplication(BaseModel):
    """What an operator submits to register a household."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kk: Digits16 = Field(description="Family card number (Kartu Keluarga), 16 digits")
    head_name: PersonName
    village_code: VillageCode = Field(description="Kemendagri village code, e.g. 62.09.01.2001")
    welfare_decile: int = Field(ge=1, le=10, description="Socio-economic welfare decile, 1-10")
    members: list[Member] = Field(min_length=1)


class Household(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    kk: str
    head_name: str
    village_code: str
    welfare_decile: int
    members: list[Member]
    registered_at: AwareDatetime


def register(
    application: HouseholdApplication,
    areas: AreaDirectory,
    *,
    household_id: uuid.UUID,
    now: datetime,
) -> Household:
    if areas.village(application.village_code) is None:
        raise RuleViolationError("village_code", "unknown Kemendagri village code")
    return Household(
        id=household_id,
        kk=application.kk,
        head_name=application.head_name,
        village_code=application.village_code,
        welfare_decile=application.welfare_decile,
        members=application.members,
        registered_at=now,
    )


def registered_event(household: Household, kk_hash: str) -> HouseholdRegisteredV1:
    """The public fact of a registration: no name, NIK or KK, only the KK's keyed hash."""
    return HouseholdRegisteredV1(
        household_id=household.id,
        village_code=household.village_code,
        welfare_decile=household.welfare_decile,
        member_count=len(household.members),
        kk_hash=kk_hash,
        registered_at=household.registered_at,
    )
