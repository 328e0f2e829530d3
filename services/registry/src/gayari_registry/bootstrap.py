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
from gayari_shared.audit.http import audit_router
from gayari_shared.bootstrap import outbox_writes
from gayari_shared.heap import collect_less_often, freeze_startup_heap
from gayari_shared.migrate_command import OneSet, at_start, current
from gayari_shared.relay_app import create_relay_app
from gayari_shared.service import make_app
from gayari_shared.settings import CommonSettings

SERVICE = "registry"
SCHEMA = OneSet(MIGRATIONS)


def create_app(common: CommonSettings, settings: RegistrySettings) -> FastAPI:
    hash_secret = common.keyed_hash_secret()  # no secret, no start
    kafka = common.kafka_connection()  # no credentials, no start
    database = settings.database()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.asyncapi = asyncapi.document(common)
        async with outbox_writes(
            app,
            common,
            service=SERVICE,
            kafka=kafka,
            database=database,
            # This release's schema (its migrate command ran first), or no start.
            schema=partial(at_start, target=SCHEMA, apply=settings.migrate_on_start),
            checks={"schema": partial(current, target=SCHEMA)},
            settings=settings,
        ) as outbox:
            app.state.deps = RegistryDeps(
                unit_of_work=partial(
                    unit_of_work, outbox.pool, common.topic_prefix, staged=outbox.staged
                ),
                reference=Reference(load_areas(), settings.home_regency),
                hash_secret=hash_secret,
            )
            freeze_startup_heap()
            collect_less_often()
            yield

    return make_app("GAYARI registry", lifespan, [router, audit_router()])


def create_relay(common: CommonSettings, settings: RegistrySettings) -> FastAPI:
    """The registry's outbox relay as a process of its own (outbox_relay = "separate")."""
    return create_relay_app(SERVICE, common, settings.database(), asyncapi.document(common))
