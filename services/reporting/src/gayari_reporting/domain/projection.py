"""What each event means for the read model, and the progress report. Pure: no I/O.

The read model stores facts keyed by their own ids (household, grant, completion, void), so
applying an event twice, or events in any order, leaves the same rows; the report aggregates
them. A void is a fact of its own, joined at query time: it may be projected before or after
the record it voids and the figures come out the same.

What is not a fact but a household's changing state (its village, decile, enrolment, exit) is
kept as "the event with the latest (time, event id) wins" per field: a total order on events,
so whichever order they are applied in, the same one wins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel

from gayari_shared.agencies import Agency
from gayari_shared.events.contracts import (
    BudgetAllocatedV1,
    BusinessSurveyedV1,
    EventBase,
    GrantIssuedV2,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingCompletedV2,
)


@dataclass(frozen=True, slots=True)
class HouseholdFact:
    household_id: uuid.UUID
    village_code: str
    welfare_decile: int
    registered_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class GrantFact:
    grant_id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    kind: str
    amount_idr: int
    issued_at: datetime
    event_id: uuid.UUID
    fiscal_year: int


@dataclass(frozen=True, slots=True)
class TrainingFact:
    completion_id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    topic: str
    hours: int
    completed_on: date
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class VoidFact:
    intervention_type: str
    intervention_id: uuid.UUID
    agency: str
    voided_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class HouseholdChangeFact:
    """Only the fields the read model keeps; None where the change left them alone."""

    household_id: uuid.UUID
    village_code: str | None
    welfare_decile: int | None
    changed_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class EnrolmentFact:
    household_id: uuid.UUID
    cohort_year: int
    enrolling_agency: str
    enrolled_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ExitFact:
    household_id: uuid.UUID
    reason: str
    exited_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class MentoringFact:
    visit_id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    visited_on: date
    business_status: str
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SurveyFact:
    survey_id: uuid.UUID
    household_id: uuid.UUID
    agency: str
    surveyed_on: date
    monthly_income_idr: int
    workers: int
    recorded_at: datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class BudgetFact:
    allocation_id: uuid.UUID
    agency: str
    fiscal_year: int
    amount_idr: int
    allocated_at: datetime
    event_id: uuid.UUID


Fact = (
    HouseholdFact
    | HouseholdChangeFact
    | EnrolmentFact
    | ExitFact
    | GrantFact
    | TrainingFact
    | MentoringFact
    | SurveyFact
    | BudgetFact
    | VoidFact
)


# One case per event type reads better than a table of constructors.
def fact_of(data: EventBase, event_id: uuid.UUID) -> Fact | None:  # noqa: PLR0911
    """The fact an event adds; None for event types this read model does not use.

    Older versions arrive upcast (parse_data): a grant.issued.v1 is matched as v2 here."""
    match data:
        case HouseholdRegisteredV1():
            return HouseholdFact(
                data.household_id,
                data.village_code,
                data.welfare_decile,
                data.registered_at,
                event_id,
            )
        case GrantIssuedV2():
            return GrantFact(
                data.grant_id,
                data.household_id,
                data.agency,
                data.kind,
                data.amount_idr,
                data.issued_at,
                event_id,
                data.fiscal_year,
            )
        case TrainingCompletedV2():
            return TrainingFact(
                data.completion_id,
                data.household_id,
                data.agency,
                data.topic,
                data.hours,
                data.completed_on,
                event_id,
            )
        case InterventionVoidedV1():
            return VoidFact(
                data.intervention_type,
                data.intervention_id,
                data.agency,
                data.voided_at,
                event_id,
            )
        case MentoringVisitedV1():
            return MentoringFact(
                data.visit_id,
                data.household_id,
                data.agency,
                data.visited_on,
                data.business_status,
                event_id,
            )
        case BusinessSurveyedV1():
            return SurveyFact(
                data.survey_id,
                data.household_id,
                data.agency,
                data.surveyed_on,
                data.monthly_income_idr,
                data.workers,
                data.recorded_at,
                event_id,
            )
        case BudgetAllocatedV1():
            return BudgetFact(
                data.allocation_id,
                data.agency,
                data.fiscal_year,
                data.amount_idr,
                data.allocated_at,
                event_id,
            )
    return _household_fact(data, event_id)  # the household's changes, or None


def _household_fact(data: EventBase, event_id: uuid.UUID) -> Fact | None:
    match data:
        case HouseholdDetailsChangedV1():
            village = data.village_code if "village_code" in data.changed else None
            decile = data.welfare_decile if "welfare_decile" in data.changed else None
            if village is None and decile is None:
                return None  # members or address: nothing reporting keeps
            return HouseholdChangeFact(
                data.household_id, village, decile, data.changed_at, event_id
            )
        case HouseholdEnrolledV1():
            return EnrolmentFact(
                data.household_id,
                data.cohort_year,
                data.enrolling_agency,
                data.enrolled_at,
                event_id,
            )
        case HouseholdExitedV1():
            return ExitFact(data.household_id, data.reason, data.exited_at, event_id)
    return None


class GrantTotals(BaseModel):
    count: int = 0
    total_idr: int = 0


class AgencyProgress(BaseModel):
    agency: str
    name: str
    grants: GrantTotals
    trainings_completed: int


class Progress(BaseModel):
    households_registered: int
    grants: GrantTotals
    trainings_completed: int
    agencies: list[AgencyProgress]
    as_of: datetime


def progress_report(
    *,
    households: int,
    grants_by_agency: dict[str, GrantTotals],
    trainings_by_agency: dict[str, int],
    agencies: tuple[Agency, ...],
    as_of: datetime,
) -> Progress:
    """Every configured agency appears, with zeros if it has done nothing yet; an agency seen
    in events but no longer configured still counts, under its code."""
    names = {agency.code: agency.name for agency in agencies}
    codes = list(names) + sorted(
        (grants_by_agency.keys() | trainings_by_agency.keys()) - names.keys()
    )
    rows = [
        AgencyProgress(
            agency=code,
            name=names.get(code, code),
            grants=grants_by_agency.get(code, GrantTotals()),
            trainings_completed=trainings_by_agency.get(code, 0),
        )
        for code in codes
    ]
    return Progress(
        households_registered=households,
        grants=GrantTotals(
            count=sum(r.grants.count for r in rows), total_idr=sum(r.grants.total_idr for r in rows)
        ),
        trainings_completed=sum(r.trainings_completed for r in rows),
        agencies=rows,
        as_of=as_of,
    )
