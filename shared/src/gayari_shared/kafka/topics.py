"""Topics are provisioned by the project with an admin client, never auto-created.

Run `python -m gayari_shared.kafka.topics` to create them; each service also ensures the topics
it uses at start (idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from gayari_shared.events.contracts import DOMAIN_STREAMS
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.settings import CommonSettings

log = structlog.get_logger(__name__)

# Every event is kept for ever: reporting rebuilds its read models by replaying from offset 0.
FULL_REPLAY_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int


def domain_topics(settings: CommonSettings) -> list[TopicSpec]:
    """Every topic of a deployment: the domain streams, one intake topic per configured agency
    (a new agency's appears by configuration alone) and the dead-letter topic."""
    names = [settings.topic(stream) for stream in DOMAIN_STREAMS]
    names += [settings.intake_topic(agency.code) for agency in settings.agencies]
    names.append(settings.deadletter_topic)
    return [
        TopicSpec(name, settings.kafka_topic_partitions, settings.kafka_replication_factor)
        for name in names
    ]


async def ensure_topics(kafka: KafkaConnection, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the missing topics; returns the names created. Existing topics are left alone.

    Under the ACLs of the local stack (deploy/local/README.md) only an administrator may create
    topics: a service sees them exist (DESCRIBE) and creates nothing."""
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        # Another service may create one between our list and create.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication_factor,
                        topic_configs=FULL_REPLAY_CONFIG,
                    )
                    for spec in missing
                ]
            )
        created = [spec.name for spec in missing]
        log.info("topics created", topics=created)
        return created
    finally:
        await admin.close()


def main() -> None:
    settings = CommonSettings()
    specs = domain_topics(settings)
    created = asyncio.run(ensure_topics(settings.kafka_connection(), specs))
    names = ", ".join(spec.name for spec in specs)
    print(f"topics ready: {names}" + (f" (created {', '.join(created)})" if created else ""))


if __name__ == "__main__":
    main()
