"""The reporting projection on real Kafka and PostgreSQL: offsets stored with the read model,
resumed from after a restart (Kafka's own committed offsets do not matter), and an event
delivered twice counted once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gayari_reporting.adapters import tallies
from gayari_reporting.adapters.generations import Generations, use_active
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.entrypoints.projector import Projector
from gayari_shared.events.contracts import GrantIssuedV1, HouseholdRegisteredV1
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.deadletter import send_to_dead_letters
from gayari_shared.kafka.topics import TopicSpec, ensure_topics
from gayari_shared.postgres import Pool, create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def programme(households: int) -> list[Envelope]:
    events: list[Envelope] = []
    for i in range(households):
        hid = uuid.uuid4()
        events.append(
            envelope_for(
                HouseholdRegisteredV1(
                    household_id=hid,
                    village_code="62.09.03.2001",
                    welfare_decile=1 + i % 4,
                    member_count=3,
                    kk_hash=f"{i:064x}",
                    registered_at=NOW,
                ),
                source="/gayari/registry",
                correlation_id=f"c-{i}",
            )
        )
        events.append(
            envelope_for(
                GrantIssuedV1(
                    household_id=hid,
                    grant_id=uuid.uuid4(),
                    agency=("dinsos", "distakan")[i % 2],
                    kind="capital",
                    amount_idr=1_000_000 + i,
                    issued_at=NOW,
                ),
                source="/gayari/agencies/x",
                correlation_id=f"c-{i}",
            )
        )
    return events


async def publish(kafka: KafkaConnection, topics: dict[str, str], events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for envelope in events:
            stream = "households" if "household" in envelope.type else "interventions"
            record = envelope.to_kafka(topics[stream])
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()


async def project_until(projector: Projector, store: ReadModelStore, households: int) -> None:
    task = asyncio.create_task(projector.run())
    try:
        async with asyncio.timeout(60):
            while (await store.progress_figures())[0] < households or (
                await projector.events_behind()
            ) != 0:
                await asyncio.sleep(0.2)
    finally:
        projector.stop()
        await asyncio.wait_for(task, 15)


async def totals(pool: Pool) -> tuple[int, int, int]:
    async with pool.acquire() as conn, conn.transaction():
        await use_active(conn)
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM household_state WHERE registered_at IS NOT NULL) AS h,
                      (SELECT count(*) FROM grants) AS g,
                      (SELECT coalesce(sum(amount_idr), 0) FROM grants) AS idr"""
        )
    assert row is not None
    return int(row["h"]), int(row["g"]), int(row["idr"])


async def drift(pool: Pool) -> dict[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        await use_active(conn)
        return await tallies.drift(conn)


# Three lanes: batches split over partition indexes and committed side by side, all of them
# adding to the same country-wide tally rows.
@pytest.mark.parametrize("lanes", [1, 3])
async def test_projection_resumes_from_stored_offsets(
    databases: DatabaseFactory, isolated_settings: CommonSettings, lanes: int
) -> None:
    kafka = isolated_settings.kafka_connection()
    topics = {s: isolated_settings.topic(s) for s in ("households", "interventions")}
    await ensure_topics(kafka, [TopicSpec(t, 6, 1) for t in topics.values()])
    pool = await create_pool(await databases.create())
    await Generations(pool).prepare()
    store = ReadModelStore(pool)
    group = f"reporting-{uuid.uuid4().hex[:8]}"

    def projector() -> Projector:
        return Projector(
            kafka=kafka,
            group_id=group,
            topics=list(topics.values()),
            store=store,
            max_records=50,
            lanes=lanes,
        )

    first = programme(40)
    await publish(kafka, topics, first)
    run1 = projector()
    await project_until(run1, store, 40)
    assert run1.projected_total == 80
    assert await totals(pool) == (40, 40, sum(1_000_000 + i for i in range(40)))

    # Rewind Kafka's own committed offsets: the database's offsets must win.
    rewinder = AIOKafkaConsumer(**kafka.client_options(), group_id=group, enable_auto_commit=False)
    partitions = [TopicPartition(t, p) for t in topics.values() for p in range(6)]
    await rewinder.start()
    try:
        rewinder.assign(partitions)
        await rewinder.commit({tp: 0 for tp in partitions})
    finally:
        await rewinder.stop()

    second = programme(25)
    duplicate = first[1]  # the same grant event again, as an outbox relay may resend it
    await publish(kafka, topics, [*second, duplicate])
    run2 = projector()
    await project_until(run2, store, 65)
    assert run2.projected_total == 51, "the restart re-projected events it had stored"
    expected_idr = sum(1_000_000 + i for i in range(40)) + sum(1_000_000 + i for i in range(25))
    assert await totals(pool) == (65, 65, expected_idr)
    assert await drift(pool) == dict.fromkeys(tallies.TABLES, 0)
    await pool.close()


async def test_invalid_record_is_kept_aside_and_projection_goes_on(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    kafka = isolated_settings.kafka_connection()
    topics = {s: isolated_settings.topic(s) for s in ("households", "interventions")}
    await ensure_topics(
        kafka,
        [
            *(TopicSpec(t, 2, 1) for t in topics.values()),
            TopicSpec(isolated_settings.deadletter_topic, 1, 1),
        ],
    )
    pool = await create_pool(await databases.create())
    await Generations(pool).prepare()
    store = ReadModelStore(pool)
    producer = AIOKafkaProducer(**kafka.client_options())
    await producer.start()
    await producer.send_and_wait(topics["households"], b"{not json", key=b"x")
    await producer.stop()
    await publish(kafka, topics, programme(3))
    dlq = AIOKafkaProducer(**kafka.client_options())
    await dlq.start()
    projector = Projector(
        kafka=kafka,
        group_id="g-" + uuid.uuid4().hex[:6],
        topics=list(topics.values()),
        store=store,
        dead_letters=partial(
            send_to_dead_letters, dlq, isolated_settings.deadletter_topic, consumer="reporting"
        ),
    )
    try:
        await project_until(projector, store, 3)
    finally:
        await dlq.stop()
    assert await store.rejected_count() == 1
    assert (await totals(pool))[:2] == (3, 3)
    await pool.close()
    (dead,) = await read_topic(kafka, isolated_settings.deadletter_topic, expect=1)
    reason = {name: bytes(value) for name, value in dead.headers}["dlq-reason"]
    assert reason.startswith(b"invalid CloudEvents attributes") and dead.value == b"{not json"
