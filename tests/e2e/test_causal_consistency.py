"""A client's own writes are causal across services, on the running registry and interventions.

An agency system enrols a household at the registry and records a grant at once; interventions
learns the enrolment through Kafka some milliseconds later. The grant must never get a final
refusal for a household the registry has enrolled: with the household's version (the
registry's ETag, sent as Gayari-Household-Version) interventions waits for its own view to
reach it, and without one a household it does not know yet is a retryable problem. After an
exit, a grant carrying the exit's version is refused.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.processes import Service, running_services

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

TRIES = 100
VERSION_HEADER = "Gayari-Household-Version"
RETRYABLE = {409, 503}
ARTIFACT = Path("artifacts/causal_consistency.json")


@pytest.fixture
async def services(
    databases: DatabaseFactory, isolated_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[dict[str, Service]]:
    async for running in running_services(
        databases, isolated_settings, tmp_path, names=("registry", "interventions")
    ):
        yield running


def _application() -> dict[str, object]:
    """A household of one, its head's NIK consistent with her birth date (a woman: day + 40)."""
    day, month, year = random.randint(1, 28), random.randint(1, 12), random.randint(60, 99)
    nik = f"620901{day + 40:02d}{month:02d}{year:02d}{random.randint(1, 9999):04d}"
    return {
        "kk": f"6209{random.randint(0, 10**12 - 1):012d}",
        "head_name": "Sari Ningsih",
        "village_code": "62.09.01.2003",
        "welfare_decile": 2,
        "members": [
            {
                "name": "Sari Ningsih",
                "nik": nik,
                "sex": "F",
                "birth_date": f"19{year:02d}-{month:02d}-{day:02d}",
                "relationship": "head",
            }
        ],
    }


def _grant(household_id: str) -> dict[str, object]:
    return {
        "household_id": household_id,
        "kind": "capital",
        "amount_idr": 2_500_000,
        "purpose": "Modal usaha warung sembako",
    }


@dataclass
class Client:
    """An agency system: the registry's and interventions' URLs and its keys."""

    http: httpx.AsyncClient
    registry: str
    interventions: str
    dinsos: dict[str, str]
    distakan: dict[str, str]

    async def enrolled_household(self) -> tuple[str, str]:
        """A new household, enrolled: its id and the ETag of the enrolment."""
        reply = await self.http.post(
            f"{self.registry}/households", headers=self.dinsos, json=_application()
        )
        assert reply.status_code == 201, reply.text
        household_id = reply.json()["id"]
        reply = await self.http.post(
            f"{self.registry}/households/{household_id}/enrolment",
            headers=self.dinsos,
            json={"cohort_year": 2026},
        )
        assert reply.status_code == 201, reply.text
        return household_id, reply.headers["etag"]

    async def grant(self, household_id: str, version: str | None) -> httpx.Response:
        headers = dict(self.distakan)
        if version is not None:
            headers[VERSION_HEADER] = version
        return await self.http.post(
            f"{self.interventions}/grants", headers=headers, json=_grant(household_id)
        )

    async def grant_until_settled(self, household_id: str, version: str | None) -> str:
        """The grant, retried as its problem says; how it went: "accepted first time",
        "retried" (then accepted) or "refused" (a final answer other than 201)."""
        retried = False
        async with asyncio.timeout(30):
            while True:
                reply = await self.grant(household_id, version)
                if reply.status_code == 201:
                    return "retried" if retried else "accepted first time"
                if reply.status_code not in RETRYABLE:
                    return "refused"
                assert reply.headers["content-type"] == "application/problem+json"
                assert "retry-after" in reply.headers, reply.text
                retried = True
                # Retry-After is in whole seconds; a client may retry sooner, as this one does
                # to keep the test short.
                await asyncio.sleep(0.1)


@pytest.fixture
async def client(services: dict[str, Service], api_keys: KeySet) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(timeout=15) as http:
        yield Client(
            http,
            services["registry"].url,
            services["interventions"].url,
            api_keys.bearer(api_keys.agencies["dinsos"]),
            api_keys.bearer(api_keys.agencies["distakan"]),
        )


async def _enrol_then_grant(
    client: Client, *, with_version: bool
) -> tuple[Counter[str], list[int]]:
    """How each try went, and which tries were retried (0 is the first)."""
    outcomes: Counter[str] = Counter()
    retried: list[int] = []
    for attempt in range(TRIES):
        household_id, etag = await client.enrolled_household()
        outcome = await client.grant_until_settled(household_id, etag if with_version else None)
        outcomes[outcome] += 1
        if outcome == "retried":
            retried.append(attempt)
    return outcomes, retried


def _report(name: str, outcomes: Counter[str], retried: list[int]) -> None:
    figures = {
        "tries": TRIES,
        "accepted first time": outcomes["accepted first time"],
        "retried": outcomes["retried"],
        "refused": outcomes["refused"],
        "retried tries": retried if len(retried) <= 10 else f"{len(retried)} tries",
    }
    ARTIFACT.parent.mkdir(exist_ok=True)
    with ARTIFACT.open("a") as out:
        out.write(json.dumps({"case": name, **figures}) + "\n")
    print(name, figures)


async def test_enrol_then_grant_at_once_is_never_refused(client: Client) -> None:
    with_version, retried = await _enrol_then_grant(client, with_version=True)
    _report("enrol then grant, with the enrolment's version", with_version, retried)
    without_version, retried = await _enrol_then_grant(client, with_version=False)
    _report("enrol then grant, without a version", without_version, retried)
    assert with_version["refused"] == 0, with_version
    assert without_version["refused"] == 0, without_version
    assert sum(with_version.values()) == sum(without_version.values()) == TRIES
    # With its version, interventions waits for its view: a retry is the exception.
    assert with_version["accepted first time"] >= TRIES * 0.9, with_version


async def test_a_grant_with_the_exits_version_is_refused(client: Client) -> None:
    for _ in range(10):
        household_id, etag = await client.enrolled_household()
        reply = await client.http.post(
            f"{client.registry}/households/{household_id}/exit",
            headers=client.dinsos,
            json={"reason": "graduated"},
        )
        assert reply.status_code == 200, reply.text
        exit_etag = reply.headers["etag"]
        assert exit_etag != etag
        refused = await client.grant(household_id, exit_etag)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "exited" in refused.json()["detail"]
        # The enrolment's older version does not undo what interventions knows now.
        assert (await client.grant(household_id, etag)).status_code == 422
