"""`make bench`: the projection pipeline against its limit and against the naive peer, on the
real local stack. A benchmark, not a test: it prints a table and writes artifacts/bench.json.

Measured on one run, one machine, one backlog of generated events (households over the real
villages of Lamandau, the four agencies' mix of grants, trainings and surveys):
- producer: the broker's producer throughput (aiokafka, acks=all, idempotent, batched);
- raw consume: a plain aiokafka consumer reading the backlog without processing (the limit);
- naive peer: a FastStream subscriber projecting one event per database transaction;
- projector: the reporting projector catching up on the same backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from gayari_reporting.adapters.generations import Generations
from gayari_reporting.adapters.projector import Projector, decode
from gayari_reporting.adapters.store import ReadModelStore
from gayari_shared.areas import load_areas
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.households import HouseholdEnrolledV1, HouseholdRegisteredV1
from gayari_shared.events.interventions import BusinessSurveyedV1, GrantIssuedV2
from gayari_shared.kafka.clients import raw_body
from gayari_shared.kafka.topics import TopicSpec, ensure_topics
from gayari_shared.logging import configure_logging
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import ADMIN_URL
from tests.kafka_tools import delete_topics_with_prefix

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
AGENCIES = ("dinsos", "dispar", "distakan", "dkukmpp")
NOW = datetime.now(UTC)


def programme(events: int, seed: int = 1) -> list[Envelope]:
    rng = random.Random(seed)
    villages = [v.code for v in load_areas().villages_in("62.09")]
    out: list[Envelope] = []
    while len(out) < events:
        household = uuid.uuid4()
        out.append(
            envelope_for(
                HouseholdRegisteredV1(
                    household_id=household,
                    village_code=rng.choice(villages),
                    welfare_decile=rng.randint(1, 4),
                    member_count=rng.randint(1, 6),
                    kk_hash=f"{rng.getrandbits(256):064x}",
                    registered_at=NOW,
                ),
                source="/gayari/registry",
                correlation_id="bench",
            )
        )
        out.append(
            envelope_for(
                HouseholdEnrolledV1(
                    household_id=household,
                    cohort_year=2026,
                    enrolling_agency="dinsos",
                    enrolled_at=NOW,
                ),
                source="/gayari/registry",
                correlation_id="bench",
            )
        )
        for agency in rng.sample(AGENCIES, k=rng.randint(1, 3)):
            out.append(
                envelope_for(
                    GrantIssuedV2(
                        household_id=household,
                        grant_id=uuid.uuid4(),
                        agency=agency,
                        kind="capital",
                        amount_idr=rng.randrange(500_000, 5_000_000, 1000),
                        purpose="Modal usaha",
                        fiscal_year=2026,
                        budget_line=None,
                        items=[],
                        issued_at=NOW,
                    ),
                    source=f"/gayari/agencies/{agency}",
                    correlation_id="bench",
                )
            )
        out.append(
            envelope_for(
                BusinessSurveyedV1(
                    household_id=household,
                    survey_id=uuid.uuid4(),
                    agency="dkukmpp",
                    surveyed_on=NOW.date(),
                    monthly_income_idr=rng.randrange(500_000, 5_000_000),
                    workers=rng.randint(1, 3),
                    recorded_at=NOW,
                ),
                source="/gayari/agencies/dkukmpp",
                correlation_id="bench",
            )
        )
    return out[:events]


async def timed(label: str, results: dict[str, Any], events: int, run: Callable[[], Any]) -> None:
    started = time.perf_counter()
    await run()
    seconds = time.perf_counter() - started
    results[label] = {
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
    }
    print(f"{label:<34} {events:>9} events {seconds:>8.2f} s {events / seconds:>10.0f} events/s")


async def fresh_database() -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(ADMIN_URL)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def main(events: int) -> dict[str, Any]:
    settings = CommonSettings()
    bootstrap = settings.kafka_bootstrap_servers
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    topics = {"households": f"{prefix}.households", "interventions": f"{prefix}.interventions"}
    await ensure_topics(bootstrap, [TopicSpec(t, 6, 1) for t in topics.values()])
    envelopes = programme(events)
    records = [
        e.to_kafka(topics["households" if "household" in e.type else "interventions"])
        for e in envelopes
    ]
    results: dict[str, Any] = {}

    async def produce() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        try:
            for start in range(0, len(records), 5000):
                futures = [
                    await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                    for r in records[start : start + 5000]
                ]
                await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def raw_consume() -> None:
        consumer = AIOKafkaConsumer(
            *topics.values(),
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}-raw",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 << 20,
        )
        await consumer.start()
        seen = 0
        try:
            while seen < events:
                for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    seen += len(batch)
        finally:
            await consumer.stop()

    async def projector() -> None:
        pool = await create_pool(await fresh_database(), max_size=4)
        await Generations(pool).prepare()
        store = ReadModelStore(pool)
        projector = Projector(
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}-projector",
            topics=list(topics.values()),
            store=store,
            max_records=5000,
        )
        task = asyncio.create_task(projector.run())
        try:
            while projector.projected_total < events:
                await asyncio.sleep(0.2)
        finally:
            projector.stop()
            await task
            await pool.close()

    async def naive_peer() -> None:
        """As the tutorials do: one event, one transaction, one commit."""
        pool = await create_pool(await fresh_database(), max_size=4)
        await Generations(pool).prepare()
        store = ReadModelStore(pool)
        broker = KafkaBroker(bootstrap, logger=None)
        done = asyncio.Event()
        count = 0

        @broker.subscriber(
            *topics.values(),
            group_id=f"{prefix}-naive",
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.ACK,
            decoder=raw_body,
        )
        async def handle(message: KafkaMessage) -> None:
            nonlocal count
            record = message.raw_message
            assert not isinstance(record, tuple)
            await store.apply("naive", {(record.topic, record.partition): [decode(record)]})
            count += 1
            if count >= naive_events:
                done.set()

        await broker.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=900)
        finally:
            await broker.stop()
            await pool.close()

    naive_events = min(events, 5_000)  # the peer is slow: measure it on a part
    try:
        await timed("producer (acks=all, idempotent)", results, events, produce)
        await timed("raw consume (the limit)", results, events, raw_consume)
        await timed("reporting projector (catch-up)", results, events, projector)
        await timed("naive peer (1 event/transaction)", results, naive_events, naive_peer)
    finally:
        await delete_topics_with_prefix(bootstrap, prefix + ".")
    limit = results["raw consume (the limit)"]["events_per_s"]
    ours = results["reporting projector (catch-up)"]["events_per_s"]
    naive = results["naive peer (1 event/transaction)"]["events_per_s"]
    results["ratios"] = {
        "projector_vs_limit": round(ours / limit, 3),
        "projector_vs_naive": round(ours / naive, 2),
    }
    print(
        f"projector / raw consume: {ours / limit:.1%}   projector / naive peer: {ours / naive:.1f}x"
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    # The pipeline, not the terminal: per-event INFO lines would be most of what is measured.
    configure_logging("bench", "WARNING", json=True)
    figures = asyncio.run(main(parser.parse_args().events))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench.json").write_text(json.dumps(figures, indent=2))
