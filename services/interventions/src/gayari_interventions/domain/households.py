"""What the interventions service knows of a household, learnt from the registry's events, and
the rule that interventions go to enrolled households only. Pure: no I/O.

Every event is applied so that the result does not depend on order or repetition: the latest
enrolment and the latest exit are kept by their own timestamps and the household is enrolled
when it enrolled after it last exited. A redelivered or late event changes nothing it should
not.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from gayari_shared.events.households import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.rules import RuleViolationError

HouseholdEvent = (
    HouseholdRegisteredV1 | HouseholdDetailsChangedV1 | HouseholdEnrolledV1 | HouseholdExitedV1
)


class KnownHousehold(BaseModel):
    model_config = ConfigDict(frozen=True)

    household_id: uuid.UUID
    # None until the registration arrives (an enrolment could in principle overtake it).
    village_code: str | None = None
    welfare_decile: int | None = None
    registered_at: AwareDatetime | None = None
    enrolled_at: AwareDatetime | None = None
    exited_at: AwareDatetime | None = None
    exit_reason: str | None = None
    # None: the registry has not told us the members (events from before it did).
    member_ids: frozenset[uuid.UUID] | None = None
    members_as_of: AwareDatetime | None = None

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None and (
            self.exited_at is None or self.enrolled_at > self.exited_at
        )

    @property
    def exited(self) -> bool:
        return self.exited_at is not None and not self.enrolled


def _members(
    known: KnownHousehold, member_ids: list[uuid.UUID], as_of: datetime
) -> dict[str, object]:
    # An empty list means "not told", never "no members": a household has at least its head.
    if not member_ids or (known.members_as_of is not None and known.members_as_of >= as_of):
        return {}
    return {"member_ids": frozenset(member_ids), "members_as_of": as_of}


def apply_household_event(known: KnownHousehold, event: HouseholdEvent) -> KnownHousehold:
    """The household after the event; the same household if the event adds nothing."""
    changes: dict[str, object] = {}
    match event:
        case HouseholdRegisteredV1():
            if known.registered_at is None:
                changes = {
                    "village_code": event.village_code,
                    "welfare_decile": event.welfare_decile,
                    "registered_at": event.registered_at,
                }
            changes |= _members(known, event.member_ids, event.registered_at)
        case HouseholdDetailsChangedV1():
            # Village and decile changes do not bear on interventions; members do.
            changes = _members(known, event.member_ids, event.changed_at)
        case HouseholdEnrolledV1():
            if known.enrolled_at is None or event.enrolled_at > known.enrolled_at:
                changes = {"enrolled_at": event.enrolled_at}
        case HouseholdExitedV1():
            if known.exited_at is None or event.exited_at > known.exited_at:
                changes = {"exited_at": event.exited_at, "exit_reason": event.reason}
    return known.model_copy(update=changes) if changes else known


def require_enrolled(household_id: uuid.UUID, known: KnownHousehold | None) -> KnownHousehold:
    """The household, if interventions may be recorded for it; otherwise a 422 naming it."""
    if known is None:
        raise RuleViolationError(
            "household_id", f"household {household_id} is unknown: the registry never registered it"
        )
    if known.exited:
        raise RuleViolationError(
            "household_id",
            f"household {household_id} has exited GAYARI ({known.exit_reason}) and receives "
            "no more interventions",
        )
    if not known.enrolled:
        raise RuleViolationError(
            "household_id", f"household {household_id} is registered but not enrolled in GAYARI"
        )
    return known


def require_member(known: KnownHousehold, member_id: uuid.UUID) -> None:
    # Unknown members (older registry events) cannot be checked; they are taken on trust.
    if known.member_ids is not None and member_id not in known.member_ids:
        raise RuleViolationError(
            "member_id", f"member {member_id} is not a member of household {known.household_id}"
        )
