"""`make bench`: the projection pipeline against its limit and against the naive peer, on the
real local stack. A benchmark, not a test: it prints a table and writes artifacts/bench.json
(`--out`).

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
import contextlib
import gc
import json
import os
import random
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from gayari_reporting.adapters.decoding import decode
from gayari_reporting.adapters.generations import Generations, use_active
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.service_layer.projection import project
from gayari_shared.areas import load_areas
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.events.envelope import Envelope, KafkaRecord
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.households import HouseholdEnrolledV1, HouseholdRegisteredV1
from gayari_shared.events.interventions import (
    BusinessSurveyedV1,
    GrantIssuedV2,
    MentoringVisitedV1,
    TrainingCompletedV2,
)
from gayari_shared.kafka.clients import raw_body
from gayari_shared.kafka.topics import TopicSpec, ensure_topics
from gayari_shared.logging import configure_logging
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import ADMIN_URL, database_name, database_url, migrate_up
from tests.kafka_tools import delete_topics_with_prefix
from tests.processes import BIN, Service, free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
AGENCIES = ("dinsos", "dispar", "distakan", "dkukmpp")
NOW = datetime.now(UTC)


def programme(events: int, seed: int = 1) -> list[Envelope]:
    """Households over the real villages of Lamandau, registered and enrolled, then the four
    agencies' mix: capital and equipment grants, trainings, mentoring visits and surveys."""
    rng = random.Random(seed)
    villages = [v.code for v in load_areas().villages_in("62.09")]
    out: list[Envelope] = []

    def add(data: Any, source: str) -> None:
        out.append(envelope_for(data, source=source, correlation_id="bench"))

    while len(out) < events:
        household = uuid.uuid4()
        add(
            HouseholdRegisteredV1(
                household_id=household,
                village_code=rng.choice(villages),
                welfare_decile=rng.randint(1, 4),
                member_count=rng.randint(1, 6),
                kk_hash=f"{rng.getrandbits(256):064x}",
                registered_at=NOW,
            ),
            "/gayari/registry",
        )
        add(
            HouseholdEnrolledV1(
                household_id=household,
                cohort_year=2026,
                enrolling_agency="dinsos",
                enrolled_at=NOW,
            ),
            "/gayari/registry",
        )
        for agency in rng.sample(AGENCIES, k=rng.randint(1, 3)):
            source = f"/gayari/agencies/{agency}"
            if agency in ("dispar", "dkukmpp") and rng.random() < 0.5:
                add(
                    TrainingCompletedV2(
                        household_id=household,
                        completion_id=uuid.uuid4(),
                        session_id=uuid.uuid4(),
                        member_id=uuid.uuid4(),
                        agency=agency,
                        topic="Pemasaran digital",
                        hours=rng.choice((8, 16, 24)),
                        completed_on=NOW.date(),
                        recorded_at=NOW,
                    ),
                    source,
                )
            else:
                add(
                    GrantIssuedV2(
                        household_id=household,
                        grant_id=uuid.uuid4(),
                        agency=agency,
                        kind=rng.choice(("capital", "equipment")),
                        amount_idr=rng.randrange(500_000, 5_000_000, 1000),
                        purpose="Modal usaha",
                        fiscal_year=2026,
                        budget_line=None,
                        items=[],
                        issued_at=NOW,
                    ),
                    source,
                )
        if rng.random() < 0.3:
            add(
                MentoringVisitedV1(
                    household_id=household,
                    visit_id=uuid.uuid4(),
                    agency="dkukmpp",
                    visited_on=NOW.date(),
                    business_status=rng.choice(("running", "growing", "stalled")),
                    recorded_at=NOW,
                ),
                "/gayari/agencies/dkukmpp",
            )
        add(
            BusinessSurveyedV1(
                household_id=household,
                survey_id=uuid.uuid4(),
                agency="dkukmpp",
                surveyed_on=NOW.date(),
                monthly_income_idr=rng.randrange(500_000, 5_000_000),
                workers=rng.randint(1, 3),
                recorded_at=NOW,
            ),
            "/gayari/agencies/dkukmpp",
        )
    return out[:events]


def row(label: str, events: int, seconds: float, extra: str = "") -> dict[str, Any]:
    rate = events / seconds if seconds else 0.0
    print(f"{label:<40} {events:>9} events {seconds:>8.2f} s {rate:>10.0f} events/s  {extra}")
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(rate)}


async def fresh_database() -> str:
    """A new database with reporting's migrations applied, as a deployment's migrate step does
    before the service starts (the service does not migrate at start)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(ADMIN_URL)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = database_url(name)
    await migrate_up("reporting", url)
    return url


async def drop_databases(urls: list[str]) -> None:
    """Drop them; a database an autovacuum worker is in cannot be forced by a non-superuser
    (`permission denied to terminate process`): wait for it a while, then leave it named."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for url in urls:
            name = database_name(url)
            for attempt in range(30):
                try:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError) as exc:
                    if attempt == 29:
                        print(f"database {name} left behind (drop it by hand): {exc}")
                    await asyncio.sleep(1)
    finally:
        await conn.close()


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set with its children's (the replay's workers are children)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                total += rss_mb(int(child), field)
    return total


class PeakRss:
    """The highest resident set of some processes while it runs (sampled every 100 ms)."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError):
                    self.peak[name] = max(self.peak[name], rss_mb(pid))
            await asyncio.sleep(0.1)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


class Bench:
    """One run: a topic prefix, its backlog, the services started, the figures gathered."""

    def __init__(self, events: int, workdir: Path) -> None:
        self.events = events
        self.workdir = workdir
        self.settings = CommonSettings()
        self.kafka = self.settings.kafka_connection()
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.topics = {s: f"{self.prefix}.{s}" for s in ("households", "interventions")}
        self.results: dict[str, Any] = {"events": events}
        self.replay_workers: int | None = None  # None: the command's default
        self.databases: list[str] = []
        self.services: list[Service] = []
        keys = KeyFile(workdir / "api-keys.json")
        _, record = issue_key("bench", {Role.REPORTING_READ})
        keys.add(record)
        self.keys_file = keys.path

    def record(self, envelope: Envelope) -> KafkaRecord:
        stream = "households" if envelope.type.startswith("gayari.household") else "interventions"
        return envelope.to_kafka(self.topics[stream])

    # -- the backlog and the limit ------------------------------------------------------

    async def produce_backlog(self) -> None:
        """Generated in chunks (a million envelopes at once would be gigabytes); only sending
        is timed."""
        producer = AIOKafkaProducer(
            **self.kafka.client_options(),
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        sending, sent, chunk = 0.0, 0, 50_000
        try:
            for seed, start in enumerate(range(0, self.events, chunk)):
                records = [self.record(e) for e in programme(min(chunk, self.events - start), seed)]
                began = time.perf_counter()
                futures = [
                    await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                    for r in records
                ]
                await asyncio.gather(*futures)
                sending += time.perf_counter() - began
                sent += len(records)
                print(f"  backlog: {sent:,} of {self.events:,} events", end="\r", flush=True)
        finally:
            await producer.stop()
        self.results["producer"] = row("producer (acks=all, idempotent)", sent, sending)

    async def raw_consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics.values(),
            **self.kafka.client_options(),
            group_id=f"{self.prefix}-raw",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 << 20,
        )
        await consumer.start()
        seen, began = 0, 0.0
        try:
            while seen < self.events:
                fetched = await consumer.getmany(timeout_ms=500, max_records=5000)
                if fetched and not began:
                    began = time.perf_counter()  # from the first record: not the group join
                for batch in fetched.values():
                    seen += len(batch)
        finally:
            await consumer.stop()
        self.results["raw_consume"] = row(
            "raw consume (the limit)", seen, time.perf_counter() - began
        )

    # -- the reporting service as operators run it ---------------------------------------

    async def start_reporting(self, database_url: str, group: str, label: str) -> Service:
        env = {
            **os.environ,
            "GAYARI_TOPIC_PREFIX": self.prefix,
            "GAYARI_API_KEYS_FILE": str(self.keys_file),
            "GAYARI_REPORTING_DATABASE_URL": database_url,
            "GAYARI_REPORTING_CONSUMER_GROUP": group,
        }
        port = free_port()
        env["GAYARI_REPORTING_HTTP_PORT"] = str(port)
        service = Service("reporting", port, env, self.workdir / f"{label}.log")
        service.start()
        self.services.append(service)
        await service.wait_ready()
        return service

    async def projected(self, pool: asyncpg.Pool, group: str) -> dict[tuple[str, int], int]:
        async with pool.acquire() as conn, conn.transaction():
            await use_active(conn)
            rows = await conn.fetch(
                """SELECT topic, partition, next_offset FROM projection_offsets
                   WHERE consumer_group = $1""",
                group,
            )
        return {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}

    async def wait_projected(self, pool: asyncpg.Pool, group: str, total: int) -> float:
        """Seconds from the first projected batch to the last event projected."""
        began = 0.0
        async with asyncio.timeout(1800):
            while True:
                done = sum((await self.projected(pool, group)).values())
                if done and not began:
                    began = time.perf_counter()
                if done >= total:
                    return time.perf_counter() - began
                await asyncio.sleep(0.05)

    async def catch_up(self) -> tuple[Service, asyncpg.Pool, str]:
        url, group = await self.database(), f"{self.prefix}-reporting"
        service = await self.start_reporting(url, group, "reporting")
        assert service.process is not None
        pool = await create_pool(url, max_size=2)
        with PeakRss(reporting=service.process.pid) as rss:
            seconds = await self.wait_projected(pool, group, self.events)
        self.results["projector"] = row(
            "reporting projector (catch-up)",
            self.events,
            seconds,
            f"peak RSS {rss.peak['reporting']:.0f} MB",
        )
        self.results["projector"]["reporting_peak_rss_mb"] = round(rss.peak["reporting"])
        return service, pool, group

    async def replay(self, service: Service, url: str) -> None:
        """Every read model rebuilt from offset 0 while the service serves and projects."""
        assert service.process is not None
        env = dict(service.env)
        began = time.perf_counter()
        replay = subprocess.Popen(
            [
                str(BIN / "gayari-reporting-replay"),
                "--no-progress",
                "--keep-previous",
                *(() if self.replay_workers is None else ("--workers", str(self.replay_workers))),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with PeakRss(reporting=service.process.pid, replay=replay.pid) as rss:
            while replay.poll() is None:
                await asyncio.sleep(0.1)
        seconds = time.perf_counter() - began
        out, err = replay.communicate()
        assert replay.returncode == 0, err
        self.results["replay"] = row(
            "replay of every read model (command)",
            self.events,
            seconds,
            f"peak RSS replay (with workers) {rss.peak['replay']:.0f} MB, "
            f"service {rss.peak['reporting']:.0f} MB",
        )
        self.results["replay"].update(
            workers=self.replay_workers or "default",
            replay_peak_rss_mb=round(rss.peak["replay"]),
            reporting_peak_rss_mb=round(rss.peak["reporting"]),
            output=out.strip(),
        )
        del url

    async def freshness(self, pool: asyncpg.Pool, group: str, rate: int, seconds: int) -> None:
        """Publish at a steady rate; an event is visible when its partition's stored offset
        (committed with the read model) passes it. Sampled every 5 ms."""
        envelopes = programme(rate * seconds, seed=10_000)
        records = [self.record(e) for e in envelopes]
        sent_at: dict[tuple[str, int, int], float] = {}
        visible_at: dict[tuple[str, int], list[tuple[int, float]]] = {}
        producer = AIOKafkaProducer(
            **self.kafka.client_options(), acks="all", enable_idempotence=True, linger_ms=1
        )
        await producer.start()
        stop = asyncio.Event()

        async def watch() -> None:
            last = await self.projected(pool, group)
            while not stop.is_set():
                now = await self.projected(pool, group)
                seen = time.perf_counter()
                for key, offset in now.items():
                    if offset > last.get(key, 0):
                        visible_at.setdefault(key, []).append((offset, seen))
                last = now
                await asyncio.sleep(0.005)

        async def send(record: KafkaRecord, at: float) -> None:
            future = await producer.send(
                record.topic, record.value, key=record.key, headers=record.headers
            )
            meta = await future
            sent_at[(meta.topic, meta.partition, meta.offset)] = at

        # The measurer must not stall: this process holds the run's records and, by the end,
        # 120,000 send times; a full collection of that heap paused its loop (publishing and
        # watching alike) for 0.4-1 s, which showed up as a slow last 10 s window in every run.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            watcher = asyncio.create_task(watch())
            pending: list[asyncio.Task[None]] = []
            began = time.perf_counter()
            tick = 0.01  # 20 events every 10 ms
            per_tick = max(1, int(rate * tick))
            for i in range(0, len(records), per_tick):
                due = began + (i // per_tick) * tick
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                now = time.perf_counter()
                pending += [asyncio.create_task(send(r, now)) for r in records[i : i + per_tick]]
            await asyncio.gather(*pending)
            publishing = time.perf_counter() - began
            async with asyncio.timeout(60):
                while True:
                    stored = await self.projected(pool, group)
                    if all(stored.get((t, p), 0) > o for t, p, o in sent_at):
                        break
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.05)
            stop.set()
            await watcher
        finally:
            gc.enable()
            gc.unfreeze()
        await producer.stop()
        latencies = []
        by_window: dict[int, list[float]] = {}  # where in the run the slow ones were
        for (topic, partition, offset), at in sent_at.items():
            steps = visible_at.get((topic, partition), [])
            seen = next((when for upto, when in steps if upto > offset), None)
            if seen is not None:
                latencies.append((seen - at) * 1000)
                by_window.setdefault(int((at - began) // 10), []).append(latencies[-1])
        latencies.sort()

        def pct(q: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

        figures = {
            "rate_per_s": round(len(records) / publishing),
            "events": len(records),
            "measured": len(latencies),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1], 1),
            "p99_ms_by_10s": [
                round(sorted(w)[min(len(w) - 1, int(0.99 * len(w)))], 1)
                for _, w in sorted(by_window.items())
            ],
        }
        self.results["freshness"] = figures
        print(
            f"{'freshness (publish to read model)':<40} {len(records):>9} events at "
            f"{figures['rate_per_s']}/s: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
            f"p99 {figures['p99_ms']} ms (p99 by 10 s: {figures['p99_ms_by_10s']})"
        )

    async def naive_peer(self, events: int) -> None:
        """As the tutorials do: one event, one transaction, one commit."""
        pool = await create_pool(await self.database(), max_size=4)
        await Generations(pool).prepare()
        store = ReadModelStore(pool)
        broker = KafkaBroker(
            self.kafka.bootstrap_servers,
            security=self.kafka.faststream_security(),
            logger=None,
        )
        done = asyncio.Event()
        count = 0

        @broker.subscriber(
            *self.topics.values(),
            group_id=f"{self.prefix}-naive",
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.ACK,
            decoder=raw_body,
        )
        async def handle(message: KafkaMessage) -> None:
            nonlocal count
            record = message.raw_message
            assert not isinstance(record, tuple)
            await project(store, "naive", {(record.topic, record.partition): [decode(record)]})
            count += 1
            if count >= events:
                done.set()

        await broker.start()
        began = time.perf_counter()
        try:
            await asyncio.wait_for(done.wait(), timeout=900)
        finally:
            await broker.stop()
            await pool.close()
        self.results["naive_peer"] = row(
            "naive peer (FastStream, 1 event/tx)", events, time.perf_counter() - began
        )

    async def two_instances(self) -> None:
        """Two reporting instances in one group on the same backlog: measured from the moment
        both hold partitions (the first starts projecting while the second starts up)."""
        url, group = await self.database(), f"{self.prefix}-pair"
        first = await self.start_reporting(url, group, "pair-1")
        second = await self.start_reporting(url, group, "pair-2")
        pool = await create_pool(url, max_size=2)

        def split() -> dict[str, list[str]]:
            latest = {}
            for name, service in (("instance 1", first), ("instance 2", second)):
                assigned = [
                    line["partitions"]
                    for line in service.log_lines()
                    if line.get("event") == "partitions assigned"
                ]
                latest[name] = assigned[-1] if assigned else []
            return latest

        try:
            async with asyncio.timeout(120):
                while not all(split().values()):
                    await asyncio.sleep(0.05)
            both_at, done_then = (
                time.perf_counter(),
                sum((await self.projected(pool, group)).values()),
            )
            await self.wait_projected(pool, group, self.events)
            seconds = time.perf_counter() - both_at
        finally:
            await pool.close()
        # Every assignment each instance logged, in order: how the partitions split over time.
        history = {
            name: [
                len(line["partitions"])
                for line in service.log_lines()
                if line.get("event") == "partitions assigned"
            ]
            for name, service in (("instance 1", first), ("instance 2", second))
        }
        self.results["two_instances"] = row(
            "two reporting instances (both assigned)",
            self.events - done_then,
            seconds,
            " | ".join(f"{k}: {' -> '.join(map(str, v))} partitions" for k, v in history.items()),
        )
        self.results["two_instances"]["partitions_final"] = split()
        self.results["two_instances"]["assignments"] = history
        for service in (first, second):
            service.stop_gracefully()

    async def run(self, naive_events: int, freshness_s: int, pairs: bool) -> dict[str, Any]:
        await ensure_topics(self.kafka, [TopicSpec(t, 6, 1) for t in self.topics.values()])
        try:
            await self.produce_backlog()
            await self.raw_consume()
            service, pool, group = await self.catch_up()
            await self.replay(service, service.env["GAYARI_REPORTING_DATABASE_URL"])
            if freshness_s:
                await self.freshness(pool, group, 2000, freshness_s)
                self.events += 2000 * freshness_s  # the pair below reads those too
            await pool.close()
            service.stop_gracefully()
            await self.naive_peer(naive_events)
            if pairs:
                await self.two_instances()
        finally:
            for service in self.services:
                service.kill()
            await delete_topics_with_prefix(self.kafka, self.prefix + ".")
            await drop_databases(self.databases)
        return self.results

    async def database(self) -> str:
        """A fresh database, dropped when the run ends however it ends (a million events'
        read models are about 0.5 GB each)."""
        url = await fresh_database()
        self.databases.append(url)
        return url


def summarise(results: dict[str, Any]) -> None:
    limit = results["raw_consume"]["events_per_s"]
    ours = results["projector"]["events_per_s"]
    naive = results["naive_peer"]["events_per_s"]
    results["ratios"] = {
        "projector_vs_limit": round(ours / limit, 3),
        "projector_vs_naive": round(ours / naive, 1),
    }
    if "two_instances" in results:
        results["ratios"]["two_instances_vs_one"] = round(
            results["two_instances"]["events_per_s"] / ours, 2
        )
    print(
        f"projector / raw consume: {ours / limit:.1%}   projector / naive peer: "
        f"{ours / naive:.1f}x"
        + (
            f"   two instances / one: {results['ratios']['two_instances_vs_one']:.2f}x"
            if "two_instances" in results
            else ""
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    parser.add_argument("--freshness-seconds", type=int, default=60)
    parser.add_argument("--no-pair", action="store_true", help="skip the two-instance run")
    parser.add_argument(
        "--replay-workers", type=int, default=None, help="default: the replay command's"
    )
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "bench.json")
    args = parser.parse_args()
    # The pipeline, not the terminal: per-event INFO lines would be most of what is measured.
    configure_logging("bench", "WARNING", json=True)
    with tempfile.TemporaryDirectory(prefix="gayari-bench-") as workdir:
        bench = Bench(args.events, Path(workdir))
        bench.replay_workers = args.replay_workers
        results = asyncio.run(
            bench.run(args.naive_events, args.freshness_seconds, not args.no_pair)
        )
    summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
