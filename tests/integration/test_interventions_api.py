"""The interventions service in-process on the real database and Kafka: every endpoint stores
its row and publishes exactly one event; bad input is a problem naming the field and writes
nothing; households count only once the registry's events say they are enrolled."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from gayari_interventions.adapters.postgres import (
    InterventionsUnitOfWork,
    unit_of_work,
)
from gayari_interventions.bootstrap import create_app
from gayari_interventions.domain.budget import BudgetAllocationRequest
from gayari_interventions.domain.grants import GrantRequest
from gayari_interventions.domain.households import HouseholdNotKnownYetError, KnownHousehold
from gayari_interventions.service_layer import handlers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.agencies import DEFAULT_AGENCIES, Agency
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.events.contracts import (
    EventBase,
    HouseholdDetailsChangedV1,
    HouseholdEnrolledV1,
    HouseholdExitedV1,
    HouseholdRegisteredV1,
)
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.postgres import create_pool
from gayari_shared.rules import RuleViolationError
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack

RECORD_TABLES = (
    "grants",
    "grant_items",
    "training_sessions",
    "training_participants",
    "training_attendance",
    "training_completions",
    "mentoring_visits",
    "business_surveys",
    "budget_allocations",
    "voids",
    "outbox",
)


@dataclass
class Interventions:
    """The service in-process: one HTTP client per agency key, and its database."""

    http: httpx.AsyncClient
    url: str
    settings: CommonSettings
    keys: dict[str, str]

    async def post(self, agency: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            path, json=body, headers={"Authorization": f"Bearer {self.keys[agency]}"}
        )

    async def counts(self) -> dict[str, int]:
        conn = await asyncpg.connect(self.url)
        try:
            return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in RECORD_TABLES}
        finally:
            await conn.close()

    async def fetchval(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


async def running(
    settings: CommonSettings, url: str, keys: dict[str, str]
) -> AsyncIterator[Interventions]:
    app = create_app(settings, InterventionsSettings(database_url=url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Interventions(http, url, settings, keys)


async def publish(
    settings: CommonSettings, events: list[EventBase], source: str
) -> list[uuid.UUID]:
    await ensure_topics(settings.kafka_connection(), domain_topics(settings))
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    await producer.start()
    ids = []
    try:
        for event in events:
            envelope = envelope_for(event, source=source, correlation_id="it")
            record = envelope.to_kafka(settings.topic(event.STREAM))
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
            ids.append(envelope.id)
    finally:
        await producer.stop()
    return ids


T0 = datetime.now(UTC) - timedelta(days=60)


def life(
    household_id: uuid.UUID, members: list[uuid.UUID], *, enrol: bool = True, exit_: bool = False
) -> list[EventBase]:
    """The registry's events of one household: registered, then enrolled, then maybe exited."""
    events: list[EventBase] = [
        HouseholdRegisteredV1(
            household_id=household_id,
            village_code="62.09.01.2001",
            welfare_decile=2,
            member_count=max(1, len(members)),
            kk_hash=uuid.uuid4().hex * 2,
            registered_at=T0,
            member_ids=members,
        )
    ]
    if enrol:
        events.append(
            HouseholdEnrolledV1(
                household_id=household_id,
                cohort_year=T0.year,
                enrolling_agency="dinsos",
                enrolled_at=T0 + timedelta(days=1),
            )
        )
    if exit_:
        events.append(
            HouseholdExitedV1(
                household_id=household_id, reason="moved", exited_at=T0 + timedelta(days=30)
            )
        )
    return events


async def known(service: Interventions, events: list[EventBase]) -> uuid.UUID:
    """Publish a household's events and wait until the service's consumer applied the last."""
    ids = await publish(service.settings, events, "/gayari/registry")
    household_id = events[0].subject
    async with asyncio.timeout(30):
        while (
            await service.fetchval(
                "SELECT event_id FROM known_households WHERE household_id = $1",
                uuid.UUID(household_id),
            )
        ) != ids[-1]:
            await asyncio.sleep(0.1)
    return uuid.UUID(household_id)


@pytest.fixture
async def service(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Interventions]:
    url = await databases.create("interventions", migrated="interventions")
    async for running_service in running(isolated_settings, url, api_keys.agencies):
        yield running_service


def days_ago(days: int) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


NILA = {"description": "Bibit ikan nila", "quantity": 1000, "unit": "ekor", "unit_value_idr": 500}
JARING = {"description": "Jaring apung", "quantity": 2, "unit": "buah", "unit_value_idr": 325_000}


async def test_every_endpoint_stores_its_row_and_publishes_one_event(
    service: Interventions,
) -> None:
    member, other_member = uuid.uuid4(), uuid.uuid4()
    household = await known(service, life(uuid.uuid4(), [member, other_member]))
    hid = str(household)
    steps: list[tuple[str, str, dict[str, Any], str, str]] = []  # agency, path, body, table, type

    async def step(
        agency: str, path: str, body: dict[str, Any], table: str, event_type: str
    ) -> dict[str, Any]:
        before = await service.counts()
        reply = await service.post(agency, path, body)
        assert reply.status_code == 201, reply.text
        after = await service.counts()
        assert after[table] == before[table] + 1, f"{path} did not store its row"
        assert after["outbox"] == before["outbox"] + 1, f"{path} did not stage one event"
        steps.append((agency, path, body, table, event_type))
        created: dict[str, Any] = reply.json()
        return created

    grant = await step(
        "distakan",
        "/grants",
        {
            "household_id": hid,
            "kind": "equipment",
            "items": [NILA, JARING],
            "purpose": "Budidaya ikan nila dalam keramba",
            "budget_line": "5.1.05.05.01.0001",
        },
        "grants",
        "gayari.grant.issued.v2",
    )
    assert grant["amount_idr"] == 1_150_000 and grant["agency"] == "distakan"
    assert await service.fetchval("SELECT count(*) FROM grant_items") == 2
    session = await step(
        "dispar",
        "/training-sessions",
        {
            "topic": "Pengelolaan homestay",
            "starts_on": days_ago(10),
            "ends_on": days_ago(8),
            "hours": 24,
            "place": "Balai Desa Bukit Raya",
        },
        "training_sessions",
        "gayari.training-session.recorded.v1",
    )
    who = {"session_id": session["id"], "household_id": hid, "member_id": str(member)}
    await step(
        "dispar",
        "/training-participants",
        who,
        "training_participants",
        "gayari.training.participant-added.v1",
    )
    await step(
        "dispar",
        "/training-attendance",
        {**who, "attended_on": days_ago(9)},
        "training_attendance",
        "gayari.training.attended.v1",
    )
    completion = await step(
        "dispar",
        "/training-completions",
        {**who, "completed_on": days_ago(8)},
        "training_completions",
        "gayari.training.completed.v2",
    )
    assert (completion["topic"], completion["hours"]) == ("Pengelolaan homestay", 24)
    await step(
        "dkukmpp",
        "/mentoring-visits",
        {
            "household_id": hid,
            "visited_on": days_ago(3),
            "business_status": "growing",
            "notes": "Ibu Marlina menambah dua meja di warungnya",
        },
        "mentoring_visits",
        "gayari.mentoring.visited.v1",
    )
    await step(
        "dkukmpp",
        "/business-surveys",
        {
            "household_id": hid,
            "surveyed_on": days_ago(2),
            "monthly_income_idr": 3_200_000,
            "workers": 2,
        },
        "business_surveys",
        "gayari.business.surveyed.v1",
    )
    await step(
        "dinsos",
        "/budget-allocations",
        {"fiscal_year": date.today().year, "amount_idr": 750_000_000},
        "budget_allocations",
        "gayari.budget.allocated.v1",
    )
    await step(
        "distakan",
        "/voids",
        {
            "intervention_type": "grant",
            "intervention_id": grant["id"],
            "reason": "other",
            "explanation": "Barang belum diserahkan; dicatat ulang bulan depan",
        },
        "voids",
        "gayari.intervention.voided.v1",
    )

    # Exactly one event per request, of its type, on the interventions topic, from the agency.
    records = await read_topic(
        service.settings.kafka_connection(),
        service.settings.topic("interventions"),
        expect=len(steps),
    )
    envelopes = [Envelope.from_kafka(r.key, r.value, list(r.headers)) for r in records]
    assert sorted(e.type for e in envelopes) == sorted(s[4] for s in steps)
    by_type = {e.type: e for e in envelopes}
    for agency, _, _, _, event_type in steps:
        assert by_type[event_type].source == f"/gayari/agencies/{agency}"
        assert by_type[event_type].data.get("agency") == agency
    for agency_level in ("gayari.training-session.recorded.v1", "gayari.budget.allocated.v1"):
        assert by_type[agency_level].subject.startswith("agency:")
    household_level = {s[4] for s in steps} - {
        "gayari.training-session.recorded.v1",
        "gayari.budget.allocated.v1",
    }
    assert {by_type[t].subject for t in household_level} == {hid}
    # Free text about the family stays in the database.
    values = b" ".join(r.value for r in records).decode()
    assert "Marlina" not in values and "diserahkan" not in values
    void = by_type["gayari.intervention.voided.v1"].data
    assert (void["intervention_id"], void["reason"]) == (grant["id"], "other")

    # Nothing was deleted by the void: the grant is still there, with a void beside it.
    assert await service.fetchval("SELECT count(*) FROM grants") == 1


async def test_training_rules_over_http(service: Interventions) -> None:
    member = uuid.uuid4()
    household = await known(service, life(uuid.uuid4(), [member]))
    session = (
        await service.post(
            "dispar",
            "/training-sessions",
            {
                "topic": "Pemandu wisata desa",
                "starts_on": days_ago(5),
                "ends_on": days_ago(4),
                "hours": 12,
                "place": "Nanga Bulik",
            },
        )
    ).json()
    who = {"session_id": session["id"], "household_id": str(household), "member_id": str(member)}
    stranger = {**who, "member_id": str(uuid.uuid4())}
    refused = await service.post("dispar", "/training-participants", stranger)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["member_id"]
    not_theirs = await service.post("dinsos", "/training-participants", who)
    assert not_theirs.status_code == 403
    assert (await service.post("dispar", "/training-participants", who)).status_code == 201
    again = await service.post("dispar", "/training-participants", who)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert (await service.counts())["training_participants"] == 1
    not_yet = await service.post(
        "dispar", "/training-completions", {**stranger, "completed_on": days_ago(4)}
    )
    assert not_yet.status_code == 422
    assert not_yet.json()["errors"][0]["field"] == "member_id"


@pytest.mark.parametrize(
    ("events", "status", "kind", "words"),
    [
        # Not known here as enrolled: maybe not yet, so a retryable answer, never a refusal.
        ("unknown", 409, "household-not-known-yet", "not known"),
        ("registered", 409, "household-not-known-yet", "not enrolled"),
        ("exited", 422, "rule-violation", "exited"),
    ],
)
async def test_only_enrolled_households_get_interventions(
    service: Interventions, events: str, status: int, kind: str, words: str
) -> None:
    household = uuid.uuid4()
    if events != "unknown":
        await known(
            service, life(household, [], enrol=events == "exited", exit_=events == "exited")
        )
    reply = await service.post(
        "dinsos",
        "/grants",
        {
            "household_id": str(household),
            "kind": "capital",
            "amount_idr": 2_000_000,
            "purpose": "Modal usaha",
        },
    )
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["type"] == f"urn:gayari:problem:{kind}"
    assert problem["errors"][0]["field"] == "household_id"
    assert words in problem["detail"] and str(household) in problem["detail"]
    assert ("retry-after" in reply.headers) == (status == 409)
    assert (await service.counts())["outbox"] == 0


def versioned(events: list[EventBase]) -> list[EventBase]:
    """The events as the registry publishes them now: each with the household's version."""
    return [
        event.model_copy(update={"household_version": number})
        for number, event in enumerate(events, start=1)
    ]


async def test_a_record_naming_a_version_waits_for_it(service: Interventions) -> None:
    household = uuid.uuid4()
    grant = {
        "household_id": str(household),
        "kind": "capital",
        "amount_idr": 2_000_000,
        "purpose": "Modal usaha",
    }
    headers = {
        "Authorization": f"Bearer {service.keys['distakan']}",
        "Gayari-Household-Version": '"2"',
    }
    # Sent before the registry's events exist: it waits for them, and is decided on them.
    waiting = asyncio.create_task(service.http.post("/grants", json=grant, headers=headers))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = asyncio.get_running_loop().time()
    await publish(service.settings, versioned(life(household, [])), "/gayari/registry")
    reply = await waiting
    assert reply.status_code == 201, reply.text
    assert asyncio.get_running_loop().time() - started < 2
    # A version this service does not reach within its wait: 503, retry later.
    ahead = await service.http.post(
        "/grants", json=grant, headers={**headers, "Gayari-Household-Version": "3"}
    )
    assert ahead.status_code == 503, ahead.text
    assert ahead.headers["retry-after"] == "1"
    assert ahead.json()["type"] == "urn:gayari:problem:household-not-current"
    malformed = await service.http.post(
        "/grants", json=grant, headers={**headers, "Gayari-Household-Version": "W/2"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "header.Gayari-Household-Version"
    assert (await service.counts())["grants"] == 1


async def test_the_exits_version_makes_a_refusal_final(service: Interventions) -> None:
    household = uuid.uuid4()
    await known(service, versioned(life(household, [], exit_=True)))
    for path, body in [
        (
            "/grants",
            {"household_id": str(household), "kind": "capital", "amount_idr": 1, "purpose": "x"},
        ),
        (
            "/mentoring-visits",
            {
                "household_id": str(household),
                "visited_on": days_ago(1),
                "business_status": "running",
            },
        ),
    ]:
        reply = await service.http.post(
            path,
            json=body,
            headers={
                "Authorization": f"Bearer {service.keys['dinsos']}",
                "Gayari-Household-Version": "3",
            },
        )
        assert reply.status_code == 422, reply.text
        assert "exited" in reply.json()["detail"]


async def test_a_record_dated_before_the_enrolment_is_refused(service: Interventions) -> None:
    # Enrolled 59 days ago in UTC: 58 or 59 in Lamandau, a day ahead from 17:00 UTC.
    household = await known(service, life(uuid.uuid4(), []))
    for days, status in [(61, 422), (58, 201)]:
        reply = await service.post(
            "dinsos",
            "/mentoring-visits",
            {
                "household_id": str(household),
                "visited_on": days_ago(days),
                "business_status": "running",
            },
        )
        assert reply.status_code == status, reply.text
    refused = await service.post(
        "dinsos",
        "/business-surveys",
        {
            "household_id": str(household),
            "surveyed_on": days_ago(61),
            "monthly_income_idr": 1_500_000,
            "workers": 1,
        },
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "surveyed_on"
    assert "before the household's" in refused.json()["detail"]
    assert (await service.counts())["mentoring_visits"] == 1


async def test_a_redelivered_enrolment_does_not_undo_an_exit(service: Interventions) -> None:
    household = uuid.uuid4()
    events = life(household, [], exit_=True)
    await known(service, events)
    # The enrolment again, after the exit, as a relay resending it would; then a change that
    # the consumer does apply, to know it has handled what came before (same partition).
    marker = HouseholdDetailsChangedV1(
        household_id=household,
        changed=["members"],
        member_count=1,
        changed_at=datetime.now(UTC),
        member_ids=[uuid.uuid4()],
    )
    await known(service, [events[0], events[1], marker])
    reply = await service.post(
        "dinsos",
        "/mentoring-visits",
        {"household_id": str(household), "visited_on": days_ago(1), "business_status": "running"},
    )
    assert reply.status_code == 422 and "exited" in reply.json()["detail"]


async def test_unreadable_household_records_are_dead_lettered_and_the_rest_applied(
    service: Interventions,
) -> None:
    """Bad records amid good ones, read in one batch: each bad one goes to the dead-letter
    topic with its reason, every good one is applied."""
    settings = service.settings
    household = uuid.uuid4()
    good = envelope_for(life(household, [])[0], source="/gayari/registry", correlation_id="it")
    record = good.to_kafka(settings.topic("households"))
    await ensure_topics(settings.kafka_connection(), domain_topics(settings))
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    await producer.start()
    try:
        key = str(household).encode()
        bad_data = json.loads(record.value)
        bad_data["welfare_decile"] = 11
        for value in (b"{not json", json.dumps(bad_data).encode(), record.value):
            await producer.send(record.topic, value, key=key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()
    await known(service, life(household, []))  # the enrolment after them: all were read
    dead = await read_topic(settings.kafka_connection(), settings.deadletter_topic, 2)
    why = [{name: bytes(value).decode() for name, value in r.headers} for r in dead]
    assert [h["dlq-consumer"] for h in why] == ["gayari-interventions"] * 2
    assert why[0]["dlq-reason"].startswith("value is not JSON")
    assert "welfare_decile" in why[1]["dlq-reason"]
    assert await service.fetchval(
        "SELECT registered_at IS NOT NULL AND enrolled_at IS NOT NULL FROM known_households "
        "WHERE household_id = $1",
        household,
    )


async def test_a_void_by_another_agency_is_forbidden(service: Interventions) -> None:
    household = await known(service, life(uuid.uuid4(), []))
    grant = (
        await service.post(
            "distakan",
            "/grants",
            {
                "household_id": str(household),
                "kind": "capital",
                "amount_idr": 1_500_000,
                "purpose": "Pakan ikan",
            },
        )
    ).json()
    void = {"intervention_type": "grant", "intervention_id": grant["id"], "reason": "duplicate"}
    reply = await service.post("dispar", "/voids", void)
    assert reply.status_code == 403
    assert reply.headers["content-type"] == "application/problem+json"
    assert "distakan" in reply.json()["detail"]
    assert (await service.counts())["voids"] == 0
    assert (await service.post("distakan", "/voids", void)).status_code == 201
    twice = await service.post("distakan", "/voids", void)
    assert twice.status_code == 409
    unknown = await service.post(
        "distakan", "/voids", {**void, "intervention_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404
    counts = await service.counts()
    assert (counts["voids"], counts["outbox"]) == (1, 2)


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("/grants", {"kind": "capital", "amount_idr": 100}, "purpose"),
    (
        "/grants",
        {"kind": "equipment", "purpose": "x", "items": [{**NILA, "quantity": 0}]},
        "items.0.quantity",
    ),
    ("/grants", {"kind": "equipment", "purpose": "x"}, "items"),
    (
        "/grants",
        {"kind": "equipment", "purpose": "x", "amount_idr": 7, "items": [NILA]},
        "amount_idr",
    ),
    (
        "/grants",
        {"kind": "capital", "purpose": "x", "amount_idr": 5, "fiscal_year": 1999},
        "fiscal_year",
    ),
    (
        "/training-sessions",
        {"topic": "T", "starts_on": days_ago(1), "ends_on": days_ago(2), "hours": 4, "place": "P"},
        "ends_on",
    ),
    (
        "/training-sessions",
        {"topic": "T", "starts_on": days_ago(1), "ends_on": days_ago(1), "hours": 0, "place": "P"},
        "hours",
    ),
    (
        "/training-sessions",
        {"topic": "T", "starts_on": days_ago(1), "ends_on": days_ago(1), "hours": 4, "place": "  "},
        "place",
    ),
    ("/training-participants", {"session_id": str(uuid.uuid4())}, "member_id"),
    (
        "/training-completions",
        {
            "session_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()),
            "completed_on": "yesterday",
        },
        "completed_on",
    ),
    (
        "/mentoring-visits",
        {"visited_on": days_ago(1), "business_status": "booming"},
        "business_status",
    ),
    (
        "/business-surveys",
        {"surveyed_on": days_ago(1), "monthly_income_idr": -1, "workers": 1},
        "monthly_income_idr",
    ),
    ("/budget-allocations", {"fiscal_year": 1999, "amount_idr": 1}, "fiscal_year"),
    ("/budget-allocations", {"fiscal_year": 2026, "amount_idr": 1, "agency": "dispar"}, "agency"),
    (
        "/voids",
        {
            "intervention_type": "grant",
            "intervention_id": str(uuid.uuid4()),
            "reason": "changed my mind",
        },
        "reason",
    ),
    (
        "/voids",
        {"intervention_type": "loan", "intervention_id": str(uuid.uuid4()), "reason": "duplicate"},
        "intervention_type",
    ),
]


async def test_invalid_input_is_a_problem_naming_the_field_and_writes_nothing(
    service: Interventions,
) -> None:
    household = await known(service, life(uuid.uuid4(), []))
    for path, fields, field in INVALID:
        body = fields
        if path not in ("/training-sessions", "/budget-allocations", "/voids"):
            body = {"household_id": str(household), **fields}
        reply = await service.post("dinsos", path, body)
        assert reply.status_code == 422, (path, body, reply.text)
        assert reply.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in reply.json()["errors"]], (path, reply.text)
    assert set((await service.counts()).values()) == {0}


async def test_a_fifth_agency_joins_by_configuration_alone(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    # Dinas Perikanan split from Distakan, say: a new code in GAYARI_AGENCIES, a key, nothing else.
    fifth = Agency(code="diskan", name="Dinas Perikanan", name_en="Fisheries")
    settings = isolated_settings.model_copy(update={"agencies": (*DEFAULT_AGENCIES, fifth)})
    keys = dict(api_keys.agencies)
    for code in ("diskan", "dishub"):  # dishub has a key but is not configured
        keys[code], record = issue_key(f"test {code}", {Role.INTERVENTIONS_WRITE}, agency=code)
        KeyFile(api_keys.path).add(record)
    url = await databases.create("interventions", migrated="interventions")
    async for service in running(settings, url, keys):
        household = await known(service, life(uuid.uuid4(), []))
        body = {
            "household_id": str(household),
            "kind": "equipment",
            "items": [NILA],
            "purpose": "Bibit nila untuk kolam terpal",
        }
        reply = await service.post("diskan", "/grants", body)
        assert reply.status_code == 201, reply.text
        assert reply.json()["agency"] == "diskan"
        budget = await service.post(
            "diskan", "/budget-allocations", {"fiscal_year": date.today().year, "amount_idr": 10**8}
        )
        assert budget.status_code == 201
        refused = await service.post("dishub", "/grants", body)
        assert refused.status_code == 403  # authenticated, but not a configured agency
        assert "dishub" in refused.json()["detail"]
        records = await read_topic(
            settings.kafka_connection(), settings.topic("interventions"), expect=2
        )
        assert len(records) == 2
        data = [json.loads(r.value) for r in records]
        assert {d["agency"] for d in data} == {"diskan"}
        assert {r.key for r in records} == {str(household).encode(), b"agency:diskan"}


@pytest.fixture
async def interventions_pool(databases: DatabaseFactory) -> AsyncIterator[asyncpg.Pool]:
    url = await databases.create("interventions", migrated="interventions")
    pool = await create_pool(url, session_reset=False)
    try:
        yield pool
    finally:
        await pool.close()


async def enrolled_household(pool: asyncpg.Pool) -> uuid.UUID:
    household_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO known_households (household_id, village_code, welfare_decile,
                   registered_at, enrolled_at) VALUES ($1, '62.09.01.2001', 2, $2, $2)""",
            household_id,
            T0,
        )
    return household_id


def capital(household_id: uuid.UUID) -> GrantRequest:
    return GrantRequest(
        household_id=household_id, kind="capital", amount_idr=1_000_000, purpose="Modal warung"
    )


async def test_a_household_exiting_while_a_grant_is_decided_gets_no_grant(
    interventions_pool: asyncpg.Pool,
) -> None:
    """A grant is decided on the household read without a lock and written only if its row is
    unchanged: an exit applied in between (by the consumer, another connection) makes the grant
    be decided again under the household's lock, and refused."""
    pool = interventions_pool
    household_id = await enrolled_household(pool)

    class ExitMeanwhile(InterventionsUnitOfWork):
        async def versioned_household(
            self, household_id: uuid.UUID
        ) -> tuple[KnownHousehold, int] | None:
            seen = await super().versioned_household(household_id)
            async with pool.acquire() as other:
                await other.execute(
                    """UPDATE known_households SET exited_at = now(), exit_reason = 'moved'
                       WHERE household_id = $1""",
                    household_id,
                )
            return seen

    @asynccontextmanager
    async def racing() -> AsyncIterator[InterventionsUnitOfWork]:
        async with pool.acquire() as conn:
            yield ExitMeanwhile(conn, "test")

    deps = InterventionsDeps(
        unit_of_work=partial(unit_of_work, pool, "test"),
        agencies=frozenset({"distakan"}),
        statements=racing,
    )
    with pytest.raises(RuleViolationError, match="exited"):
        await handlers.record_grant(deps, "distakan", capital(household_id), "c")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM grants") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_records_written_in_one_statement_wake_the_relay(
    interventions_pool: asyncpg.Pool,
) -> None:
    """A household's record (guarded by the version of its household) and an agency's record,
    each with its event in one statement outside a transaction: the rows, the grant's items,
    one outbox row each, and the relay nudged after each; a refused record nudges nothing."""
    pool = interventions_pool
    household_id = await enrolled_household(pool)
    nudged: list[int] = []

    async def outbox_rows() -> int:
        async with pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM outbox"))

    def nudge() -> None:
        nudged.append(len(nudged))

    uow = partial(unit_of_work, pool, "test", staged=nudge)
    deps = InterventionsDeps(
        unit_of_work=uow, agencies=frozenset({"distakan"}), statements=partial(uow, atomic=False)
    )
    equipment = GrantRequest.model_validate(
        {"household_id": household_id, "kind": "equipment", "items": [NILA, JARING]}
        | {"purpose": "Keramba"}
    )
    grant = await handlers.record_grant(deps, "distakan", equipment, "c")
    assert (nudged, await outbox_rows()) == ([0], 1)
    budget = BudgetAllocationRequest(fiscal_year=T0.year, amount_idr=50_000_000)
    await handlers.record_budget_allocation(deps, "distakan", budget, "c")
    assert (nudged, await outbox_rows()) == ([0, 1], 2)
    with pytest.raises(HouseholdNotKnownYetError):
        await handlers.record_grant(deps, "distakan", capital(uuid.uuid4()), "c")  # unknown
    assert (nudged, await outbox_rows()) == ([0, 1], 2)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT amount_idr FROM grants WHERE id = $1", grant.id) == (
            1_150_000
        )
        items = await conn.fetch("SELECT line, quantity FROM grant_items ORDER BY line")
        assert [tuple(i) for i in items] == [(1, 1000), (2, 2)]
        assert await conn.fetchval("SELECT count(*) FROM budget_allocations") == 1
        types = await conn.fetch("SELECT event_type, topic FROM outbox ORDER BY seq")
        assert [tuple(t) for t in types] == [
            ("gayari.grant.issued.v2", "test.interventions"),
            ("gayari.budget.allocated.v1", "test.interventions"),
        ]


async def test_the_startup_heap_is_left_out_of_collections(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    """Once started, what the service built is frozen out of the collector's scans."""
    gc.unfreeze()
    url = await databases.create("interventions", migrated="interventions")
    app = create_app(isolated_settings, InterventionsSettings(database_url=url))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 50_000
    gc.unfreeze()
