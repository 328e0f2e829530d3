"""The interventions service catching up on the registry's household events, on the real local
stack (`make stack-start`). A benchmark, not a test: it prints its figures and writes
artifacts/bench_household_consumer.json.

    .venv/bin/python -m tests.bench.bench_household_consumer [--households 5000]

A backlog is put on a fresh households topic first (per household: registered, enrolled, a
change of members, and for every fifth an exit; several events of one household, as after a
registry load phase), then the interventions service starts as a real process on a fresh
database and the clock runs until its table of known households holds every household's last
state. The rate is household events applied per second of catch-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from gayari_shared.events.base import EventBase
from gayari_shared.events.contracts import (
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.factory import envelope_for
from gayari_shared.kafka.clients import kafka_reachable
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.settings import CommonSettings
from tests.bench.bench_http import cpu_seconds, issue_keys, peak_rss_mib, pid_of
from tests.conftest import ADMIN_URL, DatabaseFactory
from tests.kafka_tools import delete_topics_with_prefix
from tests.processes import running_services

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def household_events(household: uuid.UUID, n: int) -> list[EventBase]:
    head, other = uuid.uuid4(), uuid.uuid4()
    events: list[EventBase] = [
        HouseholdRegisteredV1(
            household_id=household,
            village_code="62.09.01.2001",
            welfare_decile=1 + n % 4,
            member_count=1,
            kk_hash=uuid.uuid4().hex * 2,
            registered_at=T0,
            member_ids=[head],
        ),
        HouseholdEnrolledV1(
            household_id=household,
            cohort_year=2026,
            enrolling_agency="dinsos",
            enrolled_at=T0 + timedelta(days=1),
        ),
        HouseholdDetailsChangedV1(
            household_id=household,
            changed=["members"],
            member_count=2,
            changed_at=T0 + timedelta(days=2),
            member_ids=[head, other],
        ),
    ]
    if n % 5 == 0:
        events.append(
            HouseholdExitedV1(
                household_id=household, reason="graduated", exited_at=T0 + timedelta(days=30)
            )
        )
    return events


async def put_backlog(settings: CommonSettings, households: int) -> int:
    """Every household's events on the households topic; how many records."""
    await ensure_topics(settings.kafka_connection(), domain_topics(settings))
    producer = AIOKafkaProducer(
        **settings.kafka_connection().client_options(),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
    )
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for n in range(households):
            for event in household_events(uuid.uuid4(), n):
                envelope = envelope_for(event, source="/gayari/registry", correlation_id="bench")
                record = envelope.to_kafka(settings.topic(event.STREAM))
                pending.append(
                    await producer.send(
                        record.topic, record.value, key=record.key, headers=record.headers
                    )
                )
                sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def settled(url: str, households: int) -> bool:
    """Every household known in its last state: enrolled (or exited), both members known."""
    conn = await asyncpg.connect(url)
    try:
        done = await conn.fetchval(
            """SELECT count(*) FROM known_households
               WHERE enrolled_at IS NOT NULL AND registered_at IS NOT NULL
                 AND cardinality(member_ids) = 2""",
        )
        exited = await conn.fetchval(
            "SELECT count(*) FROM known_households WHERE exited_at IS NOT NULL"
        )
    finally:
        await conn.close()
    return int(done) == households and int(exited) == (households + 4) // 5


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["GAYARI_LOG_LEVEL"] = args.log_level
    base = CommonSettings()
    if not await kafka_reachable(base.kafka_connection(), timeout_s=10):
        raise SystemExit(f"Kafka is not reachable at {base.kafka_connection()}")
    await (await asyncpg.connect(ADMIN_URL, timeout=10)).close()
    work = Path(tempfile.mkdtemp(prefix="bench-consumer-"))
    issue_keys(work / "api-keys.json")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={"topic_prefix": prefix, "api_keys_file": work / "api-keys.json"}
    )
    databases = DatabaseFactory()
    try:
        started = time.monotonic()
        events = await put_backlog(settings, args.households)
        produced_s = time.monotonic() - started
        print(f"{events} household events on the topic in {produced_s:.1f} s", file=sys.stderr)
        started = time.monotonic()
        running = running_services(databases, settings, work, ("interventions",))
        try:
            service = (await anext(running))["interventions"]
            ready_s = time.monotonic() - started
            cpu_before = cpu_seconds(pid_of(service))
            url = service.env["GAYARI_INTERVENTIONS_DATABASE_URL"]
            async with asyncio.timeout(args.timeout):
                while not await settled(url, args.households):
                    await asyncio.sleep(0.2)
            caught_up_s = time.monotonic() - started
            cpu_s = cpu_seconds(pid_of(service)) - cpu_before
            rss = peak_rss_mib(pid_of(service))
        finally:
            if isinstance(running, AsyncGenerator):
                await running.aclose()
    finally:
        await databases.drop_all()
        with contextlib.suppress(Exception):
            await delete_topics_with_prefix(base.kafka_connection(), prefix + ".")
    return {
        "households": args.households,
        "household_events": events,
        "service_ready_after_s": round(ready_s, 2),
        "caught_up_after_s": round(caught_up_s, 2),
        "events_per_s": round(events / caught_up_s),
        # The consumer starts shortly before the service answers ready: an upper bound.
        "events_per_s_after_ready": round(events / max(caught_up_s - ready_s, 0.001)),
        "service_cpu_s_after_ready": round(cpu_s, 1),
        "peak_rss_mib": rss,
        "logs": str(work),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=5000, help="households in the backlog")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    parser.add_argument("--log-level", default="WARNING", choices=("INFO", "WARNING", "ERROR"))
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "bench_household_consumer.json")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
