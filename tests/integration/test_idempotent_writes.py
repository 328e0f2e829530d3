"""Idempotency-Key on the write APIs (registry and interventions, in-process, on the real
database and Kafka): a retry with the key is answered from the first response and writes and
publishes nothing; the key is scoped to the caller's agency, not to its API key; a request in
flight holds its key only as long as its transaction."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from gayari_registry.bootstrap import create_app as create_registry
from gayari_registry.settings import RegistrySettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.http.idempotency import fingerprint
from gayari_shared.idempotency import AlreadyStoredError, IdempotencyStore, sweeping
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_interventions_api import Interventions, known, life, running
from tests.integration.test_registry_lifecycle import household, run_app, written

pytestmark = pytest.mark.stack


@pytest.fixture
async def service(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Interventions]:
    url = await databases.create("interventions", migrated="interventions")
    async for running_service in running(isolated_settings, url, api_keys.agencies):
        yield running_service


def grant_for(household_id: uuid.UUID, amount: int = 2_500_000) -> dict[str, Any]:
    return {
        "household_id": str(household_id),
        "kind": "capital",
        "amount_idr": amount,
        "purpose": "Modal warung sembako",
    }


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


async def post_with_key(
    service: Interventions, api_key: str, path: str, body: dict[str, Any], key: str
) -> httpx.Response:
    return await service.http.post(
        path,
        json=body,
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key},
    )


async def stored_keys(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM idempotency_keys"))
    finally:
        await conn.close()


async def conn_execute(url: str, query: str, *args: Any) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def test_a_retried_grant_with_its_key_is_recorded_once(service: Interventions) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key, distakan = new_key(), service.keys["distakan"]
    first = await post_with_key(service, distakan, "/grants", grant_for(household_id), key)
    retry = await post_with_key(service, distakan, "/grants", grant_for(household_id), key)
    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    counts = await service.counts()
    assert (counts["grants"], counts["outbox"]) == (1, 1)
    # The same body re-serialised (other key order, other spacing) is the same request.
    reordered = json.dumps(dict(reversed(list(grant_for(household_id).items()))), indent=2)
    again = await service.http.post(
        "/grants",
        content=reordered,
        headers={
            "Authorization": f"Bearer {distakan}",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        },
    )
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    # Without a key, a second request is a second grant, as before.
    plain = await service.post("distakan", "/grants", grant_for(household_id))
    assert plain.status_code == 201 and plain.json()["id"] != first.json()["id"]
    assert (await service.counts())["grants"] == 2


async def test_the_same_key_with_another_body_is_a_422_naming_the_header(
    service: Interventions,
) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key, distakan = new_key(), service.keys["distakan"]
    first = await post_with_key(service, distakan, "/grants", grant_for(household_id), key)
    assert first.status_code == 201, first.text
    other = await post_with_key(
        service, distakan, "/grants", grant_for(household_id, amount=3_000_000), key
    )
    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    elsewhere = await post_with_key(
        service,
        distakan,
        "/mentoring-visits",
        {
            "household_id": str(household_id),
            "visited_on": "2026-01-05",
            "business_status": "running",
        },
        key,
    )
    assert elsewhere.status_code == 422, elsewhere.text
    counts = await service.counts()
    assert (counts["grants"], counts["mentoring_visits"], counts["outbox"]) == (1, 0, 1)


MALFORMED = ('""', '"unterminated', "two words", '"' + "x" * 256 + '"', '"k";param=1', "caf\u00e9")


async def test_a_malformed_key_is_a_400_and_writes_nothing(service: Interventions) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    for value in MALFORMED:
        reply = await service.http.post(
            "/grants",
            json=grant_for(household_id),
            headers={
                b"Authorization": f"Bearer {service.keys['distakan']}".encode(),
                b"Idempotency-Key": value.encode(),
            },
        )
        assert reply.status_code == 400, (value, reply.text)
        assert reply.json()["errors"][0]["field"] == "Idempotency-Key"
    assert (await service.counts())["grants"] == 0


async def test_concurrent_duplicates_write_once(service: Interventions) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key, distakan = new_key(), service.keys["distakan"]
    replies = await asyncio.gather(
        *(
            post_with_key(service, distakan, "/grants", grant_for(household_id), key)
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in replies)
    assert set(statuses) <= {201, 409} and 201 in statuses, [r.text for r in replies]
    assert all(r.headers["Retry-After"] == "1" for r in replies if r.status_code == 409)
    assert len({r.json()["id"] for r in replies if r.status_code == 201}) == 1
    counts = await service.counts()
    assert (counts["grants"], counts["outbox"]) == (1, 1)


async def test_an_unquoted_uuid_is_taken_as_the_same_key_quoted(service: Interventions) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    bare, distakan = str(uuid.uuid4()), service.keys["distakan"]
    first = await post_with_key(service, distakan, "/grants", grant_for(household_id), bare)
    retry = await post_with_key(service, distakan, "/grants", grant_for(household_id), f'"{bare}"')
    assert first.status_code == retry.status_code == 201, first.text
    assert retry.json()["id"] == first.json()["id"]
    assert (await service.counts())["grants"] == 1


async def test_a_key_with_quotes_and_backslashes_is_kept_verbatim(service: Interventions) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    header = '"' + "it's a " + "\\\\" + ' \\"key\\"; DROP TABLE grants"'
    distakan = service.keys["distakan"]
    first = await post_with_key(service, distakan, "/grants", grant_for(household_id), header)
    retry = await post_with_key(service, distakan, "/grants", grant_for(household_id), header)
    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.json()["id"]) == (201, first.json()["id"])
    stored = await service.fetchval("SELECT key FROM idempotency_keys")
    assert stored == 'it\'s a \\ "key"; DROP TABLE grants'
    assert (await service.counts())["grants"] == 1


async def test_keys_are_scoped_to_the_agency_and_survive_a_key_rotation(
    service: Interventions, api_keys: KeySet
) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key = new_key()
    first = await post_with_key(
        service, service.keys["distakan"], "/grants", grant_for(household_id), key
    )
    assert first.status_code == 201, first.text
    # Distakan rotates its API key: the old one revoked, a new one issued.
    keys = KeyFile(api_keys.path)
    rotated, record = issue_key("distakan rotated", {Role.INTERVENTIONS_WRITE}, agency="distakan")
    keys.add(record)
    old_id = service.keys["distakan"].split("_")[1]
    assert keys.revoke(old_id)
    retry = await post_with_key(service, rotated, "/grants", grant_for(household_id), key)
    assert (retry.status_code, retry.json()["id"]) == (201, first.json()["id"])
    # Another agency's key of the same value is another key.
    theirs = await post_with_key(
        service, service.keys["dkukmpp"], "/grants", grant_for(household_id), key
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != first.json()["id"]
    assert theirs.json()["agency"] == "dkukmpp"
    assert (await service.counts())["grants"] == 2


async def store_uncommitted(
    pool: asyncpg.Pool, key: str, wanted: bytes
) -> tuple[asyncpg.pool.PoolConnectionProxy[Any], int]:
    """A request with the key that stored its response and has not committed (as a request
    whose backend is stuck between the two): its connection and its backend's pid."""
    conn = await pool.acquire()
    await conn.execute("BEGIN")
    await conn.execute(
        "SELECT idempotency_store($1, $2, $3, 201::smallint, '{}', '{}', '2s')",
        *("distakan", key, wanted),
    )
    return conn, conn.get_server_pid()


async def test_a_retry_while_the_first_is_in_flight_is_a_409_with_retry_after(
    service: Interventions,
) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key = str(uuid.uuid4())
    body = grant_for(household_id)
    pool = await asyncpg.create_pool(service.url, min_size=1, max_size=2)
    try:
        wanted = fingerprint("POST", "/grants", json.dumps(body).encode())
        conn, _ = await store_uncommitted(pool, key, wanted)
        retry = await post_with_key(service, service.keys["distakan"], "/grants", body, key)
        assert retry.status_code == 409, retry.text
        assert retry.headers["Retry-After"] == "1"
        assert retry.json()["errors"][0]["field"] == "Idempotency-Key"
        await conn.execute("ROLLBACK")
        await pool.release(conn)
        # Ended without a commit (a refusal, a crash): the key is free again.
        after = await post_with_key(service, service.keys["distakan"], "/grants", body, key)
        assert after.status_code == 201, after.text
    finally:
        await pool.close()
    counts = await service.counts()
    assert (counts["grants"], counts["outbox"]) == (1, 1)


async def test_a_retry_waiting_for_the_first_commit_gets_its_response(
    service: Interventions,
) -> None:
    """The first stored its response and commits while the retry waits on the key: the retry
    is answered from it, and what it wrote meanwhile is rolled back."""
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key = str(uuid.uuid4())
    body = grant_for(household_id)
    pool = await asyncpg.create_pool(service.url, min_size=1, max_size=2)
    try:
        wanted = fingerprint("POST", "/grants", json.dumps(body).encode())
        conn, _ = await store_uncommitted(pool, key, wanted)
        retry = asyncio.create_task(
            post_with_key(service, service.keys["distakan"], "/grants", body, key)
        )
        await asyncio.sleep(0.5)
        await conn.execute("COMMIT")
        await pool.release(conn)
        replied = await retry
    finally:
        await pool.close()
    assert replied.status_code == 201, replied.text
    assert replied.headers["Idempotent-Replayed"] == "true"
    counts = await service.counts()
    assert (counts["grants"], counts["outbox"]) == (0, 0)


async def test_a_connection_killed_mid_request_leaves_the_key_free(
    service: Interventions,
) -> None:
    """A process killed with -9 between storing its response and its commit: its backend
    ends, the transaction rolls back with the key's row; nothing pending is left behind."""
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    key = str(uuid.uuid4())
    pool = await asyncpg.create_pool(service.url, min_size=1, max_size=1)
    try:
        _, pid = await store_uncommitted(pool, key, b"x")
        async with asyncio.timeout(10):
            conn = await asyncpg.connect(service.url)
            try:
                assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await conn.close()
        body = grant_for(household_id)
        reply = await post_with_key(service, service.keys["distakan"], "/grants", body, key)
        assert reply.status_code == 201, reply.text
    finally:
        pool.terminate()
    assert await stored_keys(service.url) == 1


async def test_a_refusal_is_not_stored_and_the_key_stays_free(service: Interventions) -> None:
    household_id = uuid.uuid4()  # not known yet: a retryable 409
    key, distakan = new_key(), service.keys["distakan"]
    refused = await post_with_key(service, distakan, "/grants", grant_for(household_id), key)
    assert refused.status_code == 409 and "retry-after" in refused.headers, refused.text
    invalid = await post_with_key(service, distakan, "/grants", {"kind": "capital"}, key)
    assert invalid.status_code == 422, invalid.text
    assert await stored_keys(service.url) == 0
    await known(service, life(household_id, [uuid.uuid4()]))
    granted = await post_with_key(service, distakan, "/grants", grant_for(household_id), key)
    assert granted.status_code == 201, granted.text
    counts = await service.counts()
    assert (counts["grants"], counts["outbox"]) == (1, 1)


async def test_a_second_store_of_a_key_is_refused_and_answered_from_the_first(
    service: Interventions,
) -> None:
    """Two transactions of one key: the second to store is refused by the key's primary key,
    rolled back with what it wrote, and answered from the first."""
    key = str(uuid.uuid4())
    pool = await asyncpg.create_pool(service.url, min_size=1, max_size=2)
    try:
        store = IdempotencyStore(pool, ttl_s=86400)
        first = store.claim("distakan", key, b"same")
        second = store.claim("distakan", key, b"same")
        await first.begin()
        await second.begin()
        await first.commit(201, {"content-type": "application/json"}, b'{"id": "first"}')
        with pytest.raises(AlreadyStoredError) as refused:
            await second.commit(201, {}, b'{"id": "second"}')
        assert refused.value.stored.body == b'{"id": "first"}'
    finally:
        await pool.close()
    assert await stored_keys(service.url) == 1


async def test_expired_keys_are_swept(service: Interventions) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    distakan = service.keys["distakan"]
    old, fresh = new_key(), new_key()
    for key in (old, fresh):
        reply = await post_with_key(service, distakan, "/grants", grant_for(household_id), key)
        assert reply.status_code == 201, reply.text
    await conn_execute(
        service.url,
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
        old.strip('"'),
    )
    pool = await asyncpg.create_pool(service.url, min_size=1, max_size=1)
    try:
        store = IdempotencyStore(pool, ttl_s=24 * 3600)
        assert await store.sweep() == 1
        assert await store.sweep() == 0
        # What each instance runs in the background: a sweep at start, then periodically.
        await conn_execute(
            service.url,
            "UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'",
        )
        async with sweeping(store):
            async with asyncio.timeout(10):
                while await stored_keys(service.url):
                    await asyncio.sleep(0.05)
    finally:
        await pool.close()
    assert await stored_keys(service.url) == 0
    fresh_reply = await post_with_key(service, distakan, "/grants", grant_for(household_id), fresh)
    assert "Idempotent-Replayed" not in fresh_reply.headers
    # After its time to live a key is new again: the same request is a new grant.
    again = await post_with_key(service, distakan, "/grants", grant_for(household_id), old)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert (await service.counts())["grants"] == 4


# -- the registry -------------------------------------------------------------------------


@pytest.fixture
async def registry_db(databases: DatabaseFactory) -> str:
    return await databases.create("registry", migrated="registry")


@pytest.fixture
async def registry(
    registry_db: str, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_registry(isolated_settings, RegistrySettings(database_url=registry_db))
    async for client in run_app(app, api_keys.agencies["dinsos"]):
        yield client


async def test_registry_writes_retried_with_their_keys_are_written_once(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    async def twice(method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        key = new_key()
        first = await registry.request(method, path, json=body, headers={"Idempotency-Key": key})
        retry = await registry.request(method, path, json=body, headers={"Idempotency-Key": key})
        assert first.status_code in (200, 201), first.text
        assert (retry.status_code, retry.json()) == (first.status_code, first.json())
        assert retry.headers["Idempotent-Replayed"] == "true"
        # The household's version too, which the client sends on to interventions.
        assert retry.headers["ETag"] == first.headers["ETag"]
        return first

    registered = await twice("POST", "/households", household(7))
    assert registered.status_code == 201
    household_id = registered.json()["id"]
    assert registered.headers["Location"] == f"/households/{household_id}"
    patched = await twice("PATCH", f"/households/{household_id}", {"welfare_decile": 3})
    assert patched.json()["welfare_decile"] == 3
    # Without the key a second enrolment is refused (409): with it, the first is answered.
    enrolled = await twice("POST", f"/households/{household_id}/enrolment", {"cohort_year": 2026})
    assert enrolled.status_code == 201
    exited = await twice("POST", f"/households/{household_id}/exit", {"reason": "moved"})
    assert exited.json()["status"] == "exited"
    # One household, its two members, one enrolment; four events, not eight.
    assert await written(registry_db) == (1, 2, 1, 4)
    assert await stored_keys(registry_db) == 4


async def test_a_replay_where_the_write_would_now_succeed_writes_nothing(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    """An enrolment with a key, an exit, then the enrolment retried with its key: the write
    would succeed again, but the key's stored response answers and the new enrolment is
    rolled back."""
    registered = await registry.post("/households", json=household(7))
    household_id = registered.json()["id"]
    key = new_key()
    path = f"/households/{household_id}/enrolment"
    first = await registry.post(path, json={"cohort_year": 2026}, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    exited = await registry.post(f"/households/{household_id}/exit", json={"reason": "moved"})
    assert exited.status_code in (200, 201), exited.text
    retry = await registry.post(path, json={"cohort_year": 2026}, headers={"Idempotency-Key": key})
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    # One household, two members, one enrolment; register, enrol, exit.
    assert await written(registry_db) == (1, 2, 1, 3)


async def test_concurrent_registrations_with_one_key_register_once(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    key = new_key()
    replies = await asyncio.gather(
        *(
            registry.post("/households", json=household(7), headers={"Idempotency-Key": key})
            for _ in range(6)
        )
    )
    assert {r.status_code for r in replies} <= {201, 409}, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies if r.status_code == 201}) == 1
    assert await written(registry_db) == (1, 2, 0, 1)
