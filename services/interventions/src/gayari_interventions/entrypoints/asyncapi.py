"""The interventions service's AsyncAPI document. `python -m` this module prints it."""

from __future__ import annotations

import json
from typing import Any

from gayari_interventions.domain.intake import INTAKE_TYPES
from gayari_interventions.entrypoints.intake import INTAKE_GROUP_ID
from gayari_shared.asyncapi import Channel, asyncapi_document
from gayari_shared.events.base import HOUSEHOLDS, INTERVENTIONS
from gayari_shared.events.households import HOUSEHOLD_EVENTS
from gayari_shared.events.interventions import INTERVENTION_EVENTS
from gayari_shared.events.publishing import current
from gayari_shared.settings import CommonSettings

GROUP_ID = "gayari-interventions"


def document(settings: CommonSettings) -> dict[str, Any]:
    return asyncapi_document(
        service="interventions",
        version="1",
        description="The agencies' interventions: grants, training, mentoring, surveys, budgets.",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security_protocol,
        publishes=[
            Channel(
                settings.deadletter_topic,
                (),
                "Intake records that were refused: the original key, value and headers, plus "
                "dlq-reason, dlq-source-topic, dlq-source-partition, dlq-source-offset, "
                "dlq-consumer and dlq-time headers.",
                dead_letters=True,
            ),
            Channel(
                settings.topic(INTERVENTIONS),
                current(INTERVENTION_EVENTS),
                "Interventions, keyed by household id; training sessions and budget "
                "allocations, keyed by agency:<code>; voids keyed like the record they void "
                "(transactional outbox). CloudEvents source = the agency.",
            ),
        ],
        consumes=[
            Channel(
                settings.topic(HOUSEHOLDS),
                HOUSEHOLD_EVENTS,
                "Household life cycle: who is enrolled, who has exited.",
                GROUP_ID,
            ),
            *(
                Channel(
                    settings.intake_topic(agency.code),
                    tuple(INTAKE_TYPES.values()),
                    f"Intake of {agency.name}: records its own system publishes (CloudEvents "
                    f"binary mode, ce_source /gayari/agencies/{agency.code}, key = household "
                    "id); see docs/intake.md.",
                    INTAKE_GROUP_ID,
                )
                for agency in settings.agencies
            ),
        ],
    )


if __name__ == "__main__":
    print(json.dumps(document(CommonSettings()), indent=2, sort_keys=True))
