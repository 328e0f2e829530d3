"""What an Idempotency-Key costs a write in statements, counted by asyncpg's query logger on the
real database (the use cases and adapters as the services run them, without HTTP): a write of
one statement carries its key, so it sends what it sends without one; any other write runs in
the key's transaction, and a write that finds its key taken keeps nothing."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from gayari_interventions.adapters.postgres import unit_of_work as interventions_unit_of_work
from gayari_interventions.domain.grants import GrantRequest
from gayari_interventions.service_layer.handlers import InterventionsDeps, record_grant
from gayari_registry.adapters.postgres import unit_of_work as registry_unit_of_work
from gayari_registry.bootstrap import create_app as create_registry
from gayari_registry.domain.model import DetailsChange, HouseholdApplication, Reference
from gayari_registry.service_layer.handlers import (
    RegistryDeps,
    change_household,
    enrol_household,
    register_household,
)
from gayari_registry.settings import RegistrySettings
from gayari_shared.areas import load_areas
from gayari_shared.idempotency import (
    AlreadyStoredError,
    Answer,
    Claim,
    IdempotencyStore,
    KeyTakenError,
    answer_written,
)
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet, migrate_up
from tests.integration.test_idempotent_writes import service  # noqa: F401  (a fixture)
from tests.integration.test_interventions_api import Interventions, known, life
from tests.integration.test_registry_lifecycle import household, registry_db, run_app  # noqa: F401

pytestmark = pytest.mark.stack

T = TypeVar("T")


@dataclass
class Counted:
    """A pool whose connections log every statement they send."""

    pool: asyncpg.Pool
    queries: list[str] = field(default_factory=list)

    def since(self, mark: int) -> list[str]:
        return [" ".join(q.split()) for q in self.queries[mark:]]


@pytest.fixture
async def counted_registry(databases: DatabaseFactory) -> AsyncIterator[Counted]:
    url = await databases.create("registry", migrated="registry")
    async with _counted(url) as counted:
        yield counted


@contextlib.asynccontextmanager
async def _counted(url: str) -> AsyncIterator[Counted]:
    queries: list[str] = []

    async def log_queries(conn: asyncpg.Connection[Any]) -> None:
        conn.add_query_logger(lambda logged: queries.append(logged.query))

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, init=log_queries)
    try:
        yield Counted(pool, queries)
    finally:
        await pool.close()


def registry_deps(pool: asyncpg.Pool) -> RegistryDeps:
    return RegistryDeps(
        unit_of_work=partial(registry_unit_of_work, pool, "rt"),
        reference=Reference(load_areas(), "62.09"),
        hash_secret="round-trips",
    )


def answer(_: object) -> Answer:
    return Answer(201, {"content-type": "application/json"}, b'{"answered": true}')


async def keyed(
    store: IdempotencyStore, key: str, write: Callable[[], Awaitable[T]]
) -> tuple[T, Claim]:
    """`write` as a request with the key runs it (the HTTP side's part: bind the claim, tell it
    the answer; store the response at the end unless the write carried it)."""
    claim = store.claim("dinsos", key, b"fingerprint")
    claim.bind()
    try:
        answer_written(answer)
        result = await write()
        if claim.carried is None:
            await claim.commit(200, {}, b"{}")
        else:
            await claim.end()
        return result, claim
    finally:
        claim.unbind()
        await claim.rollback()


# asyncpg's own: the introspection of a type it meets first, the reset of a connection going
# back to the pool (the services' pools skip it: gayari_shared.postgres.create_pool).
_ASYNCPG_OWN = (
    "SELECT current_setting('jit')",
    "SELECT set_config('jit'",
    "WITH RECURSIVE typeinfo_tree",
    "SELECT pg_advisory_unlock_all",
)


def statements(counted: Counted, mark: int) -> list[str]:
    """The statements the use case sent since `mark`."""
    return [q for q in counted.since(mark) if not q.startswith(_ASYNCPG_OWN)]


async def test_a_keyed_registration_and_enrolment_send_what_they_send_without_a_key(
    counted_registry: Counted,
) -> None:
    deps = registry_deps(counted_registry.pool)
    store = IdempotencyStore(counted_registry.pool, ttl_s=3600)

    mark = len(counted_registry.queries)
    plain = await register_household(deps, HouseholdApplication.model_validate(household(1)), "rt")
    unkeyed_register = statements(counted_registry, mark)
    mark = len(counted_registry.queries)
    registered, claim = await keyed(
        store,
        "register-2",
        lambda: register_household(deps, HouseholdApplication.model_validate(household(2)), "rt"),
    )
    keyed_register = statements(counted_registry, mark)
    assert registered.created and claim.carried is not None and not claim.begun
    assert len(keyed_register) == len(unkeyed_register) == 1, (unkeyed_register, keyed_register)

    mark = len(counted_registry.queries)
    await enrol_household(deps, plain.household.id, 2026, "dinsos", "rt")
    unkeyed_enrol = statements(counted_registry, mark)
    mark = len(counted_registry.queries)
    enrolled, claim = await keyed(
        store,
        "enrol-2",
        lambda: enrol_household(deps, registered.household.id, 2026, "dinsos", "rt"),
    )
    keyed_enrol = statements(counted_registry, mark)
    assert enrolled.enrolments and claim.carried is not None and not claim.begun
    assert len(keyed_enrol) == len(unkeyed_enrol) == 2, (unkeyed_enrol, keyed_enrol)
    assert not any(q.startswith(("BEGIN", "COMMIT")) for q in keyed_register + keyed_enrol)

    async with counted_registry.pool.acquire() as conn:
        rows = await conn.fetch("SELECT key, status, body FROM idempotency_keys ORDER BY key")
        version = await conn.fetchval(
            "SELECT version FROM households WHERE id = $1", registered.household.id
        )
    assert [(r["key"], r["status"], bytes(r["body"])) for r in rows] == [
        ("enrol-2", 201, b'{"answered": true}'),
        ("register-2", 201, b'{"answered": true}'),
    ]
    assert version == enrolled.version


async def test_a_keyed_write_that_is_no_single_statement_runs_in_the_keys_transaction(
    counted_registry: Counted,
) -> None:
    """A change of members is written under the household's lock: the key's transaction
    begins, and the response is stored with the COMMIT."""
    deps = registry_deps(counted_registry.pool)
    store = IdempotencyStore(counted_registry.pool, ttl_s=3600)
    registered = await register_household(
        deps, HouseholdApplication.model_validate(household(3)), "rt"
    )
    members = [m.model_dump(mode="json") for m in registered.household.members[:1]]
    change = DetailsChange.model_validate({"members": members})

    mark = len(counted_registry.queries)
    changed, claim = await keyed(
        store,
        "change-3",
        lambda: change_household(deps, registered.household.id, change, "rt", admin=False),
    )
    sent = statements(counted_registry, mark)
    assert len(changed.members) == 1
    assert claim.begun and claim.carried is None
    assert "BEGIN" in sent, sent
    assert sent[-1].startswith("SELECT idempotency_store(") and sent[-1].endswith("; COMMIT")
    async with counted_registry.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'change-3'")
    assert stored == 1


async def test_a_write_that_finds_its_key_taken_keeps_nothing(counted_registry: Counted) -> None:
    deps = registry_deps(counted_registry.pool)
    store = IdempotencyStore(counted_registry.pool, ttl_s=3600)
    await keyed(
        store,
        "taken",
        lambda: register_household(deps, HouseholdApplication.model_validate(household(4)), "rt"),
    )
    with pytest.raises(KeyTakenError):
        await keyed(
            store,
            "taken",
            lambda: register_household(
                deps, HouseholdApplication.model_validate(household(5)), "rt"
            ),
        )
    # The same household again with the key: not written (the KK is known), its audit row in
    # the key's transaction, which the stored key refuses at the end.
    with pytest.raises(AlreadyStoredError):
        await keyed(
            store,
            "taken",
            lambda: register_household(
                deps, HouseholdApplication.model_validate(household(4)), "rt"
            ),
        )
    async with counted_registry.pool.acquire() as conn:
        households = await conn.fetchval("SELECT count(*) FROM households")
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE operation = 'read:household'"
        )
    assert (households, outbox, audited) == (1, 1, 0)


async def test_a_keyed_grant_sends_what_it_sends_without_a_key(
    service: Interventions,  # noqa: F811
) -> None:
    household_id = await known(service, life(uuid.uuid4(), [uuid.uuid4()]))
    async with _counted(service.url) as counted:
        uow = partial(interventions_unit_of_work, counted.pool, "rt")
        deps = InterventionsDeps(
            unit_of_work=uow,
            agencies=frozenset({"dinsos", "dispar", "distakan", "dkukmpp"}),
            statements=partial(uow, atomic=False),
        )
        store = IdempotencyStore(counted.pool, ttl_s=3600)

        def grant() -> GrantRequest:
            return GrantRequest.model_validate(
                {
                    "household_id": str(household_id),
                    "kind": "capital",
                    "amount_idr": 1_000_000,
                    "purpose": "Modal usaha",
                }
            )

        mark = len(counted.queries)
        await record_grant(deps, "distakan", grant(), "rt")
        unkeyed = statements(counted, mark)
        mark = len(counted.queries)
        _, claim = await keyed(
            store, "grant-1", lambda: record_grant(deps, "distakan", grant(), "rt")
        )
        carried = statements(counted, mark)
        assert claim.carried is not None and not claim.begun
        assert len(carried) == len(unkeyed) == 2, (unkeyed, carried)
    assert (await service.counts())["grants"] == 2
    stored = await service.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'grant-1'")
    assert stored == 1


async def test_keyed_writes_over_http_carry_their_keys_and_answer_with_them(
    registry_db: str,  # noqa: F811
    isolated_settings: CommonSettings,
    api_keys: KeySet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoints tell their claims how they answer: a keyed registration, enrolment and exit
    begin no transaction of the key's, and the first answer is the stored one, byte for byte,
    its ETag (and Location) included."""
    begun: list[Claim] = []
    begin = Claim.begin

    async def counted_begin(claim: Claim) -> None:
        begun.append(claim)
        await begin(claim)

    monkeypatch.setattr(Claim, "begin", counted_begin)
    await migrate_up("registry", registry_db)
    app = create_registry(isolated_settings, RegistrySettings(database_url=registry_db))
    async for client in run_app(app, api_keys.agencies["dinsos"]):
        writes: list[tuple[str, object, int]] = [("/households", household(6), 201)]
        first: list[httpx.Response] = []
        for step in range(3):
            path, body, status = writes[step]
            headers = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
            answered = await client.post(path, json=body, headers=headers)
            assert answered.status_code == status, answered.text
            assert begun == [], path
            # A replayed registration reads the known household in the key's transaction.
            replayed = await client.post(path, json=body, headers=headers)
            assert replayed.headers["Idempotent-Replayed"] == "true"
            assert (replayed.status_code, replayed.content) == (status, answered.content)
            assert replayed.headers["etag"] == answered.headers["etag"]
            begun.clear()
            first.append(answered)
            household_id = first[0].json()["id"]
            writes += [
                (f"/households/{household_id}/enrolment", {"cohort_year": 2026}, 201),
                (f"/households/{household_id}/exit", {"reason": "graduated"}, 200),
            ][step : step + 1]
    assert first[0].headers["location"] == f"/households/{first[0].json()['id']}"
    assert [r.json()["version"] for r in first] == [1, 2, 3]
    assert [r.headers["etag"] for r in first] == ['"1"', '"2"', '"3"']
