"""What every service's lifespan opens around its own wiring, in the order it must, so that each
service's bootstrap holds only what is its own (its dependencies, routes and consumers).

- `opened`: the API keys loaded, a pool on the service's database once its schema is what this
  release needs, the deployment's topics there, and the readiness checks of both; the pool
  closed afterwards.
- `outbox_writes`: for a service that writes through its outbox (registry, interventions): the
  audit log, the idempotency keys (swept), and the outbox relay, in this process or apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import asyncpg
from fastapi import FastAPI

from gayari_shared.audit import AuditLog
from gayari_shared.idempotency import IdempotencyStore, sweeping
from gayari_shared.kafka.clients import idempotent_producer, kafka_reachable
from gayari_shared.kafka.connection import KafkaConnection
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.outbox import publishing
from gayari_shared.postgres import Database, create_pool, database_reachable
from gayari_shared.service import load_keys
from gayari_shared.settings import CommonSettings, RelayMode

# What makes the schema this release needs, or refuses to start without it.
SchemaStep = Callable[[asyncpg.Pool], Awaitable[object]]
# A readiness check of the service's own on its database (e.g. "schema": still this release's).
PoolCheck = Callable[[asyncpg.Pool], Awaitable[bool]]


class OutboxWriterSettings(Protocol):
    """The settings of a service that writes through its outbox (read-only: frozen models)."""

    @property
    def database_pool_size(self) -> int: ...

    @property
    def outbox_relay(self) -> RelayMode: ...

    @property
    def idempotency_ttl_h(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Outbox:
    pool: asyncpg.Pool
    # Called once a transaction with outbox rows committed: the relay publishes them.
    staged: Callable[[], None]


@asynccontextmanager
async def opened(
    app: FastAPI,
    common: CommonSettings,
    *,
    kafka: KafkaConnection,
    database: Database | str,
    schema: SchemaStep,
    checks: Mapping[str, PoolCheck] | None = None,
    max_size: int = 10,
    key_lookups: bool = False,
) -> AsyncIterator[asyncpg.Pool]:
    """`checks`: readiness checks besides the database's and Kafka's, each given the pool.
    `key_lookups`: the connections run transactions only (no session reset on release) and
    their statements look rows up by key (each planned once per connection, see create_pool)."""
    app.state.keys = load_keys(common)
    pool = await create_pool(
        database, max_size=max_size, session_reset=not key_lookups, generic_plans=key_lookups
    )
    try:
        await schema(pool)
        await ensure_topics(kafka, domain_topics(common))
        app.state.checks = {
            "database": partial(database_reachable, pool),
            **{name: partial(check, pool) for name, check in (checks or {}).items()},
            "kafka": partial(kafka_reachable, kafka),
        }
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def outbox_writes(
    app: FastAPI,
    common: CommonSettings,
    *,
    service: str,
    kafka: KafkaConnection,
    database: Database | str,
    schema: SchemaStep,
    settings: OutboxWriterSettings,
    checks: Mapping[str, PoolCheck] | None = None,
) -> AsyncIterator[Outbox]:
    """`opened` for a service that writes through its outbox, and what such writes need."""
    async with opened(
        app,
        common,
        kafka=kafka,
        database=database,
        schema=schema,
        checks=checks,
        max_size=settings.database_pool_size,
        key_lookups=True,
    ) as pool:
        app.state.audit_log = AuditLog(pool)
        idempotency = IdempotencyStore(pool, ttl_s=settings.idempotency_ttl_h * 3600)
        app.state.idempotency = idempotency
        producer = partial(idempotent_producer, kafka, service)
        async with (
            publishing(settings.outbox_relay, pool, producer) as staged,
            sweeping(idempotency),
        ):
            yield Outbox(pool, staged)
