"""Events of the interventions the agencies give to households, and of the agencies' budgets.

Stream: every event here goes to the interventions stream (`<prefix>.interventions`).
Key (CloudEvents subject): the household id for what concerns a household (grants, training
participation, attendance and completion, mentoring, surveys), `agency:<code>` for an agency's
own business (training sessions, budget allocations); a void takes the subject of the record it
voids, so it lands on the same partition, after that record.

No personal data: ids, codes, dates and figures only. Free text that may describe a person
(mentoring notes, the explanation of a void) stays in the interventions database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import ClassVar, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gayari_shared.events.base import (
    AGENCY_CODE_PATTERN,
    INTERVENTIONS,
    AgencyEventData,
    EventBase,
    EventData,
    agency_subject,
)
from gayari_shared.events.upcasting import upcaster
from gayari_shared.rules import RuleViolationError

# Indonesia's fiscal year is the calendar year (UU 17/2003), counted in the regency's own time.
JAKARTA: Final = ZoneInfo("Asia/Jakarta")
UNRECORDED_PURPOSE_V1: Final = "unrecorded (v1)"

GrantKind = Literal["capital", "equipment"]
BusinessStatus = Literal["not-started", "running", "growing", "stalled", "closed"]
InterventionType = Literal[
    "grant",
    "training-session",
    "training-participant",
    "training-attendance",
    "training-completion",
    "mentoring-visit",
    "business-survey",
    "budget-allocation",
]
# Coded, not free text: the agency's own explanation stays in its database.
VoidReason = Literal["entered-in-error", "duplicate", "wrong-household", "cancelled", "other"]


def fiscal_year_of(moment: datetime) -> int:
    return moment.astimezone(JAKARTA).year


def moment_of_day(
    day: date | None, now: datetime, *, field: str, zone: ZoneInfo = JAKARTA
) -> datetime:
    """When something dated `day` (in `zone`, Lamandau's by default) happened, for a record
    typed in after the fact: `now` for today or no day given, else the start of that day in the
    zone. Never in the future: a day after today is refused, naming `field`."""
    today = now.astimezone(zone).date()
    if day is None or day == today:
        return now
    if day > today:
        raise RuleViolationError(field, f"{day.isoformat()} is in the future (today is {today})")
    # In UTC, as every other moment the services publish and answer.
    return datetime.combine(day, time(), zone).astimezone(UTC)


# Superseded by v2: producers no longer publish it, consumers read it as v2 (upcaster below).
class GrantIssuedV1(EventData):
    TYPE: ClassVar[str] = "gayari.grant.issued.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    grant_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    kind: GrantKind
    amount_idr: int = Field(gt=0)
    issued_at: AwareDatetime


class GrantItem(BaseModel):
    """One line of an equipment or in-kind grant, e.g. 500 ekor bibit ikan nila."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0)
    unit: str = Field(min_length=1, max_length=30)
    unit_value_idr: int = Field(gt=0)


class GrantIssuedV2(EventData):
    """A capital-stimulus or equipment grant; for equipment, amount_idr is the sum of items."""

    TYPE: ClassVar[str] = "gayari.grant.issued.v2"
    STREAM: ClassVar[str] = INTERVENTIONS

    grant_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    kind: GrantKind
    amount_idr: int = Field(gt=0)
    purpose: str = Field(min_length=1, max_length=200)
    fiscal_year: int = Field(ge=2000, le=2100)
    budget_line: str | None = Field(default=None, max_length=64)
    items: list[GrantItem] = Field(
        default_factory=list,
        description="Equipment grants' items; empty for capital grants and grants from v1",
    )
    issued_at: AwareDatetime


@upcaster(GrantIssuedV1, GrantIssuedV2)
def _grant_v1_to_v2(old: GrantIssuedV1) -> GrantIssuedV2:
    return GrantIssuedV2(
        household_id=old.household_id,
        grant_id=old.grant_id,
        agency=old.agency,
        kind=old.kind,
        amount_idr=old.amount_idr,
        purpose=UNRECORDED_PURPOSE_V1,
        fiscal_year=fiscal_year_of(old.issued_at),
        budget_line=None,
        items=[],
        issued_at=old.issued_at,
    )


# Superseded by v2: producers no longer publish it, consumers read it as v2 (upcaster below).
class TrainingCompletedV1(EventData):
    TYPE: ClassVar[str] = "gayari.training.completed.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    completion_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    topic: str = Field(min_length=1, max_length=200)
    hours: int = Field(gt=0, le=1000)
    completed_on: date
    recorded_at: AwareDatetime


class TrainingCompletedV2(EventData):
    """A participant (a member of the household) completed a training session. Topic and hours
    are the session's, repeated so that a consumer needs no session to count them."""

    TYPE: ClassVar[str] = "gayari.training.completed.v2"
    STREAM: ClassVar[str] = INTERVENTIONS

    completion_id: uuid.UUID
    session_id: uuid.UUID | None = Field(description="None for completions from v1")
    member_id: uuid.UUID | None = Field(description="None for completions from v1")
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    topic: str = Field(min_length=1, max_length=200)
    hours: int = Field(gt=0, le=1000)
    completed_on: date
    recorded_at: AwareDatetime


@upcaster(TrainingCompletedV1, TrainingCompletedV2)
def _training_v1_to_v2(old: TrainingCompletedV1) -> TrainingCompletedV2:
    return TrainingCompletedV2(
        household_id=old.household_id,
        completion_id=old.completion_id,
        session_id=None,
        member_id=None,
        agency=old.agency,
        topic=old.topic,
        hours=old.hours,
        completed_on=old.completed_on,
        recorded_at=old.recorded_at,
    )


class TrainingSessionRecordedV1(AgencyEventData):
    """An agency holds (or will hold) a training session; households join it as participants."""

    TYPE: ClassVar[str] = "gayari.training-session.recorded.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    session_id: uuid.UUID
    topic: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date
    hours: int = Field(gt=0, le=1000)
    place: str = Field(min_length=1, max_length=200, description="The venue, e.g. a balai desa")
    recorded_at: AwareDatetime


class TrainingParticipantAddedV1(EventData):
    TYPE: ClassVar[str] = "gayari.training.participant-added.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    participant_id: uuid.UUID
    session_id: uuid.UUID
    member_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    added_at: AwareDatetime


class TrainingAttendedV1(EventData):
    """A participant attended one day of a session."""

    TYPE: ClassVar[str] = "gayari.training.attended.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    attendance_id: uuid.UUID
    participant_id: uuid.UUID
    session_id: uuid.UUID
    member_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    attended_on: date
    recorded_at: AwareDatetime


class MentoringVisitedV1(EventData):
    """A mentor visited the household's business; the mentor's notes are not on the event."""

    TYPE: ClassVar[str] = "gayari.mentoring.visited.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    visit_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    visited_on: date
    business_status: BusinessStatus
    recorded_at: AwareDatetime


class BusinessSurveyedV1(EventData):
    """The household business's outcome: the evidence of empowerment."""

    TYPE: ClassVar[str] = "gayari.business.surveyed.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    survey_id: uuid.UUID
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    surveyed_on: date
    monthly_income_idr: int = Field(ge=0)
    workers: int = Field(ge=0, description="People working in the business, the owner included")
    recorded_at: AwareDatetime


class BudgetAllocatedV1(AgencyEventData):
    """Money an agency has for GAYARI in a fiscal year; several allocations add up (e.g. the
    budget amendment), and realisation is the grants of that fiscal year against their sum."""

    TYPE: ClassVar[str] = "gayari.budget.allocated.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    allocation_id: uuid.UUID
    fiscal_year: int = Field(ge=2000, le=2100)
    amount_idr: int = Field(gt=0)
    budget_line: str | None = Field(default=None, max_length=64)
    allocated_at: AwareDatetime


class InterventionVoidedV1(EventBase):
    """A record was voided by the agency that made it: consumers stop counting it. Nothing is
    deleted; the record's own event stays on the topic."""

    TYPE: ClassVar[str] = "gayari.intervention.voided.v1"
    STREAM: ClassVar[str] = INTERVENTIONS

    intervention_id: uuid.UUID
    intervention_type: InterventionType
    household_id: uuid.UUID | None = Field(
        description="The voided record's household; None for sessions and budget allocations"
    )
    agency: str = Field(pattern=AGENCY_CODE_PATTERN)
    reason: VoidReason
    voided_at: AwareDatetime

    @property
    def subject(self) -> str:
        # The voided record's own subject: same partition, so the void follows the record.
        if self.household_id is not None:
            return str(self.household_id)
        return agency_subject(self.agency)


INTERVENTION_EVENTS: Final[tuple[type[EventBase], ...]] = (
    GrantIssuedV1,
    GrantIssuedV2,
    TrainingCompletedV1,
    TrainingCompletedV2,
    TrainingSessionRecordedV1,
    TrainingParticipantAddedV1,
    TrainingAttendedV1,
    MentoringVisitedV1,
    BusinessSurveyedV1,
    BudgetAllocatedV1,
    InterventionVoidedV1,
)
