"""Every event type, end to end through the three running services over real Kafka and
PostgreSQL; then every message of every topic is read back and none carries personal data
(no NIK, no KK, no name, no street) in its key, value or headers."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.local import principals
from gayari_shared.events.contracts import CATALOGUE
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.events.publishing import current
from gayari_shared.kafka.topics import domain_topics
from gayari_shared.settings import CommonSettings
from tests import kafka_console
from tests.conftest import KeySet
from tests.e2e.conftest import Service
from tests.kafka_tools import read_all

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

# The records' days are Lamandau's, and none before the household's registration (today).
TODAY = datetime.now(JAKARTA).date()

# Distinctive personal data: none of it may appear on Kafka.
HOUSEHOLDS: list[dict[str, Any]] = [
    {
        "kk": "6209031405880004",
        "head_name": "Bonifasius Tamanggung",
        "village_code": "62.09.03.2001",
        "welfare_decile": 1,
        "address": {"rt": "003", "rw": "001", "street": "Jalan Sungai Arut Gang Kenari"},
        "members": [
            {
                "name": "Bonifasius Tamanggung",
                "nik": "6209031405880004",
                "sex": "M",
                "birth_date": "1988-05-14",
                "relationship": "head",
            },
            {
                "name": "Theresia Anggraini",
                "nik": "6209035709900002",
                "sex": "F",
                "birth_date": "1990-09-17",
                "relationship": "spouse",
            },
        ],
    },
    {
        "kk": "6209050101770009",
        "head_name": "Jumiatun Sahrani",
        "village_code": "62.09.05.2003",
        "welfare_decile": 2,
        "address": {"rt": "007", "rw": "002", "street": "Dusun Pematang Limau"},
        "members": [
            {
                "name": "Jumiatun Sahrani",
                "nik": "6209054101770003",
                "sex": "F",
                "birth_date": "1977-01-01",
                "relationship": "head",
            },
        ],
    },
]


def personal_strings() -> set[str]:
    found: set[str] = set()
    for household in HOUSEHOLDS:
        found |= {household["kk"], household["head_name"], household["address"]["street"]}
        for member in household["members"]:
            found |= {member["nik"], member["name"], *member["name"].split()}
    return found


class Api:
    def __init__(self, http: httpx.AsyncClient, keys: KeySet, services: dict[str, Service]):
        self.http, self.keys, self.services = http, keys, services

    async def call(
        self, method: str, service: str, path: str, agency: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        reply = await self.http.request(
            method,
            self.services[service].url + path,
            json=body,
            headers=self.keys.bearer(self.keys.agencies[agency]),
        )
        assert reply.status_code in (200, 201), f"{method} {path}: {reply.text}"
        result: dict[str, Any] = reply.json()
        return result

    async def once_known(self, path: str, agency: str, body: dict[str, Any]) -> dict[str, Any]:
        """Interventions learns of enrolments through Kafka: retry while it has not yet (a
        problem with Retry-After)."""
        async with asyncio.timeout(30):
            while True:
                reply = await self.http.post(
                    self.services["interventions"].url + path,
                    json=body,
                    headers=self.keys.bearer(self.keys.agencies[agency]),
                )
                if "retry-after" not in reply.headers:
                    break
                await asyncio.sleep(0.3)
        assert reply.status_code == 201, reply.text
        result: dict[str, Any] = reply.json()
        return result


async def publish_intake(settings: CommonSettings, household_id: str) -> None:
    """An agency's own system (Cooperatives) reports a business survey on its intake topic:
    with Kafka's own console producer, logged in as the agency's principal (SASL_SSL, its ACLs)
    from the client settings the stack hands the agency."""
    event_id = str(uuid.uuid4())
    headers = {
        "ce_id": event_id,
        "ce_source": "/gayari/agencies/dkukmpp",
        "ce_type": "gayari.intake.business-survey.v1",
        "ce_specversion": "1.0",
        "ce_time": datetime.now(UTC).isoformat(),
        "ce_subject": household_id,
        "ce_correlationid": f"intake-{event_id}",
        "content-type": "application/json",
    }
    body = {
        "household_id": household_id,
        "agency": "dkukmpp",
        "surveyed_on": TODAY.isoformat(),
        "monthly_income_idr": 2_750_000,
        "workers": 2,
    }
    properties = kafka_console.client_properties(principals.agency_user("dkukmpp"))
    sent = await asyncio.to_thread(
        kafka_console.produce,
        properties,
        settings.intake_topic("dkukmpp"),
        [(household_id, json.dumps(body), headers)],
    )
    assert sent.returncode == 0, sent.stdout[-2000:] + sent.stderr[-2000:]


async def test_every_event_type_flows_and_no_personal_data_reaches_kafka(
    services: dict[str, Service], api_keys: KeySet, isolated_settings: CommonSettings
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        api = Api(http, api_keys, services)
        ids = []
        for body in HOUSEHOLDS:
            household = await api.call("POST", "registry", "/households", "dinsos", body)
            ids.append(household["id"])
            await api.call(
                "POST",
                "registry",
                f"/households/{household['id']}/enrolment",
                "dinsos",
                {"cohort_year": TODAY.year},
            )
        first, second = ids
        await api.call("PATCH", "registry", f"/households/{first}", "dinsos", {"welfare_decile": 2})
        members = (
            await http.get(
                f"{services['registry'].url}/households/{first}",
                headers=api_keys.bearer(api_keys.agencies["dinsos"]),
            )
        ).json()["members"]

        capital = await api.once_known(
            "/grants",
            "dinsos",
            {
                "household_id": first,
                "kind": "capital",
                "amount_idr": 2_000_000,
                "purpose": "Modal warung sembako",
            },
        )
        await api.once_known(
            "/grants",
            "distakan",
            {
                "household_id": first,
                "kind": "equipment",
                "purpose": "Keramba ikan nila",
                "items": [
                    {
                        "description": "Bibit ikan nila",
                        "quantity": 2000,
                        "unit": "ekor",
                        "unit_value_idr": 400,
                    }
                ],
            },
        )
        session = await api.call(
            "POST",
            "interventions",
            "/training-sessions",
            "dispar",
            {
                "topic": "Pengelolaan homestay",
                "starts_on": (TODAY - timedelta(days=3)).isoformat(),
                "ends_on": TODAY.isoformat(),
                "hours": 16,
                "place": "Balai Desa",
            },
        )
        participant = {
            "session_id": session["id"],
            "household_id": first,
            "member_id": members[1]["member_id"],
        }
        await api.once_known("/training-participants", "dispar", participant)
        await api.call(
            "POST",
            "interventions",
            "/training-attendance",
            "dispar",
            {**participant, "attended_on": TODAY.isoformat()},  # it joined today
        )
        await api.call(
            "POST",
            "interventions",
            "/training-completions",
            "dispar",
            {**participant, "completed_on": TODAY.isoformat()},
        )
        await api.call(
            "POST",
            "interventions",
            "/mentoring-visits",
            "dkukmpp",
            {
                "household_id": first,
                "visited_on": TODAY.isoformat(),
                "business_status": "running",
                "notes": "Ibu Theresia Anggraini sudah berjualan setiap pagi",
            },
        )
        await api.call(
            "POST",
            "interventions",
            "/business-surveys",
            "dkukmpp",
            {
                "household_id": first,
                "surveyed_on": TODAY.isoformat(),
                "monthly_income_idr": 1_500_000,
                "workers": 1,
            },
        )
        await api.call(
            "POST",
            "interventions",
            "/budget-allocations",
            "distakan",
            {"fiscal_year": TODAY.year, "amount_idr": 500_000_000, "budget_line": "5.1.05"},
        )
        await api.call(
            "POST",
            "interventions",
            "/voids",
            "dinsos",
            {
                "intervention_type": "grant",
                "intervention_id": capital["id"],
                "reason": "other",
                "explanation": "Salah input oleh petugas Bonifasius",
            },
        )
        await publish_intake(isolated_settings, first)
        await api.call(
            "POST", "registry", f"/households/{second}/exit", "dinsos", {"reason": "graduated"}
        )

        reader = api_keys.bearer(api_keys.reporting)
        async with asyncio.timeout(30):
            while True:
                progress = (
                    await http.get(f"{services['reporting'].url}/progress", headers=reader)
                ).json()
                if progress["trainings_completed"] == 1 and progress["households_registered"] == 2:
                    break
                await asyncio.sleep(0.3)
        # The voided capital grant no longer counts; the equipment grant does.
        async with asyncio.timeout(30):
            while (await http.get(f"{services['reporting'].url}/progress", headers=reader)).json()[
                "grants"
            ] != {"count": 1, "total_idr": 800_000}:
                await asyncio.sleep(0.3)

    expected_types = {model.TYPE for model in current(CATALOGUE.values())}
    async with asyncio.timeout(60):
        while True:
            records = [
                r
                for spec in domain_topics(isolated_settings)
                for r in await read_all(isolated_settings.kafka_connection(), spec.name)
            ]
            seen = {dict(r.headers).get("ce_type", b"").decode() for r in records}
            if expected_types <= seen:
                break
            await asyncio.sleep(0.5)
    assert expected_types <= seen, f"never published: {sorted(expected_types - seen)}"
    assert not [r for r in records if r.topic == isolated_settings.deadletter_topic]

    personal = personal_strings()
    leaks = []
    for record in records:
        texts = [record.key or b"", record.value or b"", *(v for _, v in record.headers)]
        blob = b"\n".join(texts).decode(errors="replace").lower()
        leaks += [(record.topic, record.offset, s) for s in personal if s.lower() in blob]
    assert leaks == [], f"personal data on Kafka: {leaks[:5]}"
    assert len(records) >= len(expected_types)
