"""An agency's own system in the demo's year: Agriculture, Fisheries and Livestock (distakan)
publishes some of its grants on its intake topic (docs/intake.md), logged in to Kafka as its
own principal, and gets a few records wrong the way an office's system does: the interventions
service dead-letters those with their reasons, and reporting counts them in /data-quality.

The records are made here (pure); `publish` sends them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaProducer

from deploy.local.principals import Credentials, agency_user
from gayari_shared.events.envelope import Envelope
from gayari_shared.settings import CommonSettings

# The agency whose system publishes on its intake topic.
INTAKE_AGENCY: Final = "distakan"
GRANT: Final = "gayari.intake.grant.v1"
VISIT: Final = "gayari.intake.mentoring-visit.v1"
SURVEY: Final = "gayari.intake.business-survey.v1"


@dataclass(frozen=True)
class IntakeRecord:
    """One record of the agency's system and what becomes of it: taken (`refused_as` None)
    or dead-lettered with that reason code."""

    envelope: Envelope
    refused_as: str | None = None

    @property
    def amount_idr(self) -> int:
        """A grant's amount as the interventions service reckons it (the items' sum for
        equipment)."""
        data = self.envelope.data
        if data.get("kind") == "capital":
            return int(data["amount_idr"])
        return sum(i["quantity"] * i["unit_value_idr"] for i in data.get("items", []))


@dataclass(frozen=True)
class Enrolled:
    """A household the agency reaches, as its system knows it."""

    household_id: str
    registered_on: date


def envelope(agency: str, event_type: str, household_id: str, data: dict[str, Any]) -> Envelope:
    """A record in CloudEvents binary mode, keyed by its household (docs/intake.md)."""
    event_id = uuid.uuid4()
    return Envelope(
        id=event_id,
        source=f"/gayari/agencies/{agency}",
        type=event_type,
        subject=household_id,
        correlationid=f"{agency}-{event_id.hex[:12]}",
        data={**data, "agency": agency},
    )


def grants(agency: str, bodies: Sequence[dict[str, Any]]) -> list[IntakeRecord]:
    """The agency's grants (bodies of POST /grants, with their `issued_on`) as intake records."""
    return [IntakeRecord(envelope(agency, GRANT, body["household_id"], body)) for body in bodies]


def mistakes(agency: str, reached: Sequence[Enrolled], budget_line: str) -> list[IntakeRecord]:
    """What an office's system gets wrong: an amount written as the office writes it, a survey
    without its number of workers, a household id mistyped, a visit dated before the
    household was registered. Needs a household or two the agency reaches; fewer, fewer
    mistakes."""
    records: list[IntakeRecord] = []
    if reached:
        first = reached[0]
        amount_as_text = {
            "household_id": first.household_id,
            "kind": "capital",
            "amount_idr": "2.500.000",
            "purpose": "Modal pembibitan karet",
            "budget_line": budget_line,
        }
        records.append(
            IntakeRecord(
                envelope(agency, GRANT, first.household_id, amount_as_text), "invalid-data"
            )
        )
        # Typed in before the visit to the village: visited weeks before the registration.
        early = {
            "household_id": first.household_id,
            "visited_on": (first.registered_on - timedelta(days=20)).isoformat(),
            "business_status": "not-started",
        }
        records.append(
            IntakeRecord(envelope(agency, VISIT, first.household_id, early), "rule-violation")
        )
    if len(reached) > 1:
        second = reached[1]
        no_workers = {
            "household_id": second.household_id,
            "surveyed_on": second.registered_on.isoformat(),
            "monthly_income_idr": 1_750_000,
        }
        records.append(
            IntakeRecord(envelope(agency, SURVEY, second.household_id, no_workers), "invalid-data")
        )
    # A household id the registry never gave: not known (yet), so not taken.
    stranger = str(uuid.uuid4())
    unknown = {
        "household_id": stranger,
        "kind": "capital",
        "amount_idr": 1_500_000,
        "purpose": "Modal pembibitan karet",
        "budget_line": budget_line,
    }
    records.append(
        IntakeRecord(envelope(agency, GRANT, stranger, unknown), "household-not-known-yet")
    )
    return records


def refusals(records: Sequence[IntakeRecord]) -> Counter[str]:
    """How many records each reason code refuses."""
    return Counter(r.refused_as for r in records if r.refused_as is not None)


def agency_settings(credentials: Path, agency: str, topic_prefix: str) -> CommonSettings:
    """The agency's Kafka identity from the client settings the stack wrote for it
    (<cache>/credentials/kafka/agency-<code>/gayari.env), and nothing else: model_validate
    reads no environment, where another principal's settings may be (the tests' own)."""
    env = Credentials(credentials).kafka_env(agency_user(agency))
    if not env:
        raise FileNotFoundError(
            f"no Kafka settings of {agency_user(agency)} under {credentials}: start the stack"
        )
    fields: dict[str, Any] = {
        name.removeprefix("GAYARI_").lower(): value for name, value in env.items()
    }
    return CommonSettings.model_validate(fields | {"topic_prefix": topic_prefix})


async def publish(settings: CommonSettings, agency: str, records: Sequence[IntakeRecord]) -> None:
    """Every record on the agency's intake topic, acknowledged by all in-sync replicas."""
    topic = settings.intake_topic(agency)
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    await producer.start()
    try:
        sent = []
        for record in records:
            wire = record.envelope.to_kafka(topic)
            sent.append(await producer.send(topic, wire.value, key=wire.key, headers=wire.headers))
        # Each future fails if its record was not written (e.g. an ACL denying the topic).
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
