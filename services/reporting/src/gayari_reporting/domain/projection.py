"""What each event means for the read model, and the progress report. Pure: no I/O.

The read model stores facts keyed by their own ids (household, grant, completion, void), so
applying an event twice, or events in any order, leaves the same rows; the report aggregates
them. A void is a fact of its own, joined at query time: it may be projected before or after
the record it voids and the figures come out the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel

from gayari_shared.agencies import Agency
from gayari_shared.events.contracts import (
    EventBase,
    GrantIssuedV2,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
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


Fact = HouseholdFact | GrantFact | TrainingFact | VoidFact


def fact_of(data: EventBase, event_id: uuid.UUID) -> Fact | None:
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
