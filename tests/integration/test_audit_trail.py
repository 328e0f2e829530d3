"""The audit trail of personal data on the real PostgreSQL (and Kafka, for the services'
start-up): every read of a household and every write is recorded with the key, the agency, the
households and the correlation id; the log is append-only for the service's own connection; a
write rolled back leaves no row; administrators page through it; an expired key is refused;
the request's log line names the key id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import structlog

from gayari_interventions.bootstrap import create_app as create_interventions
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as create_registry
from gayari_registry.settings import RegistrySettings
from gayari_shared.audit import Actor, act_as, reset_actor, write_row
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.events.contracts import GrantIssuedV2
from gayari_shared.events.factory import envelope_for
from gayari_shared.outbox import add_to_outbox
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_registry_lifecycle import household

pytestmark = pytest.mark.stack


def key_id(key: str) -> str:
    return key.split("_")[1]


@dataclass
class Service:
    http: httpx.AsyncClient
    url: str
    keys: KeySet

    def as_(self, key: str, correlation_id: str | None = None) -> dict[str, str]:
        headers = self.keys.bearer(key)
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        return headers

    async def rows(self) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.url)
        try:
            return [dict(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY id")]
        finally:
            await conn.close()


async def serve(app: Any, url: str, keys: KeySet) -> AsyncIterator[Service]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Service(http, url, keys)


@pytest.fixture
async def registry(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Service]:
    url = await databases.create("registry", migrated="registry")
    app = create_registry(isolated_settings, RegistrySettings(database_url=url))
    async for service in serve(app, url, api_keys):
        yield service


@pytest.fixture
async def interventions(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Service]:
    url = await databases.create("interventions", migrated="interventions")
    app = create_interventions(isolated_settings, InterventionsSettings(database_url=url))
    async for service in serve(app, url, api_keys):
        yield service


async def test_registry_reads_and_writes_name_key_agency_households_and_request(
    registry: Service,
) -> None:
    dinsos = registry.keys.agencies["dinsos"]
    dispar = registry.keys.agencies["dispar"]
    created = await registry.http.post(
        "/households", json=household(1), headers=registry.as_(dinsos, "reg-1")
    )
    assert created.status_code == 201, created.text
    first = uuid.UUID(created.json()["id"])
    enrolled = await registry.http.post(
        f"/households/{first}/enrolment",
        json={"cohort_year": 2026},
        headers=registry.as_(dinsos, "enrol-1"),
    )
    assert enrolled.status_code == 201, enrolled.text
    read = await registry.http.get(f"/households/{first}", headers=registry.as_(dispar, "read-1"))
    assert read.status_code == 200
    again = await registry.http.post(
        "/households", json=household(1), headers=registry.as_(dinsos, "reg-again")
    )
    assert again.status_code == 200  # a known KK: the household handed back is a read
    # A near-duplicate: the same head, birth date and village under another KK.
    twin = household(2, members=[{**household(1)["members"][0], "nik": "6209014501809999"}])
    second = await registry.http.post(
        "/households", json=twin, headers=registry.as_(dinsos, "reg-2")
    )
    assert second.status_code == 201, second.text
    twin_id = uuid.UUID(second.json()["id"])
    review = await registry.http.get(
        "/households/review/near-duplicates", headers=registry.as_(dispar, "review-1")
    )
    assert len(review.json()["groups"]) == 1
    missing = await registry.http.get(f"/households/{uuid.uuid4()}", headers=registry.as_(dispar))
    assert missing.status_code == 404  # nothing read: nothing recorded
    refused = await registry.http.post(
        "/households", json=household(3, welfare_decile=11), headers=registry.as_(dinsos)
    )
    assert refused.status_code == 422  # nothing written: nothing recorded

    rows = await registry.rows()
    seen = [
        (r["key_id"], r["agency"], r["access"], r["operation"], r["household_ids"]) for r in rows
    ]
    assert seen == [
        (key_id(dinsos), "dinsos", "write", "gayari.household.registered.v1", [first]),
        (key_id(dinsos), "dinsos", "write", "gayari.household.enrolled.v1", [first]),
        (key_id(dispar), "dispar", "read", "read:household", [first]),
        (key_id(dinsos), "dinsos", "read", "read:household", [first]),
        (key_id(dinsos), "dinsos", "write", "gayari.household.registered.v1", [twin_id]),
        (key_id(dispar), "dispar", "read", "read:near-duplicates", [first, twin_id]),
    ]
    assert [r["correlation_id"] for r in rows] == [
        "reg-1",
        "enrol-1",
        "read-1",
        "reg-again",
        "reg-2",
        "review-1",
    ]
    assert all(datetime.now(UTC) - r["at"] < timedelta(minutes=5) for r in rows)


async def test_administrators_page_and_filter_the_log_and_no_one_else_reads_it(
    registry: Service,
) -> None:
    dinsos, dispar, admin = (
        registry.keys.agencies["dinsos"],
        registry.keys.agencies["dispar"],
        registry.keys.admin,
    )
    ids = []
    for serial in range(1, 4):
        created = await registry.http.post(
            "/households", json=household(serial), headers=registry.as_(dinsos)
        )
        ids.append(created.json()["id"])
        await registry.http.get(f"/households/{ids[-1]}", headers=registry.as_(dispar))

    forbidden = await registry.http.get("/audit", headers=registry.as_(dinsos))
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    unknown = await registry.http.get("/audit", params={"who": "x"}, headers=registry.as_(admin))
    assert unknown.status_code == 422 and "who" in unknown.text
    for bad in (
        {"since": "2026-01-01T00:00:00"},  # no offset: which hour would it be?
        {"operation": "read:\x00"},
        {"agency": "Dinas Sosial"},
        {"after": str(2**63)},
        {"limit": "0"},
    ):
        refused = await registry.http.get("/audit", params=bad, headers=registry.as_(admin))
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"

    pages, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = (
            await registry.http.get("/audit", params=params, headers=registry.as_(admin))
        ).json()
        pages.append(page["records"])
        after = page["next"]
        if after is None:
            break
    every = [r for page in pages for r in page]
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    assert [r["id"] for r in every] == sorted((r["id"] for r in every), reverse=True)
    assert len({r["id"] for r in every}) == 6

    async def matching(**params: Any) -> list[dict[str, Any]]:
        response = await registry.http.get("/audit", params=params, headers=registry.as_(admin))
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    one = await matching(household_id=ids[1])
    assert [(r["access"], r["agency"]) for r in one] == [("read", "dispar"), ("write", "dinsos")]
    assert len(await matching(key_id=key_id(dispar))) == 3
    assert len(await matching(agency="dinsos", operation="gayari.household.registered.v1")) == 3
    assert len(await matching(access="read", household_id=ids[0])) == 1
    now = datetime.now(UTC)
    assert len(await matching(since=(now - timedelta(minutes=5)).isoformat())) == 6
    assert await matching(until=(now - timedelta(minutes=5)).isoformat()) == []


async def test_the_log_is_append_only_for_the_services_own_connection(
    registry: Service,
) -> None:
    created = await registry.http.post(
        "/households", json=household(1), headers=registry.as_(registry.keys.agencies["dinsos"])
    )
    assert created.status_code == 201
    conn = await asyncpg.connect(registry.url)  # the service's own database URL and role
    try:
        for statement in (
            "UPDATE audit_log SET agency = 'someone else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "UPDATE audit_log SET agency = 'x' WHERE false",  # refused even when it matches none
        ):
            with pytest.raises(
                asyncpg.InsufficientPrivilegeError, match=r"append-only|permission denied"
            ):
                await conn.execute(statement)
        # Privileges given back (the owner may, and a superuser ignores them): the trigger
        # still refuses.
        await conn.execute("GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO CURRENT_USER")
        for statement in ("UPDATE audit_log SET agency = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
        assert await conn.fetchval("SELECT agency FROM audit_log") == "dinsos"
    finally:
        await conn.close()


async def test_a_rolled_back_write_leaves_no_audit_row_and_a_committed_one_has_one(
    databases: DatabaseFactory,
) -> None:
    pool = await create_pool(await databases.create("audit-tx", migrated="registry"))
    try:
        household_id = uuid.uuid4()

        def envelope() -> Any:
            grant = GrantIssuedV2(
                grant_id=uuid.uuid4(),
                household_id=household_id,
                agency="dispar",
                kind="capital",
                amount_idr=1_000_000,
                purpose="Modal warung",
                fiscal_year=2026,
                issued_at=datetime.now(UTC),
            )
            return envelope_for(grant, source="/gayari/agencies/dispar", correlation_id="tx")

        token = act_as(Actor("abcdefabcdef", "dispar"))
        try:
            async with pool.acquire() as conn:
                with pytest.raises(RuntimeError):
                    async with conn.transaction():
                        rolled_back = envelope()
                        await add_to_outbox(conn, rolled_back, "t", audit=write_row(rolled_back))
                        raise RuntimeError("the use case fails after staging its event")
                async with conn.transaction():
                    committed = envelope()
                    await add_to_outbox(conn, committed, "t", audit=write_row(committed))
                rows = await conn.fetch("SELECT * FROM audit_log")
                staged = await conn.fetchval("SELECT count(*) FROM outbox")
        finally:
            reset_actor(token)
        assert staged == 1
        assert [
            (r["key_id"], r["agency"], r["operation"], r["household_ids"], r["correlation_id"])
            for r in rows
        ] == [("abcdefabcdef", "dispar", "gayari.grant.issued.v2", [household_id], "tx")]
    finally:
        await pool.close()


async def test_interventions_writes_are_recorded_with_the_agency_in_the_same_statement(
    interventions: Service,
) -> None:
    household_id = uuid.uuid4()
    conn = await asyncpg.connect(interventions.url)
    try:
        await conn.execute(
            """INSERT INTO known_households (household_id, village_code, welfare_decile,
                   registered_at, enrolled_at) VALUES ($1, '62.09.01.2001', 2, $2, $2)""",
            household_id,
            datetime.now(UTC) - timedelta(days=30),
        )
    finally:
        await conn.close()
    dispar = interventions.keys.agencies["dispar"]
    grant = await interventions.http.post(
        "/grants",
        json={
            "household_id": str(household_id),
            "kind": "capital",
            "amount_idr": 1_500_000,
            "purpose": "Modal homestay",
        },
        headers=interventions.as_(dispar, "grant-1"),
    )
    assert grant.status_code == 201, grant.text
    budget = await interventions.http.post(
        "/budget-allocations",
        json={"fiscal_year": 2026, "amount_idr": 100_000_000},
        headers=interventions.as_(dispar, "budget-1"),
    )
    assert budget.status_code == 201, budget.text
    unknown = await interventions.http.post(
        "/grants",
        json={
            "household_id": str(uuid.uuid4()),
            "kind": "capital",
            "amount_idr": 1,
            "purpose": "x",
        },
        headers=interventions.as_(dispar),
    )
    assert unknown.status_code in (404, 409, 422)  # refused: nothing written, nothing recorded

    # Reading records back: those naming a household are reads of it; budgets name none.
    listed = await interventions.http.get("/grants", headers=interventions.as_(dispar, "list-1"))
    assert [g["household_id"] for g in listed.json()["items"]] == [str(household_id)]
    one = await interventions.http.get(
        f"/grants/{grant.json()['id']}", headers=interventions.as_(dispar, "one-1")
    )
    assert one.status_code == 200, one.text
    budgets = await interventions.http.get("/budget-allocations", headers=interventions.as_(dispar))
    assert len(budgets.json()["items"]) == 1

    rows = await interventions.rows()
    assert [
        (r["key_id"], r["agency"], r["access"], r["operation"], r["household_ids"]) for r in rows
    ] == [
        (key_id(dispar), "dispar", "write", "gayari.grant.issued.v2", [household_id]),
        (key_id(dispar), "dispar", "write", "gayari.budget.allocated.v1", []),
        (key_id(dispar), "dispar", "read", "read:grant", [household_id]),
        (key_id(dispar), "dispar", "read", "read:grant", [household_id]),
    ]
    assert [r["correlation_id"] for r in rows] == ["grant-1", "budget-1", "list-1", "one-1"]
    page = await interventions.http.get(
        "/audit",
        params={"household_id": str(household_id)},
        headers=interventions.as_(interventions.keys.admin),
    )
    assert [r["operation"] for r in page.json()["records"]] == [
        "read:grant",
        "read:grant",
        "gayari.grant.issued.v2",
    ]


async def test_an_expired_key_is_refused_saying_so(registry: Service) -> None:
    keys = KeyFile(registry.keys.path)
    expired, record = issue_key(
        "last year's reader",
        {Role.REGISTRY_READ},
        agency="dispar",
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    keys.add(record)
    valid, record = issue_key(
        "this year's reader",
        {Role.REGISTRY_READ},
        agency="dispar",
        expires_at=datetime.now(UTC) + timedelta(days=365),
    )
    keys.add(record)
    path = "/households/review/near-duplicates"
    refused = await registry.http.get(path, headers=registry.as_(expired))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:gayari:problem:key-expired"
    assert "expired" in refused.json()["detail"] and key_id(expired) in refused.json()["detail"]
    assert (await registry.http.get(path, headers=registry.as_(valid))).status_code == 200
    wrong_secret = f"gyr_{key_id(expired)}_not-its-secret"
    unknown = await registry.http.get(path, headers=registry.as_(wrong_secret))
    assert unknown.status_code == 401 and "expired" not in unknown.json()["detail"]


async def test_each_request_logs_one_line_with_its_key_id_never_the_key(
    registry: Service,
) -> None:
    dispar = registry.keys.agencies["dispar"]
    with structlog.testing.capture_logs() as lines:
        await registry.http.get(
            "/households/review/near-duplicates", headers=registry.as_(dispar, "logged-1")
        )
        await registry.http.get("/health/live")
    requests = [line for line in lines if line["event"] == "request"]
    assert [(r["path"], r["status"], r["key_id"]) for r in requests] == [
        ("/households/review/near-duplicates", 200, key_id(dispar)),
        ("/health/live", 200, None),
    ]
    assert requests[0]["method"] == "GET" and requests[0]["duration_ms"] >= 0
    assert all(dispar not in repr(line) for line in lines)


async def test_a_replayed_response_is_a_read_of_the_household_it_holds(registry: Service) -> None:
    dinsos = registry.keys.agencies["dinsos"]
    headers = {**registry.as_(dinsos, "first"), "Idempotency-Key": "audit-replay-1"}
    first = await registry.http.post("/households", json=household(7), headers=headers)
    assert first.status_code == 201, first.text
    headers["X-Correlation-ID"] = "again"
    again = await registry.http.post("/households", json=household(7), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    rows = await registry.rows()
    assert [(r["access"], r["operation"], r["correlation_id"], r["key_id"]) for r in rows] == [
        ("write", "gayari.household.registered.v1", "first", key_id(dinsos)),
        ("read", "read:replay", "again", key_id(dinsos)),
    ]
    assert rows[1]["household_ids"] == [uuid.UUID(first.json()["id"])]
