"""Reporting's AsyncAPI document: what it consumes. `python -m` this module prints it."""

from __future__ import annotations

import json
from typing import Any

from gayari_reporting.settings import ReportingSettings
from gayari_shared.asyncapi import Channel, asyncapi_document
from gayari_shared.events.base import HOUSEHOLDS, INTERVENTIONS
from gayari_shared.events.households import HOUSEHOLD_EVENTS
from gayari_shared.events.interventions import INTERVENTION_EVENTS
from gayari_shared.settings import CommonSettings


def document(settings: CommonSettings, group: str) -> dict[str, Any]:
    return asyncapi_document(
        service="reporting",
        version="1",
        description="Read models of the joint programme, projected from the domain topics.",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security_protocol,
        consumes=[
            Channel(
                settings.topic(HOUSEHOLDS),
                HOUSEHOLD_EVENTS,
                "Household life cycle (every version; older ones are upcast).",
                group,
            ),
            Channel(
                settings.topic(INTERVENTIONS),
                INTERVENTION_EVENTS,
                "Interventions of every agency (every version; older ones are upcast).",
                group,
            ),
        ],
    )


if __name__ == "__main__":
    print(
        json.dumps(
            document(CommonSettings(), ReportingSettings().consumer_group), indent=2, sort_keys=True
        )
    )
