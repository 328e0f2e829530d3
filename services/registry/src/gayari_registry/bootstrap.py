"""The one place where the registry is wired: settings, pool, relay, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from gayari_registry.adapters.postgres import MIGRATIONS, unit_of_work
from gayari_registry.domain.model import Reference
from gayari_registry.entrypoints import asyncapi
from gayari_registry.entrypoints.http import router
from gayari_registry.service_layer.handlers import RegistryDeps
from gayari_registry.settings import RegistrySettings
from gayari_shared.areas import load_areas
from gayari_shared.audit import AuditLog
from gayari_shared.audit.http import audit_router
from gayari_shared.heap import collect_less_often, freeze_startup_heap
from gayari_shared.idempotency import IdempotencyStore, sweeping
from gayari_shared.kafka.clients import idempotent_producer, kafka_reachable
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.outbox import publishing
from gayari_shared.postgres import create_pool, database_reachable, migrate
from gayari_shared.relay_app import create_relay_app
from gayari_shared.service import load_keys, make_app
from gayari_shared.settings import CommonSettings

SERVICE = "registry"


def create_app(common: CommonSettings, settings: RegistrySettings) -> FastAPI:
    hash_secret = common.keyed_hash_secret()  # no secret, no start
    kafka = common.kafka_connection()  # no credentials, no start
    database = settings.database()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.keys = load_keys(common)
        app.state.asyncapi = asyncapi.document(common)
        # Its connections run transactions only: no session reset on release. Its statements
        # look rows up by key: each is planned once per connection (see create_pool).
        pool = await create_pool(
            database,
            max_size=settings.database_pool_size,
            session_reset=False,
            generic_plans=True,
        )
        await migrate(pool, SERVICE, MIGRATIONS)
        app.state.audit_log = AuditLog(pool)
        await ensure_topics(kafka, domain_topics(common))
        producer = partial(idempotent_producer, kafka, SERVICE)
        try:
            idempotency = IdempotencyStore(pool, ttl_s=settings.idempotency_ttl_h * 3600)
            app.state.idempotency = idempotency
            async with (
                publishing(settings.outbox_relay, pool, producer) as staged,
                sweeping(idempotency),
            ):
                app.state.deps = RegistryDeps(
                    unit_of_work=partial(unit_of_work, pool, common.topic_prefix, staged=staged),
                    reference=Reference(load_areas(), settings.home_regency),
                    hash_secret=hash_secret,
                )
                app.state.checks = {
                    "database": partial(database_reachable, pool),
                    "kafka": partial(kafka_reachable, kafka),
                }
                freeze_startup_heap()
                collect_less_often()
                yield
        finally:
            await pool.close()

    return make_app("GAYARI registry", lifespan, [router, audit_router()])


def create_relay(common: CommonSettings, settings: RegistrySettings) -> FastAPI:
    """The registry's outbox relay as a process of its own (outbox_relay = "separate")."""
    return create_relay_app(SERVICE, common, settings.database(), asyncapi.document(common))
