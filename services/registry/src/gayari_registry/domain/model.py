"""Households as the registry knows them, and the rules of their life cycle. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from gayari_registry.domain import nik as nik_rules
from gayari_shared.areas import AreaDirectory
from gayari_shared.areas.zones import zone_info
from gayari_shared.events.contracts import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.households import ExitReason
from gayari_shared.events.interventions import JAKARTA, moment_of_day
from gayari_shared.inputs import FreeText, Integer, IsoDate, Text120
from gayari_shared.rules import RuleViolationError

# Digits are 0-9: the patterns' \d would also take other scripts' digits (pydantic's regex
# engine is Unicode-aware). Strict: a number is not a text, even one of the right digits.
Digits16 = Annotated[str, Strict(), StringConstraints(pattern=r"^[0-9]{16}$")]
VillageCode = Annotated[
    str, Strict(), StringConstraints(pattern=r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$")
]
PersonName = Text120
# RT and RW numbers are written with or without leading zeros; stored as three digits.
Neighbourhood = Annotated[
    str, Strict(), StringConstraints(pattern=r"^[0-9]{1,3}$"), AfterValidator(lambda v: v.zfill(3))
]
Sex = Literal["M", "F"]
Relationship = Literal["head", "spouse", "child", "parent", "other"]
Status = Literal["registered", "enrolled", "exited"]
Detail = Literal["welfare_decile", "members", "address", "village_code"]
FlagCode = Literal["nik-region-mismatch", "village-outside-regency", "nik-in-another-household"]
EARLIEST_COHORT = 2000


class NewMember(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PersonName
    nik: Digits16 = Field(description="Nomor Induk Kependudukan, 16 digits")
    sex: Sex
    birth_date: IsoDate
    relationship: Relationship


class MemberUpdate(NewMember):
    member_id: uuid.UUID | None = Field(
        default=None, description="An existing member's id to keep it; left out for a new member"
    )


class Member(BaseModel):
    model_config = ConfigDict(frozen=True)

    member_id: uuid.UUID
    name: str
    nik: str
    sex: Sex
    birth_date: date
    relationship: Relationship


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rt: Neighbourhood = Field(description="Rukun Tetangga number, e.g. 003")
    rw: Neighbourhood = Field(description="Rukun Warga number, e.g. 001")
    # Free text: an address may be written on several lines.
    street: FreeText = Field(
        default="", max_length=200, description="Street, hamlet (dusun), house"
    )


class Flag(BaseModel):
    """Something a reviewer should look at; never a reason to refuse the household."""

    model_config = ConfigDict(frozen=True)

    member_id: uuid.UUID | None = None
    code: FlagCode
    reason: str


class Enrolment(BaseModel):
    model_config = ConfigDict(frozen=True)

    cohort_year: int
    agency: str
    enrolled_at: AwareDatetime
    exit_reason: ExitReason | None = None
    exited_at: AwareDatetime | None = None


class HouseholdApplication(BaseModel):
    """What an operator submits to register a household."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kk: Digits16 = Field(description="Family card number (Kartu Keluarga), 16 digits")
    head_name: PersonName
    village_code: VillageCode = Field(description="Kemendagri village code, e.g. 62.09.01.2001")
    address: Address | None = None
    welfare_decile: Integer = Field(ge=1, le=10, description="Socio-economic welfare decile, 1-10")
    members: list[NewMember] = Field(min_length=1)
    registered_on: IsoDate | None = Field(
        default=None,
        description="The day the household was registered, in the calendar of its village's "
        "province (WIB in Lamandau; WITA, WIT elsewhere), for a register kept before GAYARI "
        "and typed in later; not in the future. Defaults to today.",
    )


class DetailsChange(BaseModel):
    """A change of a household's details; what is left out stays as it is. `members` replaces
    the whole list: members keep their id by quoting it, members left out leave the household."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head_name: PersonName | None = None
    village_code: VillageCode | None = None
    address: Address | None = None
    welfare_decile: Integer | None = Field(default=None, ge=1, le=10)
    members: list[MemberUpdate] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _something(self) -> DetailsChange:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give at least one field")
        return self


class Household(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    kk: str
    head_name: str
    village_code: str
    address: Address | None
    welfare_decile: int
    members: list[Member]
    flags: list[Flag]
    enrolments: list[Enrolment] = []
    registered_at: AwareDatetime
    updated_at: AwareDatetime
    # 1 at registration, one more with every change that publishes an event; 0 for a
    # household last changed before versions existed. Events carry it, and the interventions
    # service keeps the latest it has applied, so a client can ask it to wait for its own write.
    version: int = 0

    @property
    def status(self) -> Status:
        if not self.enrolments:
            return "registered"
        return "enrolled" if self.enrolments[-1].exited_at is None else "exited"

    @property
    def closed(self) -> bool:
        """A household that exited as deceased: nothing more happens to it (but corrections)."""
        return self.status == "exited" and self.enrolments[-1].exit_reason == "deceased"

    @property
    def head(self) -> Member:
        return next(m for m in self.members if m.relationship == "head")


class ConflictError(Exception):
    """Well-formed input that the household's current state does not allow (HTTP 409)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        household_id: uuid.UUID | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.household_id = household_id


class HouseholdRulesError(RuleViolationError):
    """Every rule the household breaks, each naming its field."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__(*violations[0])
        self.violations = violations


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference data the rules check against."""

    areas: AreaDirectory
    home_regency: str = "62.09"  # Lamandau; villages elsewhere are accepted but flagged


def name_key(name: str) -> str:
    """A name as near-duplicate matching compares it: case and spaces ignored."""
    return "".join(name.split()).lower()


def near_duplicate_key(household: Household) -> tuple[str, str, date]:
    """Households sharing this (village, head's name, head's birth date) may be one family
    registered twice under two KKs; a person reviews them, nothing merges them."""
    return household.village_code, name_key(household.head_name), household.head.birth_date


def household_zone(village_code: str) -> ZoneInfo:
    """The zone of the household's province (gayari_shared.areas.zones), whose calendar its
    days follow: registration, enrolment, exit, "today" for a birth date. Lamandau's (WIB) for a
    village in no province, which the rules refuse anyway."""
    try:
        return zone_info(village_code)
    except ValueError:
        return JAKARTA


def _violations(
    head_name: str,
    village_code: str,
    members: Sequence[NewMember | Member],
    ref: Reference,
    today: date,
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if ref.areas.village(village_code) is None:
        found.append(("village_code", "unknown Kemendagri village code"))
    heads = [i for i, m in enumerate(members) if m.relationship == "head"]
    if not heads:
        found.append(("members", "one member must be the head (relationship: head)"))
    for i in heads[1:]:
        found.append((f"members.{i}.relationship", "the household has another head already"))
    if heads and name_key(members[heads[0]].name) != name_key(head_name):
        found.append(("head_name", "differs from the name of the member who is the head"))
    seen: set[str] = set()
    for i, member in enumerate(members):
        if member.birth_date > today:
            found.append((f"members.{i}.birth_date", "lies in the future"))
        if member.nik in seen:
            found.append((f"members.{i}.nik", "appears twice in the household"))
        seen.add(member.nik)
        if (why := nik_rules.birth_mismatch(member.nik, member.birth_date, member.sex)) is not None:
            found.append((f"members.{i}.nik", why))
    return found


def _flags(village_code: str, members: Sequence[Member], ref: Reference) -> list[Flag]:
    flags: list[Flag] = []
    if not village_code.startswith(ref.home_regency + "."):
        flags.append(
            Flag(
                code="village-outside-regency",
                reason=f"the village lies outside the programme's regency {ref.home_regency}",
            )
        )
    for member in members:
        if (why := nik_rules.region_mismatch(member.nik, village_code)) is not None:
            flags.append(Flag(member_id=member.member_id, code="nik-region-mismatch", reason=why))
    return flags


def _check(
    head_name: str,
    village_code: str,
    members: Sequence[NewMember | Member],
    ref: Reference,
    now: datetime,
) -> None:
    today = now.astimezone(household_zone(village_code)).date()
    violations = _violations(head_name, village_code, members, ref, today)
    if violations:
        raise HouseholdRulesError(violations)


def _member(given: NewMember, member_id: uuid.UUID) -> Member:
    return Member(member_id=member_id, **given.model_dump(exclude={"member_id"}))


def _registered_at(day: date | None, now: datetime, village_code: str) -> datetime:
    if day is not None and day.year < EARLIEST_COHORT:
        raise RuleViolationError("registered_on", f"must not be before {EARLIEST_COHORT}")
    return moment_of_day(day, now, field="registered_on", zone=household_zone(village_code))


def register(
    application: HouseholdApplication,
    ref: Reference,
    *,
    household_id: uuid.UUID,
    now: datetime,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Household:
    _check(application.head_name, application.village_code, application.members, ref, now)
    members = [_member(m, new_id()) for m in application.members]
    return Household(
        id=household_id,
        kk=application.kk,
        head_name=application.head_name,
        village_code=application.village_code,
        address=application.address,
        welfare_decile=application.welfare_decile,
        members=members,
        flags=_flags(application.village_code, members, ref),
        registered_at=_registered_at(application.registered_on, now, application.village_code),
        updated_at=now,
        version=1,
    )


def check_niks_free(household: Household, owners: Mapping[str, uuid.UUID]) -> None:
    """A person belongs to one household: a NIK another household holds is refused, naming
    that household so the operator can resolve it (a move is an exit there first)."""
    for i, member in enumerate(household.members):
        other = owners.get(member.nik)
        if other is not None and other != household.id:
            raise ConflictError(
                "nik-in-another-household",
                f"the person is a member of household {other} already",
                field=f"members.{i}.nik",
                household_id=other,
            )


def _kept_members(household: Household, given: Sequence[MemberUpdate]) -> list[Member]:
    known = {m.member_id for m in household.members}
    quoted = [m.member_id for m in given if m.member_id is not None]
    for i, member in enumerate(given):
        if member.member_id is not None and member.member_id not in known:
            raise RuleViolationError(f"members.{i}.member_id", "not a member of this household")
        if member.member_id is not None and quoted.count(member.member_id) > 1:
            raise RuleViolationError(f"members.{i}.member_id", "quoted twice")
    return [_member(m, m.member_id or uuid.uuid4()) for m in given]


def change_details(
    household: Household, change: DetailsChange, ref: Reference, *, now: datetime, admin: bool
) -> tuple[Household, HouseholdDetailsChangedV1 | None]:
    """The household with the change applied and the event saying what changed (None when
    nothing did). A deceased household's details are closed except to administrators, who
    may still correct them."""
    if household.closed and not admin:
        raise ConflictError("household-closed", "the household exited as deceased; it is closed")
    members = (
        household.members if change.members is None else _kept_members(household, change.members)
    )
    head_name = change.head_name or household.head_name
    village_code = change.village_code or household.village_code
    _check(head_name, village_code, members, ref, now)
    updated = household.model_copy(
        update={
            "head_name": head_name,
            "village_code": village_code,
            "address": change.address
            if "address" in change.model_fields_set
            else household.address,
            "welfare_decile": change.welfare_decile or household.welfare_decile,
            "members": members,
            "flags": _flags(village_code, members, ref),
            "updated_at": now,
            "version": household.version + 1,
        }
    )
    return updated, details_changed_event(household, updated)


def details_changed_event(before: Household, after: Household) -> HouseholdDetailsChangedV1 | None:
    members = before.members != after.members or before.head_name != after.head_name
    differences: list[tuple[Detail, bool]] = [
        ("welfare_decile", before.welfare_decile != after.welfare_decile),
        ("members", members),
        ("address", before.address != after.address),
        ("village_code", before.village_code != after.village_code),
    ]
    changed = [name for name, differs in differences if differs]
    if not changed:
        return None
    return HouseholdDetailsChangedV1(
        household_id=after.id,
        changed=changed,
        welfare_decile=after.welfare_decile if "welfare_decile" in changed else None,
        member_count=len(after.members) if members else None,
        member_ids=[m.member_id for m in after.members] if members else [],
        village_code=after.village_code if "village_code" in changed else None,
        changed_at=after.updated_at,
        household_version=after.version,
    )


def _not_before(at: datetime, since: datetime, zone: ZoneInfo, field: str, what: str) -> datetime:
    """`at`, a moment of a day typed in (or now), if its day in `zone` is not before the day of
    `since` there; a day of its own is the start of that day, so on the day of `since` itself
    it is `since`: a household's moments keep the order of its life cycle."""
    day, since_day = at.astimezone(zone).date(), since.astimezone(zone).date()
    if day < since_day:
        raise RuleViolationError(
            field, f"{day.isoformat()} is before {what} ({since_day.isoformat()})"
        )
    return max(at, since)


def enrol(
    household: Household,
    cohort_year: int,
    agency: str,
    *,
    now: datetime,
    on: date | None = None,
) -> tuple[Household, HouseholdEnrolledV1]:
    """Enrol into GAYARI. Once at a time; after an exit (but death) a household may enrol
    again, which starts a new enrolment with its own cohort year.

    `on`, the day of an enrolment typed in after the fact, lies between the household's
    registration (or its last exit) and today, days of its province's calendar: interventions
    dated from that day on are accepted, none before it."""
    if household.closed:
        raise ConflictError("household-closed", "the household exited as deceased; it is closed")
    if household.status == "enrolled":
        current = household.enrolments[-1]
        raise ConflictError(
            "already-enrolled",
            f"the household is enrolled already (cohort {current.cohort_year}, {current.agency})",
        )
    zone = household_zone(household.village_code)
    next_year = now.astimezone(zone).year + 1
    if not EARLIEST_COHORT <= cohort_year <= next_year:
        raise RuleViolationError(
            "cohort_year", f"must lie between {EARLIEST_COHORT} and next year ({next_year})"
        )
    since = household.registered_at
    if household.enrolments and household.enrolments[-1].exited_at is not None:
        since = max(since, household.enrolments[-1].exited_at)
    enrolled_at = _not_before(
        moment_of_day(on, now, field="enrolled_on", zone=zone),
        since,
        zone,
        "enrolled_on",
        "the household's registration or last exit",
    )
    enrolment = Enrolment(cohort_year=cohort_year, agency=agency, enrolled_at=enrolled_at)
    updated = household.model_copy(
        update={
            "enrolments": [*household.enrolments, enrolment],
            "updated_at": now,
            "version": household.version + 1,
        }
    )
    event = HouseholdEnrolledV1(
        household_id=household.id,
        cohort_year=cohort_year,
        enrolling_agency=agency,
        enrolled_at=enrolled_at,
        household_version=updated.version,
    )
    return updated, event


def exit_programme(
    household: Household, reason: ExitReason, *, now: datetime, on: date | None = None
) -> tuple[Household, HouseholdExitedV1]:
    """Leave GAYARI; `on`, the day of an exit typed in after the fact, lies between the
    enrolment and today, days of the household's province's calendar."""
    if household.status != "enrolled":
        raise ConflictError("not-enrolled", f"the household is {household.status}, not enrolled")
    zone = household_zone(household.village_code)
    exited_at = _not_before(
        moment_of_day(on, now, field="exited_on", zone=zone),
        household.enrolments[-1].enrolled_at,
        zone,
        "exited_on",
        "the household's enrolment",
    )
    current = household.enrolments[-1].model_copy(
        update={"exit_reason": reason, "exited_at": exited_at}
    )
    updated = household.model_copy(
        update={
            "enrolments": [*household.enrolments[:-1], current],
            "updated_at": now,
            "version": household.version + 1,
        }
    )
    exited = HouseholdExitedV1(
        household_id=household.id,
        reason=reason,
        exited_at=exited_at,
        household_version=updated.version,
    )
    return updated, exited


def registered_event(household: Household, kk_hash: str) -> HouseholdRegisteredV1:
    """The public fact of a registration: no name, NIK or KK, only the KK's keyed hash."""
    return HouseholdRegisteredV1(
        household_id=household.id,
        village_code=household.village_code,
        welfare_decile=household.welfare_decile,
        member_count=len(household.members),
        member_ids=[m.member_id for m in household.members],
        kk_hash=kk_hash,
        registered_at=household.registered_at,
        household_version=household.version,
    )
