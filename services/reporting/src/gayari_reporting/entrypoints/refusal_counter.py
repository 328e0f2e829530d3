"""The intake refusals counter: a small consumer of the dead-letter topic, beside the projector
and not in its batches, storing each refusal once (adapters/refusals.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer

from gayari_reporting.adapters.refusals import store_refusals
from gayari_reporting.domain.refusals import refusal_of
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.lag import ConsumerLag

log = structlog.get_logger(__name__)

RETRY_S: Final = 2.0


class RefusalCounter:
    """Reads the dead-letter topic in its own consumer group and stores the intake refusals."""

    def __init__(
        self, pool: asyncpg.Pool, kafka: KafkaConnection, topic: str, group_id: str, prefix: str
    ) -> None:
        self._pool = pool
        self._prefix = prefix
        self._consumer = AIOKafkaConsumer(
            topic,
            **kafka.client_options(),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="reporting-refusals",
        )
        self._stopping = asyncio.Event()
        self._lag = ConsumerLag(group_id)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self._consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=1000)
                refusals = [
                    refusal
                    for records in batches.values()
                    for record in records
                    if (
                        refusal := refusal_of(
                            record.headers,
                            self._prefix,
                            datetime.fromtimestamp(record.timestamp / 1000, UTC),
                        )
                    )
                    is not None
                ]
                while not self._stopping.is_set():
                    try:
                        await store_refusals(self._pool, refusals)
                        break
                    except (OSError, asyncpg.PostgresError):
                        # The database away: keep the batch, the offsets uncommitted.
                        log.exception("intake refusals not stored; retrying")
                        await asyncio.sleep(RETRY_S)
                else:
                    return
                if batches:
                    await self._consumer.commit()
                    self._lag.processed(
                        self._consumer, {tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs}
                    )
        finally:
            await self._consumer.stop()
