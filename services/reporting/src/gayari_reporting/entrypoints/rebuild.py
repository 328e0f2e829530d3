"""Rebuild every read model from the start of the topics into a new generation.

A live rebuild reads every partition from its first offset, projects into a new generation
with the same set-based store the live projector uses (offsets stored with the facts, under the
live consumer group's name), catches up with the head of the topics and switches over: the live
projectors carry on from the offsets the rebuild stored, so nothing is skipped or counted twice.
The old generation keeps serving until the switch.

The bulk of it, up to the head as it was at the start, runs in worker processes, each owning a
share of the partitions: decoding is Python's work and one process keeps one core busy. Every
topic is keyed by household with the same partition count, so partition n of each topic holds
the same households; giving partition n of every topic to one worker keeps each household's rows
to one writer. The short tail that arrived meanwhile is read by this process before the switch.

An "as of" rebuild reads up to the head of the topics when it starts and keeps only the events
whose CloudEvents `time` is at or before the cut-off; it is never switched to, and is read by
name as a period report.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from typing import Final

import asyncpg
import structlog
from aiokafka import TopicPartition

from gayari_reporting.adapters.decoding import decode_batch
from gayari_reporting.adapters.generations import Generations
from gayari_reporting.adapters.partition_reader import (
    Offsets,
    PartitionReader,
    end_offsets,
    partitions_of,
)
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.adapters.tallies import REBUILD_TIMEOUT_S
from gayari_reporting.domain.consumed import PartitionKey
from gayari_reporting.entrypoints.commit_lanes import InOrderCommits
from gayari_reporting.service_layer.projection import project
from gayari_shared.heap import collect_less_often, freeze_startup_heap
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.logging import configure_logging
from gayari_shared.postgres import Database, create_pool

log = structlog.get_logger(__name__)

LOCK: Final = "reporting-replay"
# Once caught up with the head as it was, the rebuild switches if no more than this arrived
# since; the live projectors read those into the new generation right after (under a second).
SWITCH_WITHIN: Final = 200


class ReplayRunningError(RuntimeError):
    pass


class ReplayWorkerError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RebuildResult:
    generation: str
    events: int  # records read from the topics
    replaced: str | None  # the generation switched away from; None for an as-of rebuild
    seconds: float


# (records read so far, records to read as far as known)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class _Share:
    """What one worker rebuilds: its partitions, from the stored offsets up to `ends`."""

    database: Database
    kafka: KafkaConnection
    group_id: str
    schema: str
    as_of: datetime | None
    partitions: tuple[PartitionKey, ...]
    ends: tuple[tuple[PartitionKey, int], ...]
    max_records: int


async def rebuild(
    *,
    database: Database,
    kafka: KafkaConnection,
    topics: list[str],
    group_id: str,
    as_of: datetime | None = None,
    max_records: int = 10_000,
    workers: int = 1,
    progress: Progress | None = None,
) -> RebuildResult:
    pool = await create_pool(database, max_size=4)
    try:
        return await _Rebuild(
            pool=pool,
            database=database,
            kafka=kafka,
            topics=topics,
            group_id=group_id,
            as_of=as_of,
            max_records=max_records,
            progress=progress,
        ).run(workers)
    finally:
        await pool.close()


class _Rebuild:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        database: Database,
        kafka: KafkaConnection,
        topics: list[str],
        group_id: str,
        as_of: datetime | None,
        max_records: int,
        progress: Progress | None,
    ) -> None:
        self.pool = pool
        self.database = database
        self.kafka = kafka
        self.topics = topics
        self.group_id = group_id
        self.as_of = as_of
        self.max_records = max_records
        self.progress = progress or (lambda _read, _total: None)
        self.generations = Generations(pool)

    async def run(self, workers: int) -> RebuildResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self.pool.acquire() as lock:
            if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", LOCK):
                raise ReplayRunningError("another replay is running against this database")
            try:
                await self.generations.prepare()
                for abandoned in await self.generations.abandoned():
                    await self.generations.drop(abandoned)  # a replay that died half-way
                schema = await self.generations.create(as_of=self.as_of)
                log.info("replay started", generation=schema, as_of=self.as_of, workers=workers)
                partitions = await partitions_of(self.kafka, self.topics)
                ends = await end_offsets(self.kafka, partitions)
                read = await self._bulk(schema, partitions, ends, workers)
                # The bulk leaves the tallies alone: one pass over the facts is far cheaper
                # than keeping them per batch. The tail keeps them as the projector does.
                await ReadModelStore(self.pool).rebuild_tallies(schema)
                await _analyze(self.pool, schema)
                if self.as_of is not None:
                    await self.generations.finish_snapshot(schema, read)
                    replaced = None
                else:
                    read += await self._tail(schema, partitions, read)
                    replaced = await self.generations.switch(schema, read)
            finally:
                await lock.execute("SELECT pg_advisory_unlock(hashtext($1))", LOCK)
        seconds = loop.time() - started
        log.info("replay finished", generation=schema, events=read, seconds=round(seconds, 1))
        return RebuildResult(schema, read, replaced, seconds)

    async def _bulk(
        self, schema: str, partitions: list[PartitionKey], ends: Offsets, workers: int
    ) -> int:
        """Every partition up to `ends`, in `workers` processes (in this one if 1)."""
        total = sum(ends.values())
        shares = [
            _Share(
                self.database,
                self.kafka,
                self.group_id,
                schema,
                self.as_of,
                owned,
                tuple((p, ends[p]) for p in owned),
                self.max_records,
            )
            for n in range(workers)
            if (owned := tuple(p for p in partitions if p[1] % workers == n))
        ]
        if len(shares) <= 1:
            read = 0

            def count(n: int) -> None:
                nonlocal read
                read += n
                self.progress(read, total)

            for share in shares:
                await _rebuild_share(share, count)
            return read
        return await self._in_processes(shares, total)

    async def _in_processes(self, shares: list[_Share], total: int) -> int:
        context = multiprocessing.get_context("spawn")  # no forked event loop or sockets
        counters = [context.Value("q", 0) for _ in shares]
        processes = [
            context.Process(target=_work, args=(share, counter), name=f"replay-{n}", daemon=True)
            for n, (share, counter) in enumerate(zip(shares, counters, strict=True))
        ]
        for process in processes:
            process.start()
        try:
            while any(p.is_alive() for p in processes):
                self.progress(sum(c.value for c in counters), total)
                await asyncio.sleep(0.25)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                process.join()
        failed = [p.name for p in processes if p.exitcode != 0]
        if failed:
            raise ReplayWorkerError(f"replay workers failed: {', '.join(failed)}")
        read = sum(c.value for c in counters)
        self.progress(read, total)
        return int(read)

    async def _tail(self, schema: str, partitions: list[PartitionKey], read: int) -> int:
        """What arrived while the bulk ran, until caught up; then the caller switches."""
        store = ReadModelStore(self.pool)
        stored = await store.stored_offsets(self.group_id, partitions, schema=schema, building=True)
        reader = PartitionReader(self.kafka, partitions, stored, self.max_records)
        await reader.start()
        commits = InOrderCommits(
            partial(project, store, self.group_id, schema=schema, building=True)
        )
        tail = 0
        try:
            while True:
                ends = await reader.ends()
                behind = await reader.behind(ends)
                self.progress(read + tail, read + tail + behind)
                if behind <= SWITCH_WITHIN:
                    await commits.drain()
                    if await reader.behind(await reader.ends()) <= SWITCH_WITHIN:
                        return tail
                fetched = await reader.fetch(None)
                if fetched:
                    await commits.submit(decode_batch(fetched, traced=False))
                    tail += sum(len(records) for records in fetched.values())
        finally:
            commits.cancel()
            await reader.stop()


async def _analyze(pool: asyncpg.Pool, schema: str) -> None:
    """Statistics for the new generation's tables before anything reads them. Filled in bulk,
    they have none until autovacuum comes by (within a minute or so, and then on both cores
    at once, beside the projector): the projector's first batches and the first reports would
    be planned blind, and the first seconds of live traffic after a replay would be slow."""
    async with pool.acquire() as conn:
        tables = await conn.fetchval(
            "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables "
            "WHERE schemaname = $1",
            schema,
        )
        if tables:
            await conn.execute(f"ANALYZE {tables}", timeout=REBUILD_TIMEOUT_S)


def _work(share: _Share, counter: Synchronized[int]) -> None:
    """A worker process's whole life."""
    configure_logging("reporting-replay", "WARNING")
    freeze_startup_heap()
    collect_less_often()

    def count(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    asyncio.run(_rebuild_share(share, count))


async def _rebuild_share(share: _Share, count: Callable[[int], None]) -> None:
    pool = await create_pool(share.database, max_size=2)
    store = ReadModelStore(pool)
    ends = dict(share.ends)
    try:
        stored = await store.stored_offsets(
            share.group_id, share.partitions, schema=share.schema, building=True
        )
        todo = [p for p in share.partitions if ends[p] > stored.get(p, 0)]
        if not todo:
            return
        reader = PartitionReader(share.kafka, todo, stored, share.max_records)
        await reader.start()
        commits = InOrderCommits(
            partial(project, store, share.group_id, schema=share.schema, building=True, tally=False)
        )
        horizon = {TopicPartition(*p): ends[p] for p in todo}
        try:
            while await reader.behind(horizon) > 0:
                fetched = await reader.fetch(horizon)
                if fetched:
                    await commits.submit(decode_batch(fetched, until=share.as_of, traced=False))
                    count(sum(len(records) for records in fetched.values()))
            await commits.drain()
        finally:
            commits.cancel()
            await reader.stop()
    finally:
        await pool.close()
