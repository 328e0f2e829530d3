"""The one place where reporting is wired: store, projector, routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import structlog
from fastapi import FastAPI

from gayari_reporting.adapters.areas import area_index
from gayari_reporting.adapters.generations import (
    AUDIT_TABLE,
    Generations,
)
from gayari_reporting.adapters.reports import ReportQueries
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.entrypoints import asyncapi, dashboard
from gayari_reporting.entrypoints.http import case_router, public_router, router
from gayari_reporting.entrypoints.migrate import ReportingSchema
from gayari_reporting.entrypoints.projector import Projector
from gayari_reporting.entrypoints.refusal_counter import RefusalCounter
from gayari_reporting.entrypoints.requests import install_error_handlers
from gayari_reporting.service_layer.reports import ReportingDeps
from gayari_reporting.settings import ReportingSettings
from gayari_shared.audit import AuditLog
from gayari_shared.audit.http import audit_router
from gayari_shared.bootstrap import opened
from gayari_shared.events.contracts import DOMAIN_STREAMS
from gayari_shared.heap import collect_less_often, freeze_startup_heap
from gayari_shared.kafka.clients import idempotent_producer
from gayari_shared.kafka.deadletter import send_to_dead_letters
from gayari_shared.migrate_command import at_start, current
from gayari_shared.service import make_app
from gayari_shared.settings import CommonSettings

SERVICE = "reporting"
SCHEMA = ReportingSchema()
log = structlog.get_logger(__name__)


def create_app(common: CommonSettings, settings: ReportingSettings) -> FastAPI:
    kafka = common.kafka_connection()  # no credentials, no start
    database = settings.database()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.asyncapi = asyncapi.document(common, settings.consumer_group)
        async with opened(
            app,
            common,
            kafka=kafka,
            database=database,
            # This release's schema (its migrate command ran first), or no start.
            schema=partial(at_start, target=SCHEMA, apply=settings.migrate_on_start),
            checks={"schema": partial(current, target=SCHEMA)},
        ) as pool:
            store = ReadModelStore(pool)
            refusals = RefusalCounter(
                pool,
                kafka,
                common.deadletter_topic,
                f"{settings.consumer_group}-refusals",
                common.topic_prefix,
            )
            dead_letters = idempotent_producer(kafka, f"{SERVICE}-dlq")
            projector = Projector(
                kafka=kafka,
                group_id=settings.consumer_group,
                topics=[common.topic(stream) for stream in DOMAIN_STREAMS],
                store=store,
                max_records=settings.max_batch_records,
                lanes=settings.projector_lanes,
                log_each_up_to=settings.log_each_event_up_to,
                dead_letters=partial(
                    send_to_dead_letters,
                    dead_letters,
                    common.deadletter_topic,
                    consumer="reporting",
                ),
            )
            app.state.store = store
            app.state.generations = Generations(pool)
            app.state.reporting = ReportingDeps(
                queries=ReportQueries(pool),
                store=store,
                projector=projector,
                agencies=common.agencies,
                areas=area_index(),
                unserved_days=settings.unserved_days,
            )
            app.state.audit_log = AuditLog(pool, AUDIT_TABLE)
            app.state.projector = projector
            app.state.agencies = common.agencies
            await dead_letters.start()
            try:
                # Everything built so far lives as long as the process: keep the collector
                # from scanning it again on every full collection (docs/performance.md: what
                # it cost).
                freeze_startup_heap()
                collect_less_often()
                async with running_task(projector.run(), projector.stop, "projector") as task:

                    async def projector_running() -> bool:
                        # A projector that died leaves the figures frozen: say so rather than
                        # serve them as fresh (and let the orchestrator replace the instance).
                        return not task.done()

                    app.state.checks["projector"] = projector_running
                    async with running_task(refusals.run(), refusals.stop, "intake-refusals"):
                        yield
            finally:
                await dead_letters.stop()

    app = make_app(
        "GAYARI reporting",
        lifespan,
        [router, case_router, public_router, dashboard.router, audit_router()],
    )
    install_error_handlers(app)
    return app


@asynccontextmanager
async def running_task(
    work: Coroutine[Any, Any, None], stop: Callable[[], None], name: str
) -> AsyncIterator[asyncio.Task[None]]:
    """`work` as a task for as long as the block runs, then stopped and awaited; one that died
    is logged when it does (and the block goes on: readiness says so)."""
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_report_end)
    try:
        yield task
    finally:
        stop()
        if not task.done():
            await task


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(f"{task.get_name()} stopped", exc_info=task.exception())
