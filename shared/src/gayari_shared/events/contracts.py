"""The event catalogue: every versioned event type the platform publishes, by CloudEvents type.

Contracts live by producer: households.py (registry) and interventions.py (interventions).
No personal data travels on Kafka: events carry the household id and keyed hashes only.
"""

from __future__ import annotations

from typing import Final

from gayari_shared.events.base import DOMAIN_STREAMS, HOUSEHOLDS, INTERVENTIONS, EventData
from gayari_shared.events.households import (
    HOUSEHOLD_EVENTS,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.interventions import (
    INTERVENTION_EVENTS,
    GrantIssuedV1,
    TrainingCompletedV1,
)

CATALOGUE: Final[dict[str, type[EventData]]] = {
    model.TYPE: model for model in (*HOUSEHOLD_EVENTS, *INTERVENTION_EVENTS)
}

__all__ = [
    "CATALOGUE",
    "DOMAIN_STREAMS",
    "HOUSEHOLDS",
    "INTERVENTIONS",
    "EventData",
    "GrantIssuedV1",
    "HouseholdDetailsChangedV1",
    "HouseholdEnrolledV1",
    "HouseholdExitedV1",
    "HouseholdRegisteredV1",
    "TrainingCompletedV1",
]
