"""The registry's and interventions' HTTP APIs in-process, on the real database and Kafka:
bad input is a 422 problem naming the field, and nothing is written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet

pytestmark = pytest.mark.stack


def household(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kk": f"620903{uuid.uuid4().int % 10**10:010d}",
        "head_name": "Yohanes Riwut",
        "village_code": "62.09.03.2001",
        "welfare_decile": 2,
        "members": [
            {
                "name": "Yohanes Riwut",
                "nik": "6209031203800001",
                "sex": "M",
                "birth_date": "1980-03-12",
                "relationship": "head",
            }
        ],
    }
    body.update(overrides)
    return body


async def _client(app: FastAPI, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            yield client


@pytest.fixture
async def registry_db(databases: DatabaseFactory) -> str:
    return await databases.create("registry", migrated="registry")


@pytest.fixture
async def registry(
    registry_db: str, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    app = registry_app(isolated_settings, RegistrySettings(database_url=registry_db))
    async for client in _client(app, api_keys.agencies["dinsos"]):
        yield client


async def _written(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM households"),
            await conn.fetchval("SELECT count(*) FROM outbox"),
        )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (household(kk="12345"), "kk"),
        (household(kk="62090312345678AB"), "kk"),
        (household(village_code="62.09.03.9999"), "village_code"),
        (household(village_code="banjar"), "village_code"),
        (household(welfare_decile=0), "welfare_decile"),
        (household(welfare_decile=11), "welfare_decile"),
        ({k: v for k, v in household().items() if k != "head_name"}, "head_name"),
        (household(members=[]), "members"),
        (
            household(
                members=[
                    {
                        "name": "X",
                        "nik": "1",
                        "sex": "M",
                        "birth_date": "1990-01-01",
                        "relationship": "head",
                    }
                ]
            ),
            "members.0.nik",
        ),
    ],
)
async def test_invalid_household_is_a_problem_naming_the_field(
    registry: httpx.AsyncClient, registry_db: str, body: dict[str, Any], field: str
) -> None:
    reply = await registry.post("/households", json=body)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    assert field in problem["detail"]
    assert await _written(registry_db) == (0, 0)


async def test_invalid_json_is_a_problem(registry: httpx.AsyncClient, registry_db: str) -> None:
    reply = await registry.post(
        "/households", content=b'{"kk": ', headers={"content-type": "application/json"}
    )
    # 400, not 422: the body is no JSON at all, there is no field to name but where it breaks.
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    assert "line 1, column 8" in reply.json()["detail"]
    assert "Traceback" not in reply.text
    assert await _written(registry_db) == (0, 0)


async def test_same_kk_twice_returns_the_existing_household(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    body = household()
    first = await registry.post("/households", json=body, headers={"x-correlation-id": "c-77"})
    second = await registry.post("/households", json={**body, "head_name": "Someone Else"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["head_name"] == "Yohanes Riwut"
    assert first.headers["x-correlation-id"] == "c-77"
    assert await _written(registry_db) == (1, 1)
    fetched = await registry.get(f"/households/{first.json()['id']}")
    assert fetched.status_code == 200 and fetched.json()["kk"] == body["kk"]
    missing = await registry.get(f"/households/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def interventions(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    url = await databases.create("interventions", migrated="interventions")
    app = interventions_app(isolated_settings, InterventionsSettings(database_url=url))
    async for client in _client(app, api_keys.agencies["dinsos"]):
        yield client, url


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "capital", "amount_idr": -5}, "amount_idr"),
        ({"kind": "capital", "amount_idr": 0}, "amount_idr"),
        ({"kind": "loan", "amount_idr": 100}, "kind"),
        ({"kind": "capital"}, "amount_idr"),
        ({"kind": "capital", "amount_idr": 100, "purpose": ""}, "purpose"),
        ({"agency": "dishub", "kind": "capital", "amount_idr": 100}, "agency"),  # not in a body
    ],
)
async def test_invalid_grant_is_a_problem_naming_the_field(
    interventions: tuple[httpx.AsyncClient, str], body: dict[str, Any], field: str
) -> None:
    client, url = interventions
    reply = await client.post(
        "/grants",
        json={"household_id": str(uuid.uuid4()), "purpose": "Modal usaha", **body},
    )
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in reply.json()["errors"]]
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM grants") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()


async def test_health_endpoints(registry: httpx.AsyncClient) -> None:
    assert (await registry.get("/health/live")).status_code == 200
    ready = await registry.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "up", "schema": "up", "kafka": "up"}


async def test_requests_without_a_valid_key_are_refused(
    registry: httpx.AsyncClient, registry_db: str, api_keys: KeySet
) -> None:
    anonymous = await registry.post("/households", json=household(), headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.headers["content-type"] == "application/problem+json"
    forged = api_keys.agencies["dinsos"][:-4] + "AAAA"
    assert (
        await registry.post("/households", json=household(), headers=api_keys.bearer(forged))
    ).status_code == 401
    assert (
        await registry.post("/households", json=household(), headers=api_keys.bearer("nonsense"))
    ).status_code == 401
    assert await _written(registry_db) == (0, 0)


async def test_only_social_affairs_and_administrators_write_the_register(
    registry: httpx.AsyncClient, registry_db: str, api_keys: KeySet
) -> None:
    tourism = await registry.post(
        "/households", json=household(), headers=api_keys.bearer(api_keys.agencies["dispar"])
    )
    assert tourism.status_code == 403
    assert "registry:write" in tourism.json()["detail"]
    admin = await registry.post(
        "/households", json=household(), headers=api_keys.bearer(api_keys.admin)
    )
    assert admin.status_code == 201
    assert await _written(registry_db) == (1, 1)


async def test_a_revoked_key_stops_working_at_once(
    registry: httpx.AsyncClient, api_keys: KeySet
) -> None:
    rotated_out = api_keys.agencies["dinsos"]
    first = await registry.post("/households", json=household())
    assert first.status_code == 201
    # Rotation: a new key for the same agency, then the old one revoked.
    successor, record = issue_key(
        "dinsos (rotated)", {Role.REGISTRY_WRITE, Role.REGISTRY_READ}, agency="dinsos"
    )
    KeyFile(api_keys.path).add(record)
    KeyFile(api_keys.path).revoke(rotated_out.split("_")[1])
    again = await registry.post("/households", json=household())
    assert again.status_code == 401
    assert "revoked" in again.json()["detail"]
    # Nothing recorded under the old key is lost, and the agency goes on with the new one.
    kept = await registry.get(
        f"/households/{first.json()['id']}", headers=api_keys.bearer(successor)
    )
    assert kept.status_code == 200 and kept.json()["kk"] == first.json()["kk"]
    another = household(
        members=[
            {
                "name": "Yohanes Riwut",
                "nik": "6209031203800002",
                "sex": "M",
                "birth_date": "1980-03-12",
                "relationship": "head",
            }
        ]
    )
    reply = await registry.post("/households", json=another, headers=api_keys.bearer(successor))
    assert reply.status_code == 201, reply.text


async def test_an_administrator_key_cannot_act_as_an_agency(
    interventions: tuple[httpx.AsyncClient, str], api_keys: KeySet
) -> None:
    client, _ = interventions
    reply = await client.post(
        "/grants",
        json={
            "household_id": str(uuid.uuid4()),
            "kind": "capital",
            "amount_idr": 100,
            "purpose": "Modal usaha",
        },
        headers=api_keys.bearer(api_keys.admin),
    )
    assert reply.status_code == 403
    assert "no agency" in reply.json()["detail"]


async def test_a_key_of_an_agency_not_configured_is_forbidden(
    interventions: tuple[httpx.AsyncClient, str], api_keys: KeySet
) -> None:
    client, url = interventions
    key, record = issue_key("retired agency", {Role.INTERVENTIONS_WRITE}, agency="dishub")
    KeyFile(api_keys.path).add(record)
    reply = await client.post(
        "/grants",
        json={
            "household_id": str(uuid.uuid4()),
            "kind": "capital",
            "amount_idr": 100,
            "purpose": "Modal usaha",
        },
        headers=api_keys.bearer(key),
    )
    assert reply.status_code == 403, reply.text
    assert "dishub" in reply.json()["detail"]
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()
