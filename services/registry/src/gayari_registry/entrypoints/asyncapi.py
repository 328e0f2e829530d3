"""The registry's AsyncAPI document: what it publishes. `python -m` this module prints it."""

from __future__ import annotations

import json
from typing import Any

from gayari_shared.asyncapi import Channel, asyncapi_document
from gayari_shared.events.base import HOUSEHOLDS
from gayari_shared.events.households import HOUSEHOLD_EVENTS
from gayari_shared.events.publishing import current
from gayari_shared.settings import CommonSettings


def document(settings: CommonSettings) -> dict[str, Any]:
    return asyncapi_document(
        service="registry",
        version="1",
        description="The register of households: their life cycle as events, no personal data.",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        security=settings.kafka_security_protocol,
        publishes=[
            Channel(
                settings.topic(HOUSEHOLDS),
                current(HOUSEHOLD_EVENTS),
                "Household life cycle, keyed by household id (transactional outbox).",
            )
        ],
    )


if __name__ == "__main__":
    print(json.dumps(document(CommonSettings()), indent=2, sort_keys=True))
