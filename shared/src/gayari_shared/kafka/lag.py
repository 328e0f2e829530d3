"""`gayari_consumer_lag{consumer}`: how many records a consumer group's member has yet to
process on the partitions assigned to it, for every consumer group a service runs.

Per partition, the high watermark (the offset the next record will get, as of the consumer's
last fetch) minus the offset after the last record processed; the gauge is the sum over the
assigned partitions. Measured after each processed batch or record, where the consumer loop
knows both numbers without asking the broker: a FastStream subscriber through `lag_middleware`,
a plain aiokafka loop (reporting's projector, its refusal counter) by calling `processed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import BaseMiddleware

from gayari_shared.metrics import CONSUMER_LAG

if TYPE_CHECKING:
    from faststream._internal.basic_types import AsyncFuncAny
    from faststream._internal.context.repository import ContextRepo
    from faststream.message import StreamMessage


class ConsumerLag:
    """The lag of one consumer (a label of the gauge: its group, or group and role)."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self._gauge = CONSUMER_LAG.labels(consumer)
        self._lag: dict[TopicPartition, int] = {}

    def processed(self, client: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> None:
        """`ends`: per partition, the offset after the last record processed."""
        # A batch is fetched before it is handled: a rebalance may have taken some of its
        # partitions meanwhile, and aiokafka refuses to speak of those (nor are they ours).
        assigned = client.assignment()
        for tp in [tp for tp in self._lag if tp not in assigned]:
            del self._lag[tp]
        for tp, end in ends.items():
            if tp not in assigned:
                continue
            highwater = client.highwater(tp)
            if highwater is not None:
                self._lag[tp] = max(0, highwater - end)
        self._gauge.set(sum(self._lag.values()))

    def reset(self) -> None:
        """The assignment starts anew: lag is measured again on the next records."""
        self._lag = {}
        self._gauge.set(0)

    def records_processed(
        self, client: AIOKafkaConsumer, records: Iterable[ConsumerRecord[Any, Any]]
    ) -> None:
        ends: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            ends[tp] = max(ends.get(tp, 0), record.offset + 1)
        self.processed(client, ends)

    def middleware(self, msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
        """A FastStream middleware (for a KafkaRouter's `middlewares`, one router per consumer
        group) measuring this lag after each record or batch its subscribers handled."""
        return _LagMiddleware(self, msg, context=context)


class _LagMiddleware(BaseMiddleware):
    def __init__(self, lag: ConsumerLag, msg: Any, /, *, context: ContextRepo) -> None:
        super().__init__(msg, context=context)
        self._lag = lag

    async def consume_scope(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> Any:
        result = await call_next(msg)
        # The consumer FastStream read it with; TestKafkaBroker's stand-in has no offsets.
        client = getattr(msg, "consumer", None)
        if isinstance(client, AIOKafkaConsumer):
            raw = msg.raw_message
            self._lag.records_processed(client, raw if isinstance(raw, tuple) else (raw,))
        return result
