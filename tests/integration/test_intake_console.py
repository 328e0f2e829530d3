"""An agency's own system publishes into its intake topic with Kafka's own console producer, a
client nobody here wrote, logged in as the agency's principal over SASL_SSL: one valid record
becomes a canonical event; invalid ones go to the dead-letter topic with their reason, are
counted, and the consumer keeps going."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from deploy.local import principals
from gayari_interventions.bootstrap import create_app
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.households import HouseholdEnrolledV1, HouseholdRegisteredV1
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.settings import CommonSettings
from tests import kafka_console
from tests.conftest import DatabaseFactory
from tests.kafka_tools import read_topic
from tests.processes import service_acls

pytestmark = pytest.mark.stack
NOW = datetime.now(UTC)


def publish_as_agency(
    agency: str, topic: str, records: list[tuple[str, str, dict[str, str]]]
) -> None:
    sent = kafka_console.produce(
        kafka_console.client_properties(principals.agency_user(agency)), topic, records
    )
    assert sent.returncode == 0, sent.stderr[-3000:]


def _headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    return {name: bytes(value) for name, value in headers}


def ce_headers(event_id: str, event_type: str, source: str, subject: str) -> dict[str, str]:
    return {
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": event_type,
        "ce_specversion": "1.0",
        "ce_time": datetime.now(UTC).isoformat(),
        "ce_subject": subject,
        "ce_correlationid": f"console-{event_id}",
        "content-type": "application/json",
    }


async def publish_households(settings: CommonSettings, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options())
    await producer.start()
    try:
        # A record the household consumer cannot read: dead-lettered, and the rest goes on.
        await producer.send_and_wait(settings.topic("households"), b"junk", key=b"junk")
        for envelope in events:
            record = envelope.to_kafka(settings.topic("households"))
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


@pytest.fixture
async def interventions(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> AsyncIterator[str]:
    url = await databases.create("interventions", migrated="interventions")
    app: FastAPI = create_app(isolated_settings, InterventionsSettings(database_url=url))
    # The deployment's ACLs on this test's topics: the agency's principal may write its intake.
    async with service_acls(isolated_settings, "unused"), app.router.lifespan_context(app):
        yield url


async def test_agency_system_publishes_through_kafkas_console_producer(
    interventions: str, isolated_settings: CommonSettings
) -> None:
    settings = isolated_settings
    enrolled, not_enrolled = uuid.uuid4(), uuid.uuid4()
    registry_events = [
        envelope_for(
            HouseholdRegisteredV1(
                household_id=hid,
                village_code="62.09.02.2001",
                welfare_decile=1,
                member_count=2,
                kk_hash="f" * 64,
                registered_at=NOW,
            ),
            source="/gayari/registry",
            correlation_id="c",
        )
        for hid in (enrolled, not_enrolled)
    ]
    registry_events.append(
        envelope_for(
            HouseholdEnrolledV1(
                household_id=enrolled, cohort_year=2026, enrolling_agency="dinsos", enrolled_at=NOW
            ),
            source="/gayari/registry",
            correlation_id="c",
        )
    )
    await publish_households(settings, registry_events)
    conn = await asyncpg.connect(interventions)
    try:
        async with asyncio.timeout(30):
            while not await conn.fetchval(
                "SELECT count(*) = 2 FROM known_households WHERE registered_at IS NOT NULL"
            ) or not await conn.fetchval(
                "SELECT enrolled_at IS NOT NULL FROM known_households WHERE household_id = $1",
                enrolled,
            ):
                await asyncio.sleep(0.2)
    finally:
        await conn.close()

    kafka = settings.kafka_connection()
    topic = settings.intake_topic("distakan")
    source = "/gayari/agencies/distakan"
    grant = {
        "household_id": str(enrolled),
        "agency": "distakan",
        "kind": "capital",
        "amount_idr": 2_500_000,
        "purpose": "Modal budidaya ikan nila",
        "fiscal_year": 2026,
        "budget_line": "5.1.05.05.01.0001",
    }
    valid_id = str(uuid.uuid4())
    sent: list[tuple[str, str, dict[str, str], str | None]] = [
        # (key, value, headers, expected dead-letter reason code or None)
        (
            str(enrolled),
            json.dumps(grant),
            ce_headers(valid_id, "gayari.intake.grant.v1", source, str(enrolled)),
            None,
        ),
        (
            str(enrolled),
            json.dumps(grant),  # the same event again: taken once
            ce_headers(valid_id, "gayari.intake.grant.v1", source, str(enrolled)),
            None,
        ),
        (
            str(enrolled),
            "{not json",
            ce_headers(str(uuid.uuid4()), "gayari.intake.grant.v1", source, str(enrolled)),
            "invalid-cloudevent",
        ),
        (
            str(enrolled),
            json.dumps(grant),
            {"content-type": "application/json"},
            "invalid-cloudevent",
        ),
        (
            str(enrolled),
            json.dumps(grant),
            ce_headers(
                str(uuid.uuid4()),
                "gayari.intake.grant.v1",
                "/gayari/agencies/dispar",
                str(enrolled),
            ),
            "agency-mismatch",
        ),
        (
            str(enrolled),
            json.dumps({**grant, "agency": "dispar"}),
            ce_headers(str(uuid.uuid4()), "gayari.intake.grant.v1", source, str(enrolled)),
            "agency-mismatch",
        ),
        (
            str(not_enrolled),
            json.dumps({**grant, "household_id": str(not_enrolled)}),
            ce_headers(str(uuid.uuid4()), "gayari.intake.grant.v1", source, str(not_enrolled)),
            # Not final: its enrolment may be on its way. Dead-lettered untaken, to be redriven
            # or published again.
            "household-not-known-yet",
        ),
        (
            str(enrolled),
            json.dumps(
                {
                    "household_id": str(enrolled),
                    "agency": "distakan",
                    "visited_on": (NOW - timedelta(days=3)).date().isoformat(),
                    "business_status": "running",
                }
            ),
            ce_headers(
                str(uuid.uuid4()), "gayari.intake.mentoring-visit.v1", source, str(enrolled)
            ),
            "rule-violation",  # dated before the household registered and enrolled
        ),
        (
            str(enrolled),
            json.dumps(grant),
            ce_headers(str(uuid.uuid4()), "gayari.intake.loan.v1", source, str(enrolled)),
            "unknown-type",
        ),
        (
            str(enrolled),
            json.dumps({**grant, "amount_idr": -5}),
            ce_headers(str(uuid.uuid4()), "gayari.intake.grant.v1", source, str(enrolled)),
            "invalid-data",
        ),
        # After all that, a valid record still goes through.
        (
            str(enrolled),
            json.dumps(
                {
                    "household_id": str(enrolled),
                    "agency": "distakan",
                    # Today in Lamandau: on the day of its registration, not before.
                    "visited_on": NOW.astimezone(JAKARTA).date().isoformat(),
                    "business_status": "running",
                }
            ),
            ce_headers(
                str(uuid.uuid4()), "gayari.intake.mentoring-visit.v1", source, str(enrolled)
            ),
            None,
        ),
    ]
    publish_as_agency("distakan", topic, [(key, value, headers) for key, value, headers, _ in sent])

    expected_codes = sorted(code for *_, code in sent if code)
    every_dead = await read_topic(kafka, settings.deadletter_topic, expect=len(expected_codes) + 1)
    by_consumer = [_headers(r.headers)["dlq-consumer"] for r in every_dead]
    assert by_consumer.count(b"gayari-interventions") == 1  # the junk household record
    # Dead letters are at least once: a record read again after a rebalance (the intake's
    # group is new here) is dead-lettered again. Each refused record counts once, by its
    # position on the intake topic, as reporting and intake_rejections count them.
    dead = list(
        {
            (h["dlq-source-partition"], h["dlq-source-offset"]): r
            for r in every_dead
            if (h := _headers(r.headers))["dlq-consumer"] != b"gayari-interventions"
        }.values()
    )
    codes = sorted(_headers(r.headers)["dlq-reason"].decode().split(":")[0] for r in dead)
    assert codes == expected_codes
    for record in dead:
        dlq_headers = _headers(record.headers)
        assert dlq_headers["dlq-source-topic"].decode() == topic
        assert dlq_headers["dlq-consumer"] == b"interventions-intake"

    canonical = await read_topic(kafka, settings.topic("interventions"), expect=2)
    types = sorted(_headers(r.headers)["ce_type"].decode() for r in canonical)
    assert types == ["gayari.grant.issued.v2", "gayari.mentoring.visited.v1"]
    assert {_headers(r.headers)["ce_source"] for r in canonical} == {source.encode()}

    conn = await asyncpg.connect(interventions)
    try:
        assert await conn.fetchval("SELECT count(*) FROM grants") == 1
        assert await conn.fetchval("SELECT count(*) FROM intake_receipts") == 2
        counted = await conn.fetch(
            "SELECT reason_code, count(*) AS n FROM intake_rejections GROUP BY reason_code"
        )
        # The audit trail: each record taken is the agency's write through its intake topic;
        # the duplicate and the refused records wrote nothing.
        audited = await conn.fetch(
            "SELECT key_id, agency, access, operation, household_ids FROM audit_log ORDER BY id"
        )
    finally:
        await conn.close()
    assert sum(int(r["n"]) for r in counted) == len(expected_codes)
    assert {r["reason_code"] for r in counted} == set(expected_codes)
    assert [tuple(r) for r in audited] == [
        (f"kafka:{topic}", "distakan", "write", "gayari.grant.issued.v2", [enrolled]),
        (f"kafka:{topic}", "distakan", "write", "gayari.mentoring.visited.v1", [enrolled]),
    ]


def test_the_console_producer_is_kafkas_own() -> None:
    jars = {path.name for path in Path(kafka_console.tools_class_path()[:-2]).glob("*.jar")}
    assert "kafka-tools-4.1.1.jar" in jars
