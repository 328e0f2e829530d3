"""A batch of facts folded into the rows it writes: one row per key, decided in memory. Pure.

The store writes a whole batch with one set-based statement per table, and PostgreSQL refuses
an upsert that touches one row twice in a statement. So the batch is first folded by the same
rules the tables apply on conflict (schema.py): a record id keeps the fact with the least event
id; a household's state keeps, per group of fields, the event with the latest (or, for
registration and enrolment, the earliest) (time, event id). Both rules pick a winner from a
total order, so folding first and upserting the winners ends where one-by-one upserts would.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from gayari_reporting.domain.projection import (
    BudgetFact,
    EnrolmentFact,
    ExitFact,
    Fact,
    GrantFact,
    HouseholdChangeFact,
    HouseholdFact,
    MentoringFact,
    SurveyFact,
    TrainingFact,
    VoidFact,
)


class _Identified(Protocol):
    @property
    def event_id(self) -> uuid.UUID: ...


F = TypeVar("F", bound=_Identified)
# One group of a household's state: the values it sets, then the (time, event id) it came from.
Group = tuple[tuple[Any, ...], datetime, uuid.UUID]


@dataclass(slots=True)
class HouseholdState:
    """The groups of fields this batch says something about; None: it says nothing."""

    registered: Group | None = None  # (initial decile,)
    village: Group | None = None  # (village code,)
    decile: Group | None = None  # (welfare decile,)
    enrolled: Group | None = None  # (cohort year, enrolling agency)
    exited: Group | None = None  # (reason,)


def _later(old: Group | None, new: Group) -> Group:
    return new if old is None or (new[1], new[2]) > (old[1], old[2]) else old


def _earlier(old: Group | None, new: Group) -> Group:
    return new if old is None or (new[1], new[2]) < (old[1], old[2]) else old


def _least_event(table: dict[Hashable, F], key: Hashable, fact: F) -> None:
    held = table.get(key)
    if held is None or fact.event_id < held.event_id:
        table[key] = fact


@dataclass(slots=True)
class BatchWrites:
    states: dict[uuid.UUID, HouseholdState] = field(default_factory=dict)
    grants: dict[Hashable, GrantFact] = field(default_factory=dict)
    trainings: dict[Hashable, TrainingFact] = field(default_factory=dict)
    visits: dict[Hashable, MentoringFact] = field(default_factory=dict)
    surveys: dict[Hashable, SurveyFact] = field(default_factory=dict)
    budgets: dict[Hashable, BudgetFact] = field(default_factory=dict)
    voids: dict[Hashable, VoidFact] = field(default_factory=dict)

    def state(self, household_id: uuid.UUID) -> HouseholdState:
        state = self.states.get(household_id)
        if state is None:
            state = self.states[household_id] = HouseholdState()
        return state

    def add(self, fact: Fact) -> None:
        match fact:
            case HouseholdFact():
                s = self.state(fact.household_id)
                at, event = fact.registered_at, fact.event_id
                s.registered = _earlier(s.registered, ((fact.welfare_decile,), at, event))
                s.village = _later(s.village, ((fact.village_code,), at, event))
                s.decile = _later(s.decile, ((fact.welfare_decile,), at, event))
            case HouseholdChangeFact():
                s = self.state(fact.household_id)
                at, event = fact.changed_at, fact.event_id
                if fact.village_code is not None:
                    s.village = _later(s.village, ((fact.village_code,), at, event))
                if fact.welfare_decile is not None:
                    s.decile = _later(s.decile, ((fact.welfare_decile,), at, event))
            case EnrolmentFact():
                s = self.state(fact.household_id)
                s.enrolled = _earlier(
                    s.enrolled,
                    ((fact.cohort_year, fact.enrolling_agency), fact.enrolled_at, fact.event_id),
                )
            case ExitFact():
                s = self.state(fact.household_id)
                s.exited = _later(s.exited, ((fact.reason,), fact.exited_at, fact.event_id))
            case GrantFact():
                _least_event(self.grants, fact.grant_id, fact)
            case TrainingFact():
                _least_event(self.trainings, fact.completion_id, fact)
            case MentoringFact():
                _least_event(self.visits, fact.visit_id, fact)
            case SurveyFact():
                _least_event(self.surveys, fact.survey_id, fact)
            case BudgetFact():
                _least_event(self.budgets, fact.allocation_id, fact)
            case VoidFact():
                _least_event(self.voids, (fact.intervention_type, fact.intervention_id), fact)


def fold(facts: Iterable[Fact]) -> BatchWrites:
    writes = BatchWrites()
    for fact in facts:
        writes.add(fact)
    return writes


def touched(writes: BatchWrites) -> set[uuid.UUID]:
    """The households whose tally contribution this batch may change (besides those of the
    records it voids, which only the stored records can tell)."""
    households: set[uuid.UUID] = set(writes.states)
    for facts in (writes.grants, writes.trainings, writes.visits):
        households.update(f.household_id for f in facts.values())
    # Surveys count in no tally, but in a household's waiting records.
    households.update(f.household_id for f in writes.surveys.values())
    return households


def agencies(writes: BatchWrites) -> set[str]:
    """The agencies of the batch's records (one seen for the first time needs a reach bit)."""
    records = (writes.grants, writes.trainings, writes.visits)
    return {fact.agency for facts in records for fact in facts.values()}


def surveyed(writes: BatchWrites, voided: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The households whose first and latest survey income this batch may change: its
    surveys, the households of the records it voids (surveys among them), and those whose
    village it sets."""
    found = {f.household_id for f in writes.surveys.values()}
    found.update(voided)
    found.update(h for h, state in writes.states.items() if state.village is not None)
    return found
