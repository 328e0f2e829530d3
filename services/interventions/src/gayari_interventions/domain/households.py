"""What the interventions service knows of a household, learnt from the registry's events, and
the rule that interventions go to enrolled households only. Pure: no I/O.

Every event is applied so that the result does not depend on order or repetition: the latest
enrolment and the latest exit are kept by their own timestamps and the household is enrolled
when it enrolled after it last exited. A redelivered or late event changes nothing it should
not.

The consumer applies a whole batch of events at once: `fold_household_events` keeps, per
household and per group of fields, the event that wins it by the rules of
`apply_household_event`, and `merge_household` puts those winners onto the stored household.
Folding first and merging the winners ends where applying the events one by one ends, the
last event that changed the household included (tests/unit/test_interventions_households.py
checks every order).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from gayari_shared.areas.zones import zone_info
from gayari_shared.events.households import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.interventions import JAKARTA
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
    # The registry's keyed hash (HMAC-SHA256) of the family card number: how an agency's
    # spreadsheet, which knows households by KK, finds one here without the KK leaving it.
    kk_hash: str | None = None
    enrolled_at: AwareDatetime | None = None
    exited_at: AwareDatetime | None = None
    exit_reason: str | None = None
    # None: the registry has not told us the members (events from before it did).
    member_ids: frozenset[uuid.UUID] | None = None
    members_as_of: AwareDatetime | None = None
    # The registry's version of the household (HouseholdVersion) in the latest event applied;
    # 0 when no applied event carried one. A household's events arrive in order (one
    # partition, one outbox lane), so every change up to this version is applied.
    version: int = 0

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
                    "kk_hash": event.kk_hash,
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
    if event.household_version is not None and event.household_version > known.version:
        changes["version"] = event.household_version
    return known.model_copy(update=changes) if changes else known


# -- a batch of events at once ------------------------------------------------------------------

Group = Literal["registration", "members", "enrolment", "exit"]
# The field each group is ordered by. The registration is the first one (it is taken only while
# the household has none); members, enrolment and exit are the latest by their time, the
# earlier event keeping a tie.
_ORDERED_BY: Final[dict[Group, str]] = {
    "registration": "registered_at",
    "members": "members_as_of",
    "enrolment": "enrolled_at",
    "exit": "exited_at",
}


@dataclass(frozen=True, slots=True)
class Claim:
    """What one event sets in one group of fields, and where it stands in its batch."""

    fields: dict[str, Any]  # KnownHousehold's field names
    at: datetime
    position: int
    event_id: uuid.UUID


def _wins(group: Group, held: datetime | None, claim: datetime) -> bool:
    """Whether an event setting `group` at `claim` changes a household that has it at `held`."""
    if group == "registration":
        return held is None
    return held is None or claim > held


def _claims(event: HouseholdEvent) -> list[tuple[Group, dict[str, Any], datetime]]:
    """The groups of fields an event sets, as apply_household_event reads it."""
    claims: list[tuple[Group, dict[str, Any], datetime]] = []
    match event:
        case HouseholdRegisteredV1():
            registered = {
                "village_code": event.village_code,
                "welfare_decile": event.welfare_decile,
                "registered_at": event.registered_at,
                "kk_hash": event.kk_hash,
            }
            claims.append(("registration", registered, event.registered_at))
            members_at = event.registered_at
        case HouseholdDetailsChangedV1():
            members_at = event.changed_at
        case HouseholdEnrolledV1():
            return [("enrolment", {"enrolled_at": event.enrolled_at}, event.enrolled_at)]
        case HouseholdExitedV1():
            exited = {"exited_at": event.exited_at, "exit_reason": event.reason}
            return [("exit", exited, event.exited_at)]
    if event.member_ids:  # empty: "not told", never "no members"
        members = {"member_ids": frozenset(event.member_ids), "members_as_of": members_at}
        claims.append(("members", members, members_at))
    return claims


_NO_TIME: Final = datetime.min  # a version claim is ordered by its number, not a time


@dataclass(slots=True)
class HouseholdChanges:
    """What a batch says about one household: per group of fields, the event that wins it."""

    household_id: uuid.UUID
    first_event: uuid.UUID  # the household's first event in the batch
    claims: dict[Group, Claim] = field(default_factory=dict)
    # The highest registry version in the batch, and the event that carried it.
    version: Claim | None = None

    def add(self, event: HouseholdEvent, event_id: uuid.UUID, position: int) -> None:
        for group, fields, at in _claims(event):
            held = self.claims.get(group)
            if held is None or _wins(group, held.at, at):
                self.claims[group] = Claim(fields, at, position, event_id)
        version = event.household_version
        if version is not None and (
            self.version is None or version > self.version.fields["version"]
        ):
            self.version = Claim({"version": version}, _NO_TIME, position, event_id)


def fold_household_events(
    events: Iterable[tuple[HouseholdEvent, uuid.UUID]],
) -> dict[uuid.UUID, HouseholdChanges]:
    """A batch of (event, event id), in the order consumed, folded to one entry per household."""
    folded: dict[uuid.UUID, HouseholdChanges] = {}
    for position, (event, event_id) in enumerate(events):
        changes = folded.get(event.household_id)
        if changes is None:
            changes = folded[event.household_id] = HouseholdChanges(event.household_id, event_id)
        changes.add(event, event_id, position)
    return folded


def merge_household(
    known: KnownHousehold | None, changes: HouseholdChanges
) -> tuple[KnownHousehold, uuid.UUID] | None:
    """The household after a batch's changes and the last event that changed it; None when the
    batch changes nothing. An unknown household is always stored, as its first event would."""
    base = known or KnownHousehold(household_id=changes.household_id)
    won = [
        claim
        for group, claim in changes.claims.items()
        if _wins(group, getattr(base, _ORDERED_BY[group]), claim.at)
    ]
    if changes.version is not None and changes.version.fields["version"] > base.version:
        won.append(changes.version)
    if known is not None and not won:
        return None
    update: dict[str, Any] = {}
    for claim in won:
        update |= claim.fields
    # One by one, the last event to change the household is the latest group winner: within a
    # group no event after its winner changes anything. With none, the event that created it.
    latest = max(won, key=lambda claim: claim.position, default=None)
    last_change = changes.first_event if latest is None else latest.event_id
    return base.model_copy(update=update), last_change


class HouseholdNotCurrentError(Exception):
    """This service's view of the household may be behind the registry's: the answer is
    "not yet", to retry, never a refusal. Its subclasses say whether the client named the
    version it expects."""

    retry_after_s: Final = 1

    def __init__(self, household_id: uuid.UUID, message: str) -> None:
        super().__init__(message)
        self.household_id = household_id
        self.message = message


class HouseholdBehindError(HouseholdNotCurrentError):
    """The client named a version of the household that this service has not reached."""


class HouseholdNotKnownYetError(HouseholdNotCurrentError):
    """No version named, and this service does not know the household as enrolled or exited:
    the registry may have registered or enrolled it moments ago."""


def require_current(
    household_id: uuid.UUID, known: KnownHousehold | None, version: int | None
) -> None:
    """Whether this service may decide on what it knows of the household. With the `version`
    the client had from the registry (its ETag), its view must have reached it. Without one,
    a household it does not know, or knows as registered and never enrolled, may be one whose
    registration or enrolment is still on its way: not decided either. An exit is decided on
    (a later enrolment is a write whose version its client holds and can send)."""
    if version is not None:
        if known is None or known.version < version:
            seen = "does not know it yet" if known is None else f"is at version {known.version}"
            raise HouseholdBehindError(
                household_id,
                f"household {household_id}: the registry's version {version} has not reached "
                f"the interventions service yet (it {seen}); retry shortly",
            )
        return
    if known is None:
        raise HouseholdNotKnownYetError(
            household_id,
            f"household {household_id} is not known to the interventions service yet: if the "
            "registry registered it moments ago, retry shortly, or send the registry's ETag as "
            "Gayari-Household-Version to have the service wait for it",
        )
    if not known.enrolled and not known.exited:
        raise HouseholdNotKnownYetError(
            household_id,
            f"household {household_id} is known to the interventions service as registered, "
            "not enrolled: if the registry enrolled it moments ago, retry shortly, or send the "
            "enrolment's ETag as Gayari-Household-Version to have the service wait for it",
        )


def require_enrolled(
    household_id: uuid.UUID, known: KnownHousehold | None, version: int | None = None
) -> KnownHousehold:
    """The household, if interventions may be recorded for it; a 422 naming it if they may
    not; HouseholdNotCurrentError if this service cannot tell yet (require_current), with the
    `version` of the household the client named, if it did."""
    require_current(household_id, known, version)
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


def household_zone(known: KnownHousehold) -> ZoneInfo:
    """The zone of the household's province, whose calendar its records' days and fiscal years
    follow (gayari_shared.areas.zones); Lamandau's (WIB) if its village is not known here."""
    return JAKARTA if known.village_code is None else zone_info(known.village_code)


def not_before_enrolment(field_name: str, day: date, known: KnownHousehold) -> None:
    """A record is dated on or after the day (in its province's zone) its household registered and
    enrolled: interventions go to enrolled households, on the day they happened as much as on
    the day they are typed in. Only the current enrolment is known here: a record of an
    earlier enrolment, typed in after an exit and a new enrolment, is refused too."""
    for what, at in (("registration", known.registered_at), ("enrolment", known.enrolled_at)):
        if at is not None and day < (since := at.astimezone(household_zone(known)).date()):
            raise RuleViolationError(
                field_name,
                f"{day.isoformat()} is before the household's {what} in GAYARI "
                f"({since.isoformat()})",
            )


def require_member(known: KnownHousehold, member_id: uuid.UUID) -> None:
    # Unknown members (older registry events) cannot be checked; they are taken on trust.
    if known.member_ids is not None and member_id not in known.member_ids:
        raise RuleViolationError(
            "member_id", f"member {member_id} is not a member of household {known.household_id}"
        )
