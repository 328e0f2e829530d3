"""The transactional outbox on real PostgreSQL and Kafka: published after commit, never
before, never when rolled back; what lands on Kafka is a valid CloudEvent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from functools import partial

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from gayari_shared.events.contracts import GrantIssuedV1
from gayari_shared.events.factory import envelope_for
from gayari_shared.kafka.clients import idempotent_producer
from gayari_shared.kafka.topics import TopicSpec, ensure_topics
from gayari_shared.outbox import (
    _LANE_LOCK_CLASS,
    NOTIFY_CHANNEL,
    OutboxRelay,
    add_to_outbox,
    lane_of,
)
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack


def _event() -> GrantIssuedV1:
    return GrantIssuedV1(
        household_id=uuid.uuid4(),
        grant_id=uuid.uuid4(),
        agency="dinsos",
        kind="capital",
        amount_idr=750_000,
        issued_at=datetime.now(UTC),
    )


async def test_relay_publishes_committed_rows_only(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    kafka = isolated_settings.kafka_connection()
    topic = isolated_settings.topic("interventions")
    await ensure_topics(kafka, [TopicSpec(topic, 3, 1)])
    # The outbox of a service's schema (its tables: the registry's migrations).
    pool = await create_pool(await databases.create(migrated="registry"))
    producer = idempotent_producer(kafka, "outbox-test")
    await producer.start()
    relay = OutboxRelay(pool, lambda: producer)
    relay._producer = producer  # drive it by hand, batch by batch, without its loop
    try:
        committed = envelope_for(_event(), source="/gayari/agencies/dinsos", correlation_id="c-1")
        rolled_back = envelope_for(_event(), source="/gayari/agencies/dinsos", correlation_id="c-2")

        async with pool.acquire() as writer:
            tx = writer.transaction()
            await tx.start()
            await add_to_outbox(writer, committed, topic)
            assert await relay.publish_pending() == 0, "an uncommitted row was visible"
            await tx.commit()
        assert await relay.publish_pending() == 1

        with pytest.raises(RuntimeError):
            async with pool.acquire() as writer, writer.transaction():
                await add_to_outbox(writer, rolled_back, topic)
                raise RuntimeError("the domain write failed")
        assert await relay.publish_pending() == 0
        assert await relay.pending() == 0
    finally:
        await producer.stop()
        await pool.close()

    records = await read_topic(kafka, topic, expect=1)
    assert len(records) == 1
    record = records[0]
    message = ce_kafka.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    event = ce_kafka.from_binary_event(message)
    assert event.get_id() == str(committed.id)
    assert event.get_extension("correlationid") == "c-1"
    assert record.key == committed.subject.encode()


async def test_relay_loop_drains_and_marks_rows(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    kafka = isolated_settings.kafka_connection()
    topic = isolated_settings.topic("interventions")
    await ensure_topics(kafka, [TopicSpec(topic, 6, 1)])
    pool = await create_pool(await databases.create(migrated="registry"))
    relay = OutboxRelay(
        pool, partial(idempotent_producer, kafka, "outbox-test"), poll_interval_s=0.2
    )
    task = asyncio.create_task(relay.run())
    try:
        envelopes = [envelope_for(_event(), source="/s", correlation_id="c") for _ in range(120)]
        async with pool.acquire() as conn, conn.transaction():
            for envelope in envelopes:
                await add_to_outbox(conn, envelope, topic)
        async with asyncio.timeout(30):
            while await relay.pending():
                await asyncio.sleep(0.1)
    finally:
        relay.stop()
        await task
    async with pool.acquire() as conn:
        unmarked = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    await pool.close()
    assert unmarked == 0
    records = await read_topic(kafka, topic, expect=120)
    # Header order is not kept (the outbox stores them as jsonb); their content is.
    assert sorted(sorted(r.headers) for r in records) == sorted(
        sorted(e.to_kafka(topic).headers) for e in envelopes
    )
    assert len(records) == 120


async def test_two_relays_keep_each_households_order(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    kafka = isolated_settings.kafka_connection()
    topic = isolated_settings.topic("interventions")
    await ensure_topics(kafka, [TopicSpec(topic, 6, 1)])
    pool = await create_pool(await databases.create(migrated="registry"), max_size=12)
    households = [uuid.uuid4() for _ in range(30)]
    written: dict[str, list[str]] = {str(h): [] for h in households}
    relays = [
        OutboxRelay(
            pool,
            partial(idempotent_producer, kafka, f"relay-{i}"),
            batch_size=25,
            poll_interval_s=0.05,
        )
        for i in range(2)
    ]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        for round_ in range(20):  # rows keep arriving while both relays run
            async with pool.acquire() as conn, conn.transaction():
                for household in households:
                    event = GrantIssuedV1(
                        household_id=household,
                        grant_id=uuid.uuid4(),
                        agency="dinsos",
                        kind="capital",
                        amount_idr=1000 + round_,
                        issued_at=datetime.now(UTC),
                    )
                    envelope = envelope_for(event, source="/s", correlation_id="c")
                    await add_to_outbox(conn, envelope, topic)
                    written[str(household)].append(str(envelope.id))
        async with asyncio.timeout(60):
            while await relays[0].pending():
                await asyncio.sleep(0.1)
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
        await pool.close()
    assert all(relay.published_total > 0 for relay in relays), "one relay did all the work"
    assert sum(relay.published_total for relay in relays) == 600

    records = await read_topic(kafka, topic, expect=600)
    assert len(records) == 600
    received: dict[str, list[str]] = {str(h): [] for h in households}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        received[record.key.decode()].append(dict(record.headers)["ce_id"].decode())
    assert received == written  # per household: every event once, in the order written


async def test_relay_publishes_every_free_lane_in_one_transaction(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    """Rows of many lanes go out in one batch, one commit (one published_at), not a transaction
    per lane; a lane another relay holds is left to it, and published once it is free."""
    kafka = isolated_settings.kafka_connection()
    topic = isolated_settings.topic("interventions")
    await ensure_topics(kafka, [TopicSpec(topic, 6, 1)])
    pool = await create_pool(await databases.create(migrated="registry"))
    producer = idempotent_producer(kafka, "outbox-test")
    await producer.start()
    relay = OutboxRelay(pool, lambda: producer)
    relay._producer = producer
    try:
        envelopes = [envelope_for(_event(), source="/s", correlation_id="c") for _ in range(60)]
        async with pool.acquire() as conn, conn.transaction():
            for envelope in envelopes:
                await add_to_outbox(conn, envelope, topic)
        async with pool.acquire() as conn:
            lanes = await conn.fetch("SELECT DISTINCT lane FROM outbox ORDER BY lane")
        assert len(lanes) > 8
        held = lanes[0]["lane"]
        async with pool.acquire() as other, other.transaction():
            assert await other.fetchval(
                "SELECT pg_try_advisory_xact_lock($1, $2)", _LANE_LOCK_CLASS, held
            )
            assert await relay.publish_pending() == sum(
                lane_of(e.to_kafka(topic).key) != held for e in envelopes
            )
        async with pool.acquire() as conn:
            stamps = await conn.fetch(
                "SELECT DISTINCT published_at FROM outbox WHERE published_at IS NOT NULL"
            )
            assert len(stamps) == 1  # one transaction
        assert await relay.publish_pending() > 0  # the held lane, now free
        assert await relay.pending() == 0
    finally:
        await producer.stop()
        await pool.close()
    assert len(await read_topic(kafka, topic, expect=60)) == 60


async def test_nudges_wake_the_relay_and_coalesce_into_few_notifications(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    """A writer that committed rows nudges its relay: it wakes at once (without polling) and
    the relays of other instances get a notification, sent outside the writers'
    transactions; a burst of nudges makes a notification or two, not one each."""
    kafka = isolated_settings.kafka_connection()
    topic = isolated_settings.topic("interventions")
    await ensure_topics(kafka, [TopicSpec(topic, 3, 1)])
    pool = await create_pool(await databases.create(migrated="registry"))
    relay = OutboxRelay(
        pool, partial(idempotent_producer, kafka, "outbox-test"), poll_interval_s=3600
    )
    listener = await pool.acquire()
    notified: asyncio.Queue[str] = asyncio.Queue()

    def on_notify(*args: object) -> None:
        notified.put_nowait(str(args[2]))

    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # started, and asleep for an hour unless woken
        async with pool.acquire() as conn, conn.transaction():
            for _ in range(5):
                envelope = envelope_for(_event(), source="/s", correlation_id="c")
                await add_to_outbox(conn, envelope, topic, notify=False)
        for _ in range(50):
            relay.nudge()
        async with asyncio.timeout(10):
            assert await notified.get() == NOTIFY_CHANNEL
            while await relay.pending():
                await asyncio.sleep(0.05)
        assert 1 <= relay.notifications_sent <= 2
    finally:
        relay.stop()
        await task
        await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
        await pool.release(listener)
        await pool.close()
