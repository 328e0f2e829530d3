"""Reporting's /progress on real Kafka and PostgreSQL, through the projector: grants of v1
(upcast) and v2 count, voided grants and completions do not, whichever comes first, and the
event types reporting does not use yet are skipped, not rejected."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from gayari_reporting.bootstrap import create_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.events.contracts import (
    BudgetAllocatedV1,
    EventBase,
    GrantIssuedV1,
    GrantIssuedV2,
    HouseholdRegisteredV1,
    InterventionVoidedV1,
    MentoringVisitedV1,
    TrainingCompletedV1,
    TrainingCompletedV2,
    TrainingSessionRecordedV1,
)
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.interventions import GrantItem
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet

pytestmark = pytest.mark.stack
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
A, B = uuid.uuid4(), uuid.uuid4()


def registered(household_id: uuid.UUID) -> HouseholdRegisteredV1:
    return HouseholdRegisteredV1(
        household_id=household_id,
        village_code="62.09.01.2001",
        welfare_decile=1,
        member_count=3,
        kk_hash=uuid.uuid4().hex * 2,
        registered_at=NOW,
    )


def grant_v2(household_id: uuid.UUID, grant_id: uuid.UUID, agency: str, amount: int) -> Any:
    return GrantIssuedV2(
        household_id=household_id,
        grant_id=grant_id,
        agency=agency,
        kind="equipment",
        amount_idr=amount,
        purpose="Budidaya ikan nila",
        fiscal_year=2026,
        items=[GrantItem(description="Bibit", quantity=1, unit="paket", unit_value_idr=amount)],
        issued_at=NOW,
    )


def completion_v2(household_id: uuid.UUID, completion_id: uuid.UUID) -> TrainingCompletedV2:
    return TrainingCompletedV2(
        household_id=household_id,
        completion_id=completion_id,
        session_id=uuid.uuid4(),
        member_id=uuid.uuid4(),
        agency="dispar",
        topic="Pengelolaan homestay",
        hours=24,
        completed_on=date(2026, 11, 1),
        recorded_at=NOW,
    )


def voided(kind: Any, record_id: uuid.UUID, household_id: uuid.UUID, agency: str) -> EventBase:
    return InterventionVoidedV1(
        intervention_id=record_id,
        intervention_type=kind,
        household_id=household_id,
        agency=agency,
        reason="entered-in-error",
        voided_at=NOW,
    )


def programme() -> list[EventBase]:
    voided_grant, voided_completion = uuid.uuid4(), uuid.uuid4()
    return [
        registered(A),
        registered(B),
        # The void before its grant: the figures must not depend on the order.
        voided("grant", voided_grant, A, "distakan"),
        grant_v2(A, voided_grant, "distakan", 2_000_000),
        grant_v2(A, uuid.uuid4(), "distakan", 1_150_000),
        GrantIssuedV1(
            household_id=B,
            grant_id=uuid.uuid4(),
            agency="dinsos",
            kind="capital",
            amount_idr=1_000_000,
            issued_at=NOW,
        ),
        TrainingCompletedV1(
            household_id=B,
            completion_id=uuid.uuid4(),
            agency="dispar",
            topic="Pemandu wisata",
            hours=8,
            completed_on=date(2026, 10, 1),
            recorded_at=NOW,
        ),
        completion_v2(B, uuid.uuid4()),
        completion_v2(A, voided_completion),
        voided("training-completion", voided_completion, A, "dispar"),
        # Not used by reporting yet: skipped, never rejected.
        BudgetAllocatedV1(
            agency="dinsos",
            allocation_id=uuid.uuid4(),
            fiscal_year=2026,
            amount_idr=10**9,
            allocated_at=NOW,
        ),
        TrainingSessionRecordedV1(
            agency="dispar",
            session_id=uuid.uuid4(),
            topic="Pengelolaan homestay",
            starts_on=date(2026, 10, 27),
            ends_on=date(2026, 10, 29),
            hours=24,
            place="Balai Desa",
            recorded_at=NOW,
        ),
        MentoringVisitedV1(
            household_id=A,
            visit_id=uuid.uuid4(),
            agency="dkukmpp",
            visited_on=date(2026, 11, 10),
            business_status="running",
            recorded_at=NOW,
        ),
    ]


async def publish(settings: CommonSettings, events: list[EventBase]) -> None:
    await ensure_topics(settings.kafka_connection(), domain_topics(settings))
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    await producer.start()
    try:
        for event in events:
            record = envelope_for(event, source="/gayari/test", correlation_id="it").to_kafka(
                settings.topic(event.STREAM)
            )
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def test_progress_counts_v1_and_v2_and_leaves_voided_records_out(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    events = programme()
    await publish(isolated_settings, events)
    settings = ReportingSettings(
        database_url=await databases.create("reporting", migrated="reporting"),
        consumer_group=f"it-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(isolated_settings, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=api_keys.bearer(api_keys.reporting)
        ) as http:
            async with asyncio.timeout(60):
                while True:
                    status = (await http.get("/projection/status")).json()
                    if status["events_projected_since_start"] >= len(events):
                        break
                    await asyncio.sleep(0.2)
            assert status["events_rejected"] == 0
            progress = (await http.get("/progress")).json()
    assert progress["households_registered"] == 2
    assert progress["grants"] == {"count": 2, "total_idr": 2_150_000}
    assert progress["trainings_completed"] == 2
    by_agency = {row["agency"]: row for row in progress["agencies"]}
    assert by_agency["distakan"]["grants"] == {"count": 1, "total_idr": 1_150_000}
    assert by_agency["dinsos"]["grants"] == {"count": 1, "total_idr": 1_000_000}
    assert by_agency["dispar"]["trainings_completed"] == 2
