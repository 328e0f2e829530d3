"""An agency finds its own records again, over HTTP, on the real database and Kafka: lists per
kind with filters and cursor pages, each record by id (another agency's is a 404), and a
record sent through an intake topic found and voided by the CloudEvents id its system gave it,
over HTTP or with the intake's void message."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_interventions_api import Interventions, known, life, running
from tests.kafka_tools import read_all

pytestmark = pytest.mark.stack


@pytest.fixture
async def service(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Interventions]:
    url = await databases.create("interventions", migrated="interventions")
    keys = {**api_keys.agencies, "admin": api_keys.admin}
    async for running_service in running(isolated_settings, url, keys):
        yield running_service


async def get(service: Interventions, who: str, path: str, **params: Any) -> httpx.Response:
    return await service.http.get(
        path, params=params, headers={"Authorization": f"Bearer {service.keys[who]}"}
    )


def ce_headers(
    event_id: uuid.UUID, event_type: str, agency: str, subject: str
) -> list[tuple[str, bytes]]:
    return [
        (name, text.encode())
        for name, text in {
            "ce_id": str(event_id),
            "ce_source": f"/gayari/agencies/{agency}",
            "ce_type": event_type,
            "ce_specversion": "1.0",
            "ce_time": datetime.now(UTC).isoformat(),
            "ce_subject": subject,
            "ce_correlationid": f"agency-system-{event_id}",
            "content-type": "application/json",
        }.items()
    ]


async def send_intake(
    settings: CommonSettings,
    agency: str,
    *,
    event_type: str,
    household_id: uuid.UUID,
    value: dict[str, Any],
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Publishes as the agency's system does (see docs/intake.md); returns the `ce_id`."""
    event_id = event_id or uuid.uuid4()
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.intake_topic(agency),
            json.dumps({**value, "agency": agency}).encode(),
            key=str(household_id).encode(),
            headers=ce_headers(event_id, event_type, agency, str(household_id)),
        )
    finally:
        await producer.stop()
    return event_id


async def until(predicate: Any, timeout_s: float = 60.0) -> Any:
    """Polls until `predicate` returns something truthy; generous, for a loaded shared CPU."""
    async with asyncio.timeout(timeout_s):
        while not (result := await predicate()):
            await asyncio.sleep(0.2)
    return result


def grant_body(household: uuid.UUID, amount: int = 2_500_000) -> dict[str, Any]:
    return {
        "household_id": str(household),
        "kind": "capital",
        "amount_idr": amount,
        "purpose": "Modal budidaya ikan nila",
    }


async def test_intake_record_is_found_and_voided_by_its_cloudevents_id(
    service: Interventions,
) -> None:
    household = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    settings = service.settings
    ce_id = await send_intake(
        settings,
        "distakan",
        event_type="gayari.intake.grant.v1",
        household_id=household,
        value=grant_body(household),
    )

    async def found() -> list[dict[str, Any]]:
        reply = await get(service, "distakan", "/grants", external_id=str(ce_id))
        assert reply.status_code == 200, reply.text
        items: list[dict[str, Any]] = reply.json()["items"]
        return items

    (grant,) = await until(found)
    assert grant["external_id"] == str(ce_id) and grant["amount_idr"] == 2_500_000
    assert grant["void"] is None
    by_id = await get(service, "distakan", f"/grants/{grant['id']}")
    assert by_id.status_code == 200 and by_id.json()["external_id"] == str(ce_id)
    # Another agency does not see it, not even that it exists; the administrator does.
    assert (await get(service, "dispar", f"/grants/{grant['id']}")).status_code == 404
    assert (await get(service, "dispar", "/grants", external_id=str(ce_id))).json()["items"] == []
    assert (await get(service, "admin", f"/grants/{grant['id']}")).status_code == 200
    # Another agency cannot void it by that id either: it is not theirs to name.
    void = {"intervention_type": "grant", "external_id": str(ce_id), "reason": "duplicate"}
    assert (await service.post("dispar", "/voids", void)).status_code == 404
    voided = await service.post("distakan", "/voids", void)
    assert voided.status_code == 201, voided.text
    assert voided.json()["intervention_id"] == grant["id"]
    after = (await get(service, "distakan", f"/grants/{grant['id']}")).json()
    assert after["void"]["reason"] == "duplicate" and after["changed_at"] > grant["changed_at"]
    assert (await service.post("distakan", "/voids", void)).status_code == 409


async def test_intake_void_message_voids_by_external_id_and_refuses_what_it_cannot(
    service: Interventions,
) -> None:
    household = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    settings = service.settings
    visit = {
        "household_id": str(household),
        "visited_on": (date.today() - timedelta(days=1)).isoformat(),
        "business_status": "growing",
    }
    ce_id = await send_intake(
        settings,
        "dkukmpp",
        event_type="gayari.intake.mentoring-visit.v1",
        household_id=household,
        value=visit,
    )

    async def listed() -> list[dict[str, Any]]:
        reply = await get(service, "dkukmpp", "/mentoring-visits", external_id=str(ce_id))
        items: list[dict[str, Any]] = reply.json()["items"]
        return items

    (record,) = await until(listed)
    void = {
        "household_id": str(household),
        "intervention_type": "mentoring-visit",
        "external_id": str(ce_id),
        "reason": "entered-in-error",
    }
    send_void = partial(
        send_intake, settings, event_type="gayari.intake.void.v1", household_id=household
    )
    void_id = await send_void("dkukmpp", value=void)
    # The same void message again (a redelivery): taken once, nothing dead-lettered.
    await send_void("dkukmpp", value=void, event_id=void_id)
    # Unknown record, and another agency's record by its external id: dead letters.
    await send_void("dkukmpp", value={**void, "external_id": str(uuid.uuid4())})
    await send_void("distakan", value=void)

    async def voided() -> dict[str, Any] | None:
        reply = await get(service, "dkukmpp", f"/mentoring-visits/{record['id']}")
        body: dict[str, Any] = reply.json()
        return body if body["void"] is not None else None

    body = await until(voided)
    assert body["void"]["reason"] == "entered-in-error"
    letters = await until(lambda: _dead_letters(settings, expect=2))
    reasons = sorted(dict(r.headers)["dlq-reason"].decode().split(":")[0] for r in letters)
    assert reasons == ["not-found", "not-found"]
    assert await service.fetchval("SELECT count(*) FROM voids") == 1


async def _dead_letters(settings: CommonSettings, expect: int) -> list[Any]:
    letters = await read_all(settings.kafka_connection(), settings.deadletter_topic)
    return letters if len(letters) >= expect else []


async def test_lists_filter_and_page_an_agencys_own_records(service: Interventions) -> None:
    first = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    second = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    ids = []
    for household, amount in ((first, 1_000_000), (second, 2_000_000), (first, 3_000_000)):
        reply = await service.post("distakan", "/grants", grant_body(household, amount))
        assert reply.status_code == 201, reply.text
        ids.append(reply.json()["id"])
    other = await service.post("dispar", "/grants", grant_body(first, 4_000_000))
    assert other.status_code == 201

    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        reply = await get(service, "distakan", "/grants", **params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        pages.append([g["id"] for g in page["items"]])
        if page["next"] is None:
            break
        params = {"limit": 2, "after": page["next"]}
    assert pages == [ids[:2], ids[2:]]
    mine = await get(service, "distakan", "/grants", household_id=str(first))
    assert [g["id"] for g in mine.json()["items"]] == [ids[0], ids[2]]
    everyone = await get(service, "admin", "/grants", household_id=str(first))
    assert len(everyone.json()["items"]) == 3

    # A void is a change: the voided grant comes back in a list of changes since before it.
    listed = (await get(service, "distakan", "/grants")).json()["items"]
    since = listed[-1]["changed_at"]
    void = {"intervention_type": "grant", "intervention_id": ids[0], "reason": "duplicate"}
    assert (await service.post("distakan", "/voids", void)).status_code == 201
    changed = (await get(service, "distakan", "/grants", changed_since=since)).json()["items"]
    assert [g["id"] for g in changed] == [ids[2], ids[0]]
    assert changed[-1]["void"]["reason"] == "duplicate"

    # Dated in Jakarta, a day ahead of UTC for seven hours of each day: two days ahead is
    # tomorrow there, yesterday is before them all.
    later = (date.today() + timedelta(days=2)).isoformat()
    assert (await get(service, "distakan", "/grants", date_from=later)).json()["items"] == []
    earlier = (date.today() - timedelta(days=1)).isoformat()
    dated = await get(service, "distakan", "/grants", date_from=earlier, date_to=later)
    assert len(dated.json()["items"]) == 3
    for bad in ({"colour": "red"}, {"limit": 100_000}, {"after": "not-a-cursor"}):
        refused = await get(service, "distakan", "/grants", **bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    for path in (
        "/training-sessions",
        "/mentoring-visits",
        "/business-surveys",
        "/budget-allocations",
    ):
        assert (await get(service, "distakan", path)).status_code == 200
    assert (
        await get(service, "distakan", "/budget-allocations", household_id=str(first))
    ).status_code == 422
    assert (await get(service, "distakan", f"/grants/{uuid.uuid4()}")).status_code == 404
