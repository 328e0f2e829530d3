"""A plain recount of the read models from a list of events: no SQL, no order, no state.

It states what the projections must come to, independently of how they are stored, so that a
property test can compare the two for any interleaving and duplication of the same events. It
follows the read models' rules exactly:
- a record (household registration, grant, completion, visit, allocation, void) is known by its
  own id; two events claiming one id: the one with the least event id counts;
- a voided record counts nowhere;
- a household's exit is the one with the latest (time, event id);
- figures are unfiltered (the whole data set).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gayari_shared.events.contracts import (
    BudgetAllocatedV1,
    EventBase,
    GrantIssuedV2,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingCompletedV2,
)
from gayari_shared.events.envelope import Envelope, InvalidEventError
from gayari_shared.events.factory import parse_data
from gayari_shared.events.upcasting import to_latest

RecountEvent = tuple[uuid.UUID, EventBase]  # (CloudEvents id, data)


@dataclass(frozen=True)
class AgencyRecount:
    households_reached: int = 0
    grants_capital: int = 0
    grants_equipment: int = 0
    idr_disbursed: int = 0
    trainings_completed: int = 0
    mentoring_visits: int = 0
    budget_allocated_idr: int = 0


@dataclass(frozen=True)
class Recount:
    households_registered: int
    households_enrolled: int
    households_exited: int
    households_graduated: int
    households_reached: int
    interventions: dict[str, int]
    idr_disbursed: int
    trainings_completed: int
    agencies: dict[str, AgencyRecount]
    reached_by: dict[int, int]  # number of agencies -> households
    enrolled_reached_by_two_or_more: int
    # (household, fiscal year, grant kind, agencies in order)
    double_funding: set[tuple[uuid.UUID, int, str, tuple[str, ...]]] = field(default_factory=set)


@dataclass(frozen=True)
class _Live:
    household_id: uuid.UUID
    agency: str
    kind: str
    amount_idr: int
    fiscal_year: int


def from_envelopes(envelopes: Iterable[Envelope]) -> list[RecountEvent]:
    """The events as the projector reads them; invalid ones are left out (it rejects them)."""
    events: list[RecountEvent] = []
    for envelope in envelopes:
        try:
            events.append((envelope.id, parse_data(envelope)))
        except InvalidEventError:
            continue
    return events


_Records = dict[tuple[str, uuid.UUID], tuple[uuid.UUID, EventBase]]
_Exits = dict[uuid.UUID, tuple[datetime, uuid.UUID, str]]


def _collect(events: Iterable[RecountEvent]) -> tuple[_Records, _Exits, set[uuid.UUID]]:
    # Record id -> (event id, data): the least event id wins, as in the read model.
    records: _Records = {}
    exits: _Exits = {}
    enrolled: set[uuid.UUID] = set()

    def keep(key: tuple[str, uuid.UUID], event_id: uuid.UUID, data: EventBase) -> None:
        if key not in records or event_id < records[key][0]:
            records[key] = (event_id, data)

    for event_id, raw in events:
        data = to_latest(raw)
        match data:
            case HouseholdRegisteredV1():
                keep(("household", data.household_id), event_id, data)
            case HouseholdEnrolledV1():
                enrolled.add(data.household_id)
            case HouseholdExitedV1():
                candidate = (data.exited_at, event_id, data.reason)
                current = exits.get(data.household_id)
                if current is None or candidate[:2] > current[:2]:
                    exits[data.household_id] = candidate
            case GrantIssuedV2():
                keep(("grant", data.grant_id), event_id, data)
            case TrainingCompletedV2():
                keep(("training-completion", data.completion_id), event_id, data)
            case MentoringVisitedV1():
                keep(("mentoring-visit", data.visit_id), event_id, data)
            case BudgetAllocatedV1():
                keep(("budget-allocation", data.allocation_id), event_id, data)
            case InterventionVoidedV1():
                keep(("void:" + data.intervention_type, data.intervention_id), event_id, data)
    return records, exits, enrolled


def recount(events: Iterable[RecountEvent]) -> Recount:
    records, exits, enrolled = _collect(events)
    voided = {(kind[5:], rid) for kind, rid in records if kind.startswith("void:")}
    live: list[_Live] = []
    budgets: dict[str, int] = defaultdict(int)
    registered = 0
    for (kind, rid), (_, data) in records.items():
        if (kind, rid) in voided:
            continue
        match data:
            case HouseholdRegisteredV1():
                registered += 1
            case GrantIssuedV2():
                live.append(
                    _Live(
                        data.household_id,
                        data.agency,
                        "grant-" + data.kind,
                        data.amount_idr,
                        data.fiscal_year,
                    )
                )
            case TrainingCompletedV2():
                year = data.completed_on.year
                live.append(_Live(data.household_id, data.agency, "training", 0, year))
            case MentoringVisitedV1():
                year = data.visited_on.year
                live.append(_Live(data.household_id, data.agency, "mentoring", 0, year))
            case BudgetAllocatedV1():
                budgets[data.agency] += data.amount_idr

    interventions = dict.fromkeys(("grant-capital", "grant-equipment", "training", "mentoring"), 0)
    agencies_of: dict[uuid.UUID, set[str]] = defaultdict(set)
    per_agency: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reached_by_agency: dict[str, set[uuid.UUID]] = defaultdict(set)
    grants_of: dict[tuple[uuid.UUID, int, str], set[str]] = defaultdict(set)
    for item in live:
        interventions[item.kind] += 1
        agencies_of[item.household_id].add(item.agency)
        reached_by_agency[item.agency].add(item.household_id)
        row = per_agency[item.agency]
        row["idr_disbursed"] += item.amount_idr
        if item.kind.startswith("grant-"):
            row["grants_" + item.kind[6:]] += 1
            grants_of[(item.household_id, item.fiscal_year, item.kind[6:])].add(item.agency)
        elif item.kind == "training":
            row["trainings_completed"] += 1
        else:
            row["mentoring_visits"] += 1

    reached_by: dict[int, int] = defaultdict(int)
    for agencies in agencies_of.values():
        reached_by[len(agencies)] += 1

    return Recount(
        households_registered=registered,
        households_enrolled=len(enrolled),
        households_exited=len(exits),
        households_graduated=sum(1 for e in exits.values() if e[2] == "graduated"),
        households_reached=len(agencies_of),
        interventions=interventions,
        idr_disbursed=sum(item.amount_idr for item in live),
        trainings_completed=interventions["training"],
        agencies={
            code: AgencyRecount(
                households_reached=len(reached_by_agency.get(code, ())),
                budget_allocated_idr=budgets.get(code, 0),
                **dict(per_agency.get(code, {})),
            )
            for code in per_agency.keys() | budgets.keys()
        },
        reached_by=dict(reached_by),
        enrolled_reached_by_two_or_more=sum(
            1 for hid, agencies in agencies_of.items() if len(agencies) >= 2 and hid in enrolled
        ),
        double_funding={
            (hid, year, kind, tuple(sorted(agencies)))
            for (hid, year, kind), agencies in grants_of.items()
            if len(agencies) >= 2
        },
    )
