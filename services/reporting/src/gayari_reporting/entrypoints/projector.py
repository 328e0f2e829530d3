"""The reporting projector: a Kafka consumer whose positions live in the read model's database.

Written on aiokafka directly rather than a FastStream subscriber: the projection must seek to
offsets stored in PostgreSQL whenever partitions are assigned and must see a batch per
partition, which FastStream's subscribers do not expose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from gayari_reporting.adapters.decoding import Fetched, decode_batch
from gayari_reporting.adapters.store import GenerationSwitchedError, ReadModelStore
from gayari_reporting.domain.consumed import Batch, ConsumedRecord, Rejected
from gayari_reporting.entrypoints.commit_lanes import Lanes
from gayari_reporting.service_layer.projection import project
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.deadletter import Rejection
from gayari_shared.kafka.lag import ConsumerLag
from gayari_shared.metrics import DEAD_LETTERS, EVENTS_CONSUMED

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LaneBatch:
    """One lane's share of a fetch: its decoded records, and of the raw ones only what is
    still needed (a lane may wait a while with a batch in hand; the raw records would double
    what it holds)."""

    batch: Batch
    ends: dict[TopicPartition, tuple[int, int]]  # partition: (next offset, records fetched)
    rejected: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes], Rejected]]


def split_into_lanes(fetched: Fetched, batch: Batch, lanes: int) -> list[LaneBatch]:
    """A fetch and its decoded batch as one part per lane; partition index n goes to lane
    n mod `lanes`, always the same one, so each lane commits its partitions' batches in order.
    Every topic is keyed by household with the same partition count: one index of every topic
    is one lane, and a household's events never straddle two."""
    parts = [LaneBatch({}, {}, []) for _ in range(lanes)]
    for tp, records in fetched.items():
        if not records:
            continue
        part, decoded = parts[tp.partition % lanes], batch[(tp.topic, tp.partition)]
        part.batch[(tp.topic, tp.partition)] = decoded
        part.ends[tp] = (records[-1].offset + 1, len(records))
        part.rejected.extend(
            (tp, raw, consumed.outcome)
            for raw, consumed in zip(records, decoded, strict=True)
            if isinstance(consumed.outcome, Rejected)
        )
    return parts


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self._projector = projector

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        return None  # positions are already in the database, committed with their facts

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._projector.seek_to_stored(list(assigned))


# Where a record that cannot be projected goes, with its reason, before its offset moves on.
DeadLetterSink = Callable[[Rejection], Awaitable[None]]


class Projector:
    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        group_id: str,
        topics: Sequence[str],
        store: ReadModelStore,
        max_records: int = 2000,
        lanes: int = 1,
        dead_letters: DeadLetterSink | None = None,
        log_each_up_to: int = 100,
    ) -> None:
        self.group_id = group_id
        self._lanes = lanes
        self._log_each_up_to = log_each_up_to
        self._dead_letters = dead_letters
        self._topics = topics
        self._store = store
        self._max_records = max_records
        self._stopping = asyncio.Event()
        self.projected_total = 0
        self.generation: str | None = None  # the read-model generation positioned on
        self._switched = False  # a replay switched generations: reposition before going on
        self._lag = ConsumerLag(f"{group_id}-projector")
        self._consumer = AIOKafkaConsumer(
            **kafka.client_options(),
            group_id=group_id,
            client_id=f"{group_id}-projector",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Read only what producers committed, should any of them ever use transactions.
            isolation_level="read_committed",
        )

    async def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        """Position on the offsets the active generation holds: after an assignment, and after
        a replay switched generations under this projector."""
        self._lag.reset()  # the assignment starts anew; lag is measured again on fetch
        self.generation, stored = await self._store.positioned(
            self.group_id, [(tp.topic, tp.partition) for tp in partitions]
        )
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
        log.info(
            "partitions assigned",
            generation=self.generation,
            partitions=sorted(
                f"{t}:{p}" for t, p in ((tp.topic, tp.partition) for tp in partitions)
            ),
            stored=len(stored),
        )

    async def run(self) -> None:
        """Fetch and decode the next batch while the database commits those before: decoding
        is this process's work, committing is PostgreSQL's, and they overlap. Each lane (its
        share of the partitions) commits in order, one transaction at a time, beside the
        others: one transaction is one PostgreSQL backend, one core."""
        consumer = self._consumer
        consumer.subscribe(list(self._topics), listener=_SeekToStoredOffsets(self))
        await self._start_with_retry()
        lanes: Lanes[tuple[LaneBatch, str | None]] = Lanes(
            self._lanes, lambda work: self._project(*work)
        )
        try:
            while not self._stopping.is_set():
                fetched = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
                batch = decode_batch(fetched)
                if self._switched:
                    # A batch found a new generation active. Whatever was submitted since
                    # carries the old one and is refused; what was fetched follows the old
                    # positions: read again from the new generation's offsets.
                    await lanes.drain()
                    self._switched = False
                    await self.seek_to_stored(list(consumer.assignment()))
                    continue
                parts = split_into_lanes(fetched, batch, self._lanes)
                del fetched, batch  # the raw records, while the lanes may keep us waiting
                for lane, part in enumerate(parts):
                    if part.ends:
                        await lanes.submit(lane, (part, self.generation))
                del parts
            await lanes.drain()
        finally:
            lanes.cancel()
            await consumer.stop()

    def stop(self) -> None:
        """Finish the batch in hand, then leave the group."""
        self._stopping.set()

    async def events_behind(self) -> int | None:
        """Events on the assigned partitions not yet projected; None before the first fetch."""
        behind = 0
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                return None
            behind += max(0, highwater - await self._consumer.position(tp))
        return behind

    async def partition_positions(self) -> list[tuple[str, int, int | None, int | None]]:
        """(topic, partition, position, highwater) of every partition assigned here; the
        highwater is None until the first fetch from that partition."""
        positions = []
        for tp in sorted(self._consumer.assignment()):
            try:
                position: int | None = await self._consumer.position(tp)
            except Exception:  # mid-rebalance the position is not known yet
                position = None
            positions.append((tp.topic, tp.partition, position, self._consumer.highwater(tp)))
        return positions

    async def _project(self, part: LaneBatch, generation: str | None) -> None:
        """One lane's batch, into the generation the projector was positioned on when it was
        fetched (a batch fetched before a switch must never land in the new generation)."""
        if not await self._retrying(partial(self._dead_letter, part.rejected, generation)):
            return
        apply = partial(project, self._store, self.group_id, part.batch, schema=generation)
        result = await self._retrying(apply)
        if result is None:
            return  # a replay switched generations: the loop repositions
        self.projected_total += len(result.applied)
        self._count(part.ends, len(result.applied), result.skipped_as_seen)
        if len(result.applied) > self._log_each_up_to:
            # A catch-up: a line per event would cost more than projecting it.
            log.info("events projected", count=len(result.applied), generation=generation)
        else:
            self._log_each(result.applied)
        if result.skipped_as_seen:
            log.info("records already projected skipped", count=result.skipped_as_seen)
        # Kafka's committed offsets only mirror the database's, for lag tooling.
        with contextlib.suppress(Exception):
            await self._consumer.commit({tp: end for tp, (end, _) in part.ends.items()})

    async def _retrying(self, step: Callable[[], Awaitable[T]]) -> T | None:
        """`step` until it succeeds, through database outages; None if a replay switched the
        active generation (what was fetched belongs to the new one's offsets)."""
        backoff = 0.5
        while True:
            try:
                return await step()
            except GenerationSwitchedError:
                # Never repositioned here: the loop is fetching the next batch meanwhile.
                log.info("read-model generation switched; repositioning", was=self.generation)
                self._switched = True
                return None
            except _TRANSIENT as exc:
                if self._stopping.is_set():
                    raise  # leave unprojected: the stored offsets have not moved
                log.warning(
                    "read model unavailable; retrying batch", error=str(exc), backoff_s=backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _log_each(self, applied: list[ConsumedRecord]) -> None:
        """The trail of live traffic: each event with the correlation id it was caused by."""
        for record in applied:
            if record.meta is not None:
                log.info(
                    "event projected",
                    event_id=str(record.meta.event_id),
                    event_type=record.meta.event_type,
                    correlation_id=record.meta.correlation_id,
                    household_id=record.meta.household_id,
                )

    async def _dead_letter(
        self,
        rejected: list[tuple[TopicPartition, ConsumerRecord[bytes, bytes], Rejected]],
        generation: str | None,
    ) -> bool:
        if self._dead_letters is None or not rejected:
            return True
        # A record fetched again after a rebalance was dead-lettered the first time round.
        stored = await self._store.stored_offsets(
            self.group_id, [(tp.topic, tp.partition) for tp, _, _ in rejected], schema=generation
        )
        for tp, raw, outcome in rejected:
            if raw.offset < stored.get((tp.topic, tp.partition), 0):
                continue
            await self._dead_letters(Rejection.of(raw, outcome.reason))
            DEAD_LETTERS.labels(f"{self.group_id}-projector", "rejected").inc()
        return True

    def _count(
        self, ends: dict[TopicPartition, tuple[int, int]], applied: int, skipped: int
    ) -> None:
        consumer = self._lag.consumer
        for tp, (_, records) in ends.items():
            EVENTS_CONSUMED.labels(consumer, tp.topic, "consumed").inc(records)
        EVENTS_CONSUMED.labels(consumer, "*", "applied").inc(applied)
        EVENTS_CONSUMED.labels(consumer, "*", "duplicate").inc(skipped)
        self._lag.processed(self._consumer, {tp: end for tp, (end, _) in ends.items()})

    async def _start_with_retry(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._consumer.start()
                return
            except Exception as exc:  # KafkaConnectionError and kin: the broker is away
                log.warning("kafka unavailable; retrying", error=str(exc), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)


# The database went away or restarts: the same batch is retried, nothing is skipped. A deadlock
# between lanes should not happen (they take shared tally rows in one order), but were it to, the
# victim's transaction is rolled back whole and can simply go again.
_TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)
