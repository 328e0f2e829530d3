"""A service's outbox relay as a process of its own (`gayari-<service>-relay`), for a service
set to `outbox_relay = "separate"`: publishing to Kafka then costs the API process nothing.

In the API process, each of the relay's batches, a hundred rows serialised and handed to the
producer, holds the event loop that the requests wait on, and the relay takes a share of that
process's CPU (docs/performance.md, "Measurements behind the defaults").

The process runs the same OutboxRelay as the API process would (lanes, commit order, at least
once); it serves only /health and /metrics. It never migrates: the API owns the schema, and
until the outbox exists the relay backs off and tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI

from gayari_shared.kafka.clients import idempotent_producer, kafka_reachable
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.outbox import OutboxRelay
from gayari_shared.postgres import Database, create_pool, database_reachable
from gayari_shared.service import make_app
from gayari_shared.settings import CommonSettings

# The relay's LISTEN connection, the one that publishes a batch, and housekeeping.
RELAY_POOL_SIZE = 3


def create_relay_app(
    service: str, common: CommonSettings, database: Database, asyncapi: dict[str, Any]
) -> FastAPI:
    """The relay of `service`'s outbox in `database`; `asyncapi` is the service's document
    (what this process publishes)."""
    kafka = common.kafka_connection()  # no credentials, no start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(database, max_size=RELAY_POOL_SIZE, session_reset=False)
        try:
            await ensure_topics(kafka, domain_topics(common))
            relay = OutboxRelay(pool, partial(idempotent_producer, kafka, service))
            app.state.asyncapi = asyncapi
            app.state.checks = {
                "database": partial(database_reachable, pool),
                "kafka": partial(kafka_reachable, kafka),
            }
            task = asyncio.create_task(relay.run(), name="outbox-relay")
            try:
                yield
            finally:
                relay.stop()
                await task
        finally:
            await pool.close()

    return make_app(f"GAYARI {service} outbox relay", lifespan, [])
