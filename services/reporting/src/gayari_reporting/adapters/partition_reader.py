"""Reading given partitions of the topics outside any consumer group, from given offsets: what a
replay reads (entrypoints/rebuild.py)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gayari_reporting.adapters.decoding import Fetched
from gayari_reporting.domain.consumed import PartitionKey
from gayari_shared.kafka.connection import KafkaConnection

Offsets = dict[PartitionKey, int]


async def partitions_of(kafka: KafkaConnection, topics: list[str]) -> list[PartitionKey]:
    # A consumer's own metadata lists a topic's partitions only once subscribed to it.
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        return sorted(
            (description["topic"], p["partition"])
            for description in await admin.describe_topics(topics)
            for p in description["partitions"]
        )
    finally:
        await admin.close()


async def end_offsets(kafka: KafkaConnection, partitions: list[PartitionKey]) -> Offsets:
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(*p) for p in partitions])
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


class PartitionReader:
    """Some partitions from given offsets (their first where none), outside any group."""

    def __init__(
        self,
        kafka: KafkaConnection,
        partitions: list[PartitionKey],
        start: Offsets,
        max_records: int,
    ) -> None:
        self._partitions = [TopicPartition(*p) for p in partitions]
        self._start = start
        self._max_records = max_records
        self._consumer = AIOKafkaConsumer(
            **kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id="gayari-reporting-replay",
            # aiokafka's default of 1 MB buffered per partition: reading is far faster than
            # projecting, so whatever is allowed stays buffered, and more only costs memory.
            max_partition_fetch_bytes=1024 * 1024,
        )

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        for tp in self._partitions:
            offset = self._start.get((tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)

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
        """The next records; with `ends`, none at or past them (the bulk's horizon)."""
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
