"""Rebuild every read model from the start of the topics into a new generation.

A live rebuild reads every partition from its first offset, projects into a new generation
with the same set-based store the live projector uses (offsets stored with the facts, under the
live consumer group's name), catches up with the head of the topics and switches over: the live
projectors carry on from the offsets the rebuild stored, so nothing is skipped or counted twice.
The old generation keeps serving until the switch.

An "as of" rebuild reads up to the head of the topics when it starts and keeps only the events
whose CloudEvents `time` is at or before the cut-off; it is never switched to, and is read by
name as a period report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gayari_reporting.adapters.generations import Generations
from gayari_reporting.adapters.projector import decode
from gayari_reporting.adapters.store import ConsumedRecord, PartitionKey, ReadModelStore

log = structlog.get_logger(__name__)

LOCK: Final = "reporting-replay"
# Once caught up with the head as it was, the rebuild switches if no more than this arrived
# since; the live projectors read those into the new generation right after (under a second).
SWITCH_WITHIN: Final = 200


class ReplayRunningError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RebuildResult:
    generation: str
    events: int  # records read from the topics
    replaced: str | None  # the generation switched away from; None for an as-of rebuild
    seconds: float


Fetched = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
Batch = dict[PartitionKey, list[ConsumedRecord]]
# (records read so far, records to read as far as known)
Progress = Callable[[int, int], None]


async def rebuild(
    *,
    pool: asyncpg.Pool,
    bootstrap_servers: str,
    topics: list[str],
    group_id: str,
    as_of: datetime | None = None,
    max_records: int = 10_000,
    progress: Progress | None = None,
) -> RebuildResult:
    generations = Generations(pool)
    store = ReadModelStore(pool)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with pool.acquire() as lock:
        if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", LOCK):
            raise ReplayRunningError("another replay is running against this database")
        try:
            await generations.prepare()
            for abandoned in await generations.abandoned():
                await generations.drop(abandoned)  # a replay that died half-way
            schema = await generations.create(as_of=as_of)
            log.info("replay started", generation=schema, as_of=as_of, topics=topics)
            reader = _Reader(bootstrap_servers, topics, max_records)
            await reader.start()
            # Decode the next batch while PostgreSQL commits the last, as the projector does.
            commits = _InOrder(
                lambda batch: store.apply(group_id, batch, schema=schema, building=True)
            )
            try:
                read = 0
                ends = await reader.ends()
                while True:
                    fetched = await reader.fetch(None if as_of is None else ends)
                    if fetched:
                        await commits.submit(
                            {
                                (tp.topic, tp.partition): [
                                    decode(r, until=as_of, traced=False) for r in records
                                ]
                                for tp, records in fetched.items()
                            }
                        )
                        read += sum(len(records) for records in fetched.values())
                    behind = await reader.behind(ends)
                    if progress is not None:
                        progress(read, read + behind)
                    if as_of is not None and behind == 0:
                        await commits.drain()
                        await generations.finish_snapshot(schema, read)
                        replaced = None
                        break
                    if as_of is None and behind == 0:
                        # Caught up with the head as it was; switch if little arrived since.
                        await commits.drain()
                        ends = await reader.ends()
                        if await reader.behind(ends) <= SWITCH_WITHIN:
                            replaced = await generations.switch(schema, read)
                            break
            except BaseException:
                commits.cancel()
                raise
            finally:
                await reader.stop()
        finally:
            await lock.execute("SELECT pg_advisory_unlock(hashtext($1))", LOCK)
    seconds = loop.time() - started
    log.info("replay finished", generation=schema, events=read, seconds=round(seconds, 1))
    return RebuildResult(schema, read, replaced, seconds)


class _InOrder:
    """One batch committing at a time, in order, while the caller prepares the next."""

    def __init__(self, commit: Callable[[Batch], Awaitable[object]]) -> None:
        self._commit = commit
        self._pending: asyncio.Task[object] | None = None

    async def submit(self, batch: Batch) -> None:
        await self.drain()
        self._pending = asyncio.ensure_future(self._commit(batch))

    async def drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


class _Reader:
    """Every partition of the topics from its first offset, outside any consumer group."""

    def __init__(self, bootstrap_servers: str, topics: list[str], max_records: int) -> None:
        self._topics = topics
        self._bootstrap_servers = bootstrap_servers
        self._max_records = max_records
        self._partitions: list[TopicPartition] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id="gayari-reporting-replay",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )

    async def start(self) -> None:
        # The consumer's own metadata lists a topic's partitions only once subscribed to it.
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap_servers)
        await admin.start()
        try:
            for description in await admin.describe_topics(self._topics):
                self._partitions.extend(
                    TopicPartition(description["topic"], p["partition"])
                    for p in sorted(description["partitions"], key=lambda p: p["partition"])
                )
        finally:
            await admin.close()
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def ends(self) -> dict[TopicPartition, int]:
        return dict(await self._consumer.end_offsets(self._partitions))

    async def behind(self, ends: dict[TopicPartition, int]) -> int:
        behind = 0
        for tp in self._partitions:
            behind += max(0, ends[tp] - await self._consumer.position(tp))
        return behind

    async def fetch(self, ends: dict[TopicPartition, int] | None) -> Fetched:
        """The next records; with `ends`, none at or past them (an as-of rebuild's horizon)."""
        fetched: Fetched = await self._consumer.getmany(
            timeout_ms=500, max_records=self._max_records
        )
        if ends is None:
            return fetched
        cut: Fetched = {}
        for tp, records in fetched.items():
            kept = [r for r in records if r.offset < ends[tp]]
            if len(kept) < len(records):
                self._consumer.pause(tp)  # past the horizon: nothing more from here
            if kept:
                cut[tp] = kept
        return cut
