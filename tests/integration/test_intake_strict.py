"""Strict inputs on the intake, against the real Kafka and PostgreSQL: a record with a value of
the wrong type or a control character is dead-lettered with a reason naming the field, and the
consumer goes on past it (the valid record behind it, on the same partition, is taken)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from gayari_interventions.bootstrap import create_app
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.households import HouseholdEnrolledV1, HouseholdRegisteredV1
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.integration.test_intake_console import ce_headers, publish_households
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack
NOW = datetime.now(UTC)
SOURCE = "/gayari/agencies/distakan"
GRANT = "gayari.intake.grant.v1"
VISIT = "gayari.intake.mentoring-visit.v1"
SURVEY = "gayari.intake.business-survey.v1"


@pytest.fixture
async def interventions(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> AsyncIterator[str]:
    url = await databases.create("intakestrict", migrated="interventions")
    app: FastAPI = create_app(isolated_settings, InterventionsSettings(database_url=url))
    async with app.router.lifespan_context(app):
        yield url


async def enrolled_household(settings: CommonSettings, database_url: str) -> uuid.UUID:
    """A household registered and enrolled, as the registry announces it; once the service
    has applied both events."""
    household_id = uuid.uuid4()
    events = [
        envelope_for(event, source="/gayari/registry", correlation_id="c")
        for event in (
            HouseholdRegisteredV1(
                household_id=household_id,
                village_code="62.09.02.2001",
                welfare_decile=1,
                member_count=1,
                kk_hash="f" * 64,
                registered_at=NOW,
            ),
            HouseholdEnrolledV1(
                household_id=household_id,
                cohort_year=2026,
                enrolling_agency="dinsos",
                enrolled_at=NOW,
            ),
        )
    ]
    await publish_households(settings, events)
    conn = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(30):
            query = "SELECT enrolled_at IS NOT NULL FROM known_households WHERE household_id = $1"
            while not await conn.fetchval(query, household_id):
                await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return household_id


def lamandau_today() -> str:
    # Records' days are Lamandau's (Jakarta time): after 17:00 UTC, UTC's today is yesterday
    # there, before the household's registration day.
    return datetime.now(JAKARTA).date().isoformat()


def bad_records(household: str) -> list[tuple[str, dict[str, Any], dict[str, str], str, str]]:
    """(type, value, header overrides, expected reason code, what the reason must name)."""
    grant = {
        "household_id": household,
        "agency": "distakan",
        "kind": "capital",
        "amount_idr": 1_500_000,
        "purpose": "Modal budidaya ikan nila",
    }
    visit = {
        "household_id": household,
        "agency": "distakan",
        "visited_on": lamandau_today(),
        "business_status": "running",
    }
    survey = {
        "household_id": household,
        "agency": "distakan",
        "surveyed_on": lamandau_today(),
        "monthly_income_idr": 2_000_000,
        "workers": 2,
    }
    return [
        (GRANT, {**grant, "amount_idr": True}, {}, "invalid-data", "amount_idr"),
        (GRANT, {**grant, "amount_idr": "1500000"}, {}, "invalid-data", "amount_idr"),
        (GRANT, {**grant, "amount_idr": 1500000.0}, {}, "invalid-data", "amount_idr"),
        (GRANT, {**grant, "purpose": "Modal\u0000"}, {}, "invalid-data", "purpose"),
        (GRANT, {**grant, "purpose": "Modal\u001b[2J"}, {}, "invalid-data", "purpose"),
        (GRANT, {**grant, "purpose": 1500000}, {}, "invalid-data", "purpose"),
        (GRANT, {**grant, "fiscal_year": True}, {}, "invalid-data", "fiscal_year"),
        (
            GRANT,
            {
                **grant,
                "kind": "equipment",
                "amount_idr": None,
                "items": [
                    {
                        "description": "Jaring",
                        "quantity": "2",
                        "unit": "buah",
                        "unit_value_idr": 1000,
                    }
                ],
            },
            {},
            "invalid-data",
            "items.0.quantity",
        ),
        (VISIT, {**visit, "notes": "Catatan\u0000"}, {}, "invalid-data", "notes"),
        (VISIT, {**visit, "visited_on": 0}, {}, "invalid-data", "visited_on"),
        (SURVEY, {**survey, "workers": True}, {}, "invalid-data", "workers"),
        (
            SURVEY,
            {**survey, "monthly_income_idr": "2000000"},
            {},
            "invalid-data",
            "monthly_income_idr",
        ),
        (
            GRANT,
            grant,
            {"ce_correlationid": "siks\u000042"},
            "invalid-cloudevent",
            "ce_correlationid",
        ),
    ]


async def test_wrong_values_are_dead_lettered_and_the_partition_moves_on(
    interventions: str, isolated_settings: CommonSettings
) -> None:
    settings = isolated_settings
    household = str(await enrolled_household(settings, interventions))
    topic = settings.intake_topic("distakan")
    bad = bad_records(household)
    good_visit = {
        "household_id": household,
        "agency": "distakan",
        "visited_on": lamandau_today(),
        "business_status": "running",
        "notes": "Kolam dua petak.\nPanen pertama\tbulan depan.",
    }
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    event_ids: list[bytes] = []
    await producer.start()
    try:
        # All keyed by the one household: one partition, in this order; the valid record last.
        for event_type, value, overrides, _, _ in [*bad, (VISIT, good_visit, {}, "", "")]:
            event_id = str(uuid.uuid4())
            event_ids.append(event_id.encode())
            headers = {**ce_headers(event_id, event_type, SOURCE, household), **overrides}
            await producer.send_and_wait(
                topic,
                json.dumps(value).encode(),
                key=household.encode(),
                headers=[(name, text.encode()) for name, text in headers.items()],
            )
    finally:
        await producer.stop()

    every_dead = await read_topic(
        settings.kafka_connection(), settings.deadletter_topic, expect=len(bad) + 1
    )
    # By event id: a record read again after a rebalance may be dead-lettered twice.
    reasons = {
        headers["ce_id"]: headers["dlq-reason"].decode()
        for headers in ({k: bytes(v) for k, v in r.headers} for r in every_dead)
        if headers["dlq-consumer"] == b"interventions-intake"
    }
    assert set(reasons) == set(event_ids[:-1]), reasons
    for (_, _, _, code, field), sent_id in zip(bad, event_ids, strict=False):
        assert reasons[sent_id].startswith(f"{code}: "), reasons[sent_id]
        assert field in reasons[sent_id], (field, reasons[sent_id])

    # The valid record behind them all was taken: the partition was not blocked.
    canonical = await read_topic(
        settings.kafka_connection(), settings.topic("interventions"), expect=1
    )
    assert [dict(r.headers)["ce_type"] for r in canonical] == [b"gayari.mentoring.visited.v1"]
    conn = await asyncpg.connect(interventions)
    try:
        notes = await conn.fetchval("SELECT notes FROM mentoring_visits")
        rejected = await conn.fetchval("SELECT count(*) FROM intake_rejections")
        grants = await conn.fetchval("SELECT count(*) FROM grants")
    finally:
        await conn.close()
    assert notes == good_visit["notes"]
    assert (rejected, grants) == (len(bad), 0)
