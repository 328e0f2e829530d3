"""The three services as real processes: HTTP in, Kafka between, HTTP out.

Each run has databases and topics of its own, so its figures are exact."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from gayari_shared.events.interventions import JAKARTA
from tests.conftest import KeySet
from tests.e2e.conftest import Service, stop_gracefully

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

# A record's day is Lamandau's and not before its household's registration (today).
TODAY = datetime.now(JAKARTA).date()


async def complete_a_training(
    http: httpx.AsyncClient,
    registry_url: str,
    interventions_url: str,
    dispar: dict[str, str],
    household_id: str,
) -> None:
    """Tourism holds a session; the household's head takes part and completes it."""
    member_id = (
        await http.get(f"{registry_url}/households/{household_id}", headers=dispar)
    ).json()["members"][0]["member_id"]
    reply = await http.post(
        f"{interventions_url}/training-sessions",
        headers=dispar,
        json={
            "topic": "Pengelolaan homestay",
            "starts_on": (TODAY - timedelta(days=2)).isoformat(),
            "ends_on": TODAY.isoformat(),
            "hours": 16,
            "place": "Balai Desa Tamiang",
        },
    )
    assert reply.status_code == 201, reply.text
    participant = {
        "session_id": reply.json()["id"],
        "household_id": household_id,
        "member_id": member_id,
    }
    reply = await http.post(
        f"{interventions_url}/training-participants", headers=dispar, json=participant
    )
    assert reply.status_code == 201, reply.text
    reply = await http.post(
        f"{interventions_url}/training-completions",
        headers=dispar,
        json={**participant, "completed_on": TODAY.isoformat()},
    )
    assert reply.status_code == 201, reply.text


async def test_household_and_grant_reach_reporting(
    services: dict[str, Service], api_keys: KeySet
) -> None:
    registry, interventions, reporting = (
        services["registry"],
        services["interventions"],
        services["reporting"],
    )
    correlation = f"e2e-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=10, headers={"x-correlation-id": correlation}) as http:
        reply = await http.post(
            f"{registry.url}/households",
            headers=api_keys.bearer(api_keys.agencies["dinsos"]),
            json={
                "kk": "6209011503850007",
                "head_name": "Marlina Ngabe",
                "village_code": "62.09.01.2003",
                "welfare_decile": 1,
                "members": [
                    {
                        "name": "Marlina Ngabe",
                        "nik": "6209015503850002",
                        "sex": "F",
                        "birth_date": "1985-03-15",
                        "relationship": "head",
                    }
                ],
            },
        )
        assert reply.status_code == 201, reply.text
        household_id = reply.json()["id"]
        reply = await http.post(
            f"{registry.url}/households/{household_id}/enrolment",
            headers=api_keys.bearer(api_keys.agencies["dinsos"]),
            json={"cohort_year": 2026},
        )
        assert reply.status_code == 201, reply.text
        enrolment = reply.headers["etag"]  # the household's version after its enrolment

        grant = {
            "household_id": household_id,
            "kind": "equipment",
            "items": [
                {
                    "description": "Bibit ikan nila",
                    "quantity": 5000,
                    "unit": "ekor",
                    "unit_value_idr": 350,
                },
                {
                    "description": "Jaring keramba",
                    "quantity": 4,
                    "unit": "buah",
                    "unit_value_idr": 750_000,
                },
            ],
            "purpose": "Budidaya ikan nila dalam keramba",
            "budget_line": "5.1.05.05.01.0001",
        }
        # Interventions learns of the enrolment through Kafka: with its version, it waits for it.
        reply = await http.post(
            f"{interventions.url}/grants",
            json=grant,
            headers={
                **api_keys.bearer(api_keys.agencies["distakan"]),
                "Gayari-Household-Version": enrolment,
            },
        )
        assert reply.status_code == 201, reply.text
        grant_id = reply.json()["id"]
        assert reply.json()["amount_idr"] == 4_750_000  # the sum of the items
        await complete_a_training(
            http,
            registry.url,
            interventions.url,
            api_keys.bearer(api_keys.agencies["dispar"]),
            household_id,
        )

        async with asyncio.timeout(30):
            while True:
                progress = (
                    await http.get(
                        f"{reporting.url}/progress", headers=api_keys.bearer(api_keys.reporting)
                    )
                ).json()
                if progress["trainings_completed"] and progress["grants"]["count"]:
                    break
                await asyncio.sleep(0.3)
    assert progress["households_registered"] == 1
    assert progress["grants"] == {"count": 1, "total_idr": 4_750_000}
    assert progress["trainings_completed"] == 1
    by_agency = {row["agency"]: row for row in progress["agencies"]}
    assert by_agency["distakan"]["grants"] == {"count": 1, "total_idr": 4_750_000}
    assert by_agency["dispar"]["trainings_completed"] == 1
    assert by_agency["dinsos"]["grants"]["count"] == 0

    # Graceful stop on SIGTERM: exit 0, well within 10 s.
    for service in (registry, interventions, reporting):
        code, seconds = stop_gracefully(service)
        assert code == 0, f"{service.name} exited {code}:\n{service.log.read_text()[-2000:]}"
        assert seconds < 10, f"{service.name} took {seconds:.1f} s to stop"

    # The correlation id of the HTTP request travelled through Kafka into the projection log.
    projected = [line for line in reporting.log_lines() if line.get("event") == "event projected"]
    grant_lines = [line for line in projected if line.get("event_type") == "gayari.grant.issued.v2"]
    assert len(grant_lines) == 1
    assert grant_lines[0]["correlation_id"] == correlation
    assert grant_lines[0]["household_id"] == household_id
    assert {line["correlation_id"] for line in projected} == {correlation}
    assert grant_id
