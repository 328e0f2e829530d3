"""Producer construction and a broker reachability probe (clients of a KafkaConnection)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from gayari_shared.kafka.connection import KafkaConnection


def idempotent_producer(kafka: KafkaConnection, client_id: str) -> AIOKafkaProducer:
    """acks from all in-sync replicas and an idempotent producer: retries never duplicate."""
    return AIOKafkaProducer(
        **kafka.client_options(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=30000,
        retry_backoff_ms=200,
    )


async def kafka_reachable(kafka: KafkaConnection, timeout_s: float = 3.0) -> bool:
    """True when a broker answers a metadata request within the time limit (logged in)."""
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=int(timeout_s * 1000))
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            await admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


async def raw_body(message: Any) -> bytes:
    """A FastStream decoder that leaves the value alone.

    FastStream decodes a JSON content-type itself before calling the handler; a record whose
    value is not JSON would then fail before our code could dead-letter it, and be retried for
    ever. Our handlers parse the CloudEvent themselves, so they get the bytes."""
    body: bytes = message.body
    return body
