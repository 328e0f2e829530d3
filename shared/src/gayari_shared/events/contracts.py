"""The event catalogue: every versioned event type the platform publishes, by CloudEvents type.

Contracts live by producer: households.py (registry) and interventions.py (interventions).
No personal data travels on Kafka: events carry the household id and keyed hashes only.
Events about a household (EventData) are keyed by its id; events about an agency's own
business (AgencyEventData: budgets, training sessions) by `agency:<code>`.
"""

from __future__ import annotations

from typing import Final

from gayari_shared.events.base import (
    DOMAIN_STREAMS,
    HOUSEHOLDS,
    INTERVENTIONS,
    AgencyEventData,
    EventBase,
    EventData,
)
from gayari_shared.events.households import (
    HOUSEHOLD_EVENTS,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.interventions import (
    INTERVENTION_EVENTS,
    BudgetAllocatedV1,
    BusinessSurveyedV1,
    GrantIssuedV1,
    GrantIssuedV2,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingAttendedV1,
    TrainingCompletedV1,
    TrainingCompletedV2,
    TrainingParticipantAddedV1,
    TrainingSessionRecordedV1,
)

CATALOGUE: Final[dict[str, type[EventBase]]] = {
    model.TYPE: model for model in (*HOUSEHOLD_EVENTS, *INTERVENTION_EVENTS)
}

__all__ = [
    "CATALOGUE",
    "DOMAIN_STREAMS",
    "HOUSEHOLDS",
    "INTERVENTIONS",
    "AgencyEventData",
    "BudgetAllocatedV1",
    "BusinessSurveyedV1",
    "EventBase",
    "EventData",
    "GrantIssuedV1",
    "GrantIssuedV2",
    "HouseholdDetailsChangedV1",
    "HouseholdEnrolledV1",
    "HouseholdExitedV1",
    "HouseholdRegisteredV1",
    "InterventionVoidedV1",
    "MentoringVisitedV1",
    "TrainingAttendedV1",
    "TrainingCompletedV1",
    "TrainingCompletedV2",
    "TrainingParticipantAddedV1",
    "TrainingSessionRecordedV1",
]
