"""The one place where the interventions service is wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
from fastapi import FastAPI

from gayari_interventions.adapters.household_watch import HouseholdWatch
from gayari_interventions.adapters.postgres import MIGRATIONS, unit_of_work
from gayari_interventions.entrypoints import asyncapi
from gayari_interventions.entrypoints.consumers import GROUP_ID, register_consumers
from gayari_interventions.entrypoints.http import install_error_handlers, router
from gayari_interventions.entrypoints.imports import router as imports_router
from gayari_interventions.entrypoints.intake import IntakeWiring, register_intake
from gayari_interventions.entrypoints.reads import router as reads_router
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_interventions.service_layer.imports import ImportDeps
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.audit.http import audit_router
from gayari_shared.bootstrap import outbox_writes
from gayari_shared.events.contracts import HOUSEHOLDS
from gayari_shared.heap import collect_less_often, freeze_startup_heap
from gayari_shared.kafka.broker import consuming_broker, running
from gayari_shared.kafka.clients import idempotent_producer
from gayari_shared.kafka.deadletter import send_to_dead_letters
from gayari_shared.migrate_command import OneSet, at_start, current
from gayari_shared.relay_app import create_relay_app
from gayari_shared.service import make_app
from gayari_shared.settings import CommonSettings

SERVICE = "interventions"
SCHEMA = OneSet(MIGRATIONS)


def create_app(common: CommonSettings, settings: InterventionsSettings) -> FastAPI:
    # Spreadsheets name households by KK, found here by the registry's keyed hash of it.
    hash_secret = common.keyed_hash_secret()  # no secret, no start
    kafka = common.kafka_connection()  # no credentials, no start
    database = settings.database()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.asyncapi = asyncapi.document(common)
        async with (
            outbox_writes(
                app,
                common,
                service=SERVICE,
                kafka=kafka,
                database=database,
                # This release's schema (its migrate command ran first), or no start.
                schema=partial(at_start, target=SCHEMA, apply=settings.migrate_on_start),
                checks={"schema": partial(current, target=SCHEMA)},
                settings=settings,
            ) as outbox,
            watching(outbox.pool) as watch,
        ):
            uow = partial(unit_of_work, outbox.pool, common.topic_prefix, staged=outbox.staged)
            deps = InterventionsDeps(
                unit_of_work=uow,
                agencies=frozenset(agency.code for agency in common.agencies),
                statements=partial(uow, atomic=False),
                await_household=partial(watch.wait_for, timeout_s=settings.household_wait_s),
            )
            app.state.deps = deps
            app.state.imports = ImportDeps(deps, hash_secret)
            dead_letters = idempotent_producer(kafka, f"{SERVICE}-dlq")
            broker = consuming_broker(SERVICE, kafka)
            register_consumers(
                broker,
                deps,
                common.topic(HOUSEHOLDS),
                partial(
                    send_to_dead_letters, dead_letters, common.deadletter_topic, consumer=GROUP_ID
                ),
            )
            register_intake(
                broker,
                IntakeWiring(deps, common.topic_prefix, common.deadletter_topic, dead_letters),
                [common.intake_topic(agency.code) for agency in common.agencies],
            )
            async with running(broker, dead_letters):
                freeze_startup_heap()
                collect_less_often()
                yield

    app = make_app(
        "GAYARI interventions", lifespan, [router, reads_router, imports_router, audit_router()]
    )
    install_error_handlers(app)
    return app


@asynccontextmanager
async def watching(pool: asyncpg.Pool) -> AsyncIterator[HouseholdWatch]:
    """Households' registry versions as they arrive (a request may wait for one)."""
    watch = HouseholdWatch(pool)
    try:
        await watch.start()
        yield watch
    finally:
        await watch.close()


def create_relay(common: CommonSettings, settings: InterventionsSettings) -> FastAPI:
    """The interventions' outbox relay as a process of its own (outbox_relay = "separate")."""
    return create_relay_app(SERVICE, common, settings.database(), asyncapi.document(common))
