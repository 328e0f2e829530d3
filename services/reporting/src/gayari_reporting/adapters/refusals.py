"""The intake refusals counted for /data-quality: a small consumer of the dead-letter topic,
beside the projector and not in its batches.

Each refusal is a row keyed by the refused record's position in its intake topic, written with
ON CONFLICT DO NOTHING before the consumer commits its offsets in Kafka: a dead letter read
twice (a restart before the commit) or written twice (intake retried after the broker took
it) counts once. The table lives beside the read-model generations, not in them: the
dead-letter topic is not a domain stream, a replay does not read it, and its counts do not
depend on the read models, so a replay leaves them as they are.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer

from gayari_reporting.domain.refusals import Refusal, refusal_of
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.lag import ConsumerLag
from gayari_shared.postgres import migrate

log = structlog.get_logger(__name__)

REFUSALS_MIGRATIONS: Final = (
    """
    CREATE TABLE public.intake_refusals (
        source_topic     text NOT NULL,
        source_partition int NOT NULL,
        source_offset    bigint NOT NULL,
        agency           text NOT NULL,
        reason_code      text NOT NULL,
        reason           text NOT NULL,
        event_id         text,
        refused_at       timestamptz NOT NULL,
        PRIMARY KEY (source_topic, source_partition, source_offset)
    );
    CREATE INDEX intake_refusals_agency ON public.intake_refusals (agency, reason_code);
    CREATE INDEX intake_refusals_day ON public.intake_refusals (refused_at);
    """,
)
_INSERT: Final = """
    INSERT INTO public.intake_refusals (source_topic, source_partition, source_offset, agency,
                                        reason_code, reason, event_id, refused_at)
    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::timestamptz[])
    ON CONFLICT DO NOTHING"""
RETRY_S: Final = 2.0


async def prepare_refusals(pool: asyncpg.Pool) -> None:
    await migrate(pool, "reporting-refusals", REFUSALS_MIGRATIONS)


async def store_refusals(pool: asyncpg.Pool, refusals: list[Refusal]) -> None:
    if not refusals:
        return
    columns = list(
        zip(
            *(
                (
                    r.source_topic,
                    r.source_partition,
                    r.source_offset,
                    r.agency,
                    r.reason_code,
                    r.reason,
                    r.event_id,
                    r.refused_at,
                )
                for r in refusals
            ),
            strict=True,
        )
    )
    await pool.execute(_INSERT, *[list(c) for c in columns])


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
