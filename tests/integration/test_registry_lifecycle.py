"""The registry on the real database and Kafka: the life cycle publishes exactly its events and
nothing personal, NIKs belong to one household, bad input writes nothing, near-duplicates are
listed for review."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gayari_registry.adapters.postgres import (
    MIGRATIONS,
    REGISTRATION_LOOKUP,
    HouseholdUnitOfWork,
    unit_of_work,
)
from gayari_registry.bootstrap import create_app
from gayari_registry.domain.model import Household, HouseholdApplication, Reference, enrol
from gayari_registry.service_layer.handlers import RegistryDeps, _transition, register_household
from gayari_registry.settings import RegistrySettings
from gayari_shared.areas import load_areas
from gayari_shared.events.base import EventData
from gayari_shared.migrations import MigrationSet, apply
from gayari_shared.outbox import NOTIFY_CHANNEL
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet, migrate_up
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack


def person(name: str, nik: str, sex: str, born: str, relationship: str) -> dict[str, str]:
    return {"name": name, "nik": nik, "sex": sex, "birth_date": born, "relationship": relationship}


def household(serial: int = 1, **overrides: Any) -> dict[str, Any]:
    """A household of Bulik (62.09.01) whose NIKs end in `serial`, so households differ."""
    body: dict[str, Any] = {
        "kk": f"62090100000{serial:05d}",
        "head_name": "Siti Aminah",
        "village_code": "62.09.01.2001",
        "address": {"rt": "3", "rw": "1", "street": "Jl. Tjilik Riwut, Dusun Sungai"},
        "welfare_decile": 2,
        "members": [
            person("Siti Aminah", f"620901450180{serial:04d}", "F", "1980-01-05", "head"),
            person("Budi Saputra", f"620901120605{serial:04d}", "M", "2005-06-12", "child"),
        ],
    }
    return {**body, **overrides}


async def run_app(app: FastAPI, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client


@pytest.fixture
async def registry_db(databases: DatabaseFactory) -> str:
    return await databases.create("registry")


@pytest.fixture
async def registry(
    registry_db: str, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    await migrate_up("registry", registry_db)
    app = create_app(isolated_settings, RegistrySettings(database_url=registry_db))
    async for client in run_app(app, api_keys.agencies["dinsos"]):
        yield client


async def written(url: str) -> tuple[int, int, int, int]:
    """Rows of households, members, enrolments and the outbox."""
    conn = await asyncpg.connect(url)
    try:
        return tuple(
            [
                await conn.fetchval(f"SELECT count(*) FROM {table}")
                for table in ("households", "members", "enrolments", "outbox")
            ]
        )
    finally:
        await conn.close()


def personal_data(body: dict[str, Any]) -> list[str]:
    values = [body["kk"], body["head_name"], body["address"]["street"]]
    for member in body["members"]:
        values += [member["nik"], member["name"]]
    return values


async def test_life_cycle_publishes_exactly_its_events_and_nothing_personal(
    registry: httpx.AsyncClient, registry_db: str, isolated_settings: CommonSettings
) -> None:
    body = household()
    created = await registry.post("/households", json=body)
    assert created.status_code == 201, created.text
    household_id = created.json()["id"]
    member_ids = [m["member_id"] for m in created.json()["members"]]
    assert len(set(member_ids)) == 2 and created.json()["status"] == "registered"

    enrolled = await registry.post(
        f"/households/{household_id}/enrolment", json={"cohort_year": 2026}
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["enrolments"][0]["agency"] == "dinsos"
    twice = await registry.post(f"/households/{household_id}/enrolment", json={"cohort_year": 2026})
    assert twice.status_code == 409
    assert twice.headers["content-type"] == "application/problem+json"

    members = created.json()["members"]
    newborn = person("Rina Saputri", "6209015207250001", "F", "2025-07-12", "child")
    changed = await registry.patch(
        f"/households/{household_id}",
        json={"welfare_decile": 3, "members": [members[0], newborn]},  # the son moved out
    )
    assert changed.status_code == 200, changed.text
    after = [m["member_id"] for m in changed.json()["members"]]
    assert after[0] == member_ids[0] and member_ids[1] not in after
    unchanged = await registry.patch(f"/households/{household_id}", json={"welfare_decile": 3})
    assert unchanged.status_code == 200  # the same decile again: no event

    exited = await registry.post(f"/households/{household_id}/exit", json={"reason": "graduated"})
    assert exited.status_code == 200, exited.text
    assert exited.json()["status"] == "exited"
    again = await registry.post(f"/households/{household_id}/exit", json={"reason": "moved"})
    assert again.status_code == 409

    assert await written(registry_db) == (1, 2, 1, 4)
    records = await read_topic(
        isolated_settings.kafka_connection(), isolated_settings.topic("households"), expect=4
    )
    types = [dict(r.headers)["ce_type"].decode() for r in records]
    assert types == [
        "gayari.household.registered.v1",
        "gayari.household.enrolled.v1",
        "gayari.household.details-changed.v1",
        "gayari.household.exited.v1",
    ]
    assert {r.key for r in records} == {household_id.encode()}
    values = [json.loads(r.value) for r in records]
    assert values[0]["member_ids"] == member_ids
    assert values[1]["enrolling_agency"] == "dinsos" and values[1]["cohort_year"] == 2026
    assert values[2]["changed"] == ["welfare_decile", "members"]
    assert values[2]["member_ids"] == after and values[2]["welfare_decile"] == 3
    assert values[3]["reason"] == "graduated"
    # Each change one version more, in the answer (ETag, body) and in its event; a change that
    # changes nothing publishes nothing and keeps the version.
    etags = [r.headers["etag"] for r in (created, enrolled, changed, unchanged, exited)]
    assert etags == ['"1"', '"2"', '"3"', '"3"', '"4"']
    assert [v["household_version"] for v in values] == [1, 2, 3, 4]
    assert exited.json()["version"] == 4
    read = await registry.get(f"/households/{household_id}")
    assert (read.headers["etag"], read.json()["version"]) == ('"4"', 4)
    known = await registry.post("/households", json=body)  # the KK again: its household, as is
    assert (known.status_code, known.headers["etag"]) == (200, '"4"')
    wire = b"".join(r.value + b"".join(v for _, v in r.headers) for r in records).decode()
    for secret in [*personal_data(body), newborn["nik"], newborn["name"]]:
        assert secret not in wire


async def test_enrolment_is_for_the_callers_agency_only(
    registry: httpx.AsyncClient, registry_db: str, api_keys: KeySet
) -> None:
    household_id = (await registry.post("/households", json=household())).json()["id"]
    path = f"/households/{household_id}/enrolment"
    admin = await registry.post(
        path, json={"cohort_year": 2026}, headers=api_keys.bearer(api_keys.admin)
    )
    assert admin.status_code == 403 and "no agency" in admin.json()["detail"]
    tourism = await registry.post(
        path, json={"cohort_year": 2026}, headers=api_keys.bearer(api_keys.agencies["dispar"])
    )
    assert tourism.status_code == 403
    smuggled = await registry.post(path, json={"cohort_year": 2026, "enrolling_agency": "dispar"})
    assert smuggled.status_code == 422
    assert "enrolling_agency" in [e["field"] for e in smuggled.json()["errors"]]
    assert await written(registry_db) == (1, 2, 0, 1)


async def test_a_nik_of_another_household_is_a_conflict_naming_it(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    first = (await registry.post("/households", json=household(1))).json()
    stolen = household(2)
    stolen["members"][1] = first["members"][1] | {"relationship": "child"}
    stolen["members"][1].pop("member_id")
    reply = await registry.post("/households", json=stolen)
    assert reply.status_code == 409
    assert reply.headers["content-type"] == "application/problem+json"
    assert first["id"] in reply.json()["detail"]
    assert [e["field"] for e in reply.json()["errors"]] == ["members.1.nik"]
    assert await written(registry_db) == (1, 2, 0, 1)

    second = (await registry.post("/households", json=household(3))).json()
    members = [*second["members"], stolen["members"][1]]
    reply = await registry.patch(f"/households/{second['id']}", json={"members": members})
    assert reply.status_code == 409 and first["id"] in reply.json()["detail"]
    assert await written(registry_db) == (2, 4, 0, 2)


async def test_nik_checks_refuse_a_wrong_birth_date_and_flag_a_foreign_region(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    wrong = household()
    wrong["members"][1]["birth_date"] = "2005-06-13"
    reply = await registry.post("/households", json=wrong)
    assert reply.status_code == 422
    assert "members.1.nik" in [e["field"] for e in reply.json()["errors"]]
    assert "members.1.nik" in reply.json()["detail"]
    assert await written(registry_db) == (0, 0, 0, 0)

    moved = household()
    moved["members"][1]["nik"] = "6371011206050001"  # issued in Banjarmasin
    reply = await registry.post("/households", json=moved)
    assert reply.status_code == 201
    child_id = reply.json()["members"][1]["member_id"]
    assert [(f["member_id"], f["code"]) for f in reply.json()["flags"]] == [
        (child_id, "nik-region-mismatch")
    ]
    fetched = await registry.get(f"/households/{reply.json()['id']}")
    assert fetched.json()["flags"] == reply.json()["flags"]


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("PATCH ", {"welfare_decile": 11}, "welfare_decile"),
        ("PATCH ", {"village_code": "62.09.01.9999"}, "village_code"),
        ("PATCH ", {"address": {"rt": "x", "rw": "1"}}, "address.rt"),
        ("PATCH ", {"members": []}, "members"),
        ("PATCH ", {"kk": "6209010000000009"}, "kk"),
        ("PATCH ", {}, "body"),
        ("POST /enrolment", {"cohort_year": "soon"}, "cohort_year"),
        ("POST /enrolment", {"cohort_year": 1990}, "cohort_year"),
        ("POST /enrolment", {}, "cohort_year"),
        ("POST /enrolment", {"cohort_year": 2026, "enrolled_on": "2999-01-01"}, "enrolled_on"),
        # Before its registration (today).
        ("POST /enrolment", {"cohort_year": 2026, "enrolled_on": "2020-01-01"}, "enrolled_on"),
        ("POST /exit", {"reason": "bored"}, "reason"),
    ],
)
async def test_bad_changes_are_problems_naming_the_field_and_write_nothing(
    registry: httpx.AsyncClient,
    registry_db: str,
    route: str,
    body: dict[str, Any],
    field: str,
) -> None:
    household_id = (await registry.post("/households", json=household())).json()["id"]
    before = await written(registry_db)
    method, path = route.split(" ")
    reply = await registry.request(method, f"/households/{household_id}{path}", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in reply.json()["errors"]]
    assert await written(registry_db) == before


async def test_a_register_kept_before_gayari_keeps_its_days(
    registry: httpx.AsyncClient,
) -> None:
    created = await registry.post("/households", json=household() | {"registered_on": "2026-02-03"})
    assert created.status_code == 201, created.text
    # The start of that day in Lamandau (WIB).
    assert created.json()["registered_at"].startswith("2026-02-02T17:00:00Z")
    path = f"/households/{created.json()['id']}"
    enrolled = await registry.post(
        f"{path}/enrolment", json={"cohort_year": 2026, "enrolled_on": "2026-02-10"}
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["enrolments"][0]["enrolled_at"].startswith("2026-02-09T17:00:00Z")
    early = await registry.post(f"{path}/exit", json={"reason": "moved", "exited_on": "2026-02-01"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "exited_on"
    exited = await registry.post(
        f"{path}/exit", json={"reason": "graduated", "exited_on": "2026-09-01"}
    )
    assert exited.status_code == 200, exited.text
    assert exited.json()["enrolments"][0]["exited_at"].startswith("2026-08-31T17:00:00Z")


async def test_unknown_households_are_404(registry: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for reply in (
        await registry.patch(f"/households/{missing}", json={"welfare_decile": 2}),
        await registry.post(f"/households/{missing}/enrolment", json={"cohort_year": 2026}),
        await registry.post(f"/households/{missing}/exit", json={"reason": "moved"}),
    ):
        assert reply.status_code == 404
        assert reply.headers["content-type"] == "application/problem+json"


async def test_near_duplicates_are_listed_not_merged(
    registry: httpx.AsyncClient, registry_db: str, api_keys: KeySet
) -> None:
    first = await registry.post("/households", json=household(1))
    twin = household(2, head_name="SITI  aminah")
    twin["members"][0]["name"] = "SITI  aminah"
    second = await registry.post("/households", json=twin)
    elsewhere = household(3, village_code="62.09.01.2002")
    other = await registry.post("/households", json=elsewhere)
    assert {first.status_code, second.status_code, other.status_code} == {201}

    reply = await registry.get(
        "/households/review/near-duplicates", headers=api_keys.bearer(api_keys.agencies["dispar"])
    )
    assert reply.status_code == 200, reply.text
    groups = reply.json()["groups"]
    assert len(groups) == 1
    assert [h["id"] for h in groups[0]["households"]] == [first.json()["id"], second.json()["id"]]
    assert groups[0]["head_birth_date"] == "1980-01-05"
    assert (await written(registry_db))[0] == 3  # nothing merged


async def test_openapi_names_auth_problems(registry: httpx.AsyncClient) -> None:
    paths = (await registry.get("/openapi.json")).json()["paths"]
    for path, method in [
        ("/households", "post"),
        ("/households/{household_id}", "patch"),
        ("/households/{household_id}", "get"),
        ("/households/{household_id}/enrolment", "post"),
        ("/households/{household_id}/exit", "post"),
        ("/households/import", "post"),
        ("/households/review/near-duplicates", "get"),
    ]:
        assert {"401", "403"} <= set(paths[path][method]["responses"]), (path, method)
    assert "text/csv" in paths["/households/import"]["post"]["requestBody"]["content"]


async def test_households_registered_before_members_had_ids_are_migrated(
    registry_db: str, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    pool = await create_pool(registry_db)
    try:
        async with pool.acquire() as conn:  # the schema before this change
            await apply(conn, MigrationSet.of("registry", MIGRATIONS.migrations[:2]))
        old, twin = uuid.uuid4(), uuid.uuid4()
        head = person("Siti Aminah", "6209014501800001", "F", "1980-01-05", "head")
        for household_id, kk in ((old, "6209010000000001"), (twin, "6209010000000002")):
            await pool.execute(
                """INSERT INTO households (id, kk, head_name, village_code, welfare_decile,
                                           members, registered_at)
                   VALUES ($1, $2, 'Siti Aminah', '62.09.01.2001', 2, $3::jsonb, now())""",
                household_id,
                kk,
                json.dumps([head]),
            )
    finally:
        await pool.close()
    await migrate_up("registry", registry_db)
    app = create_app(isolated_settings, RegistrySettings(database_url=registry_db))
    async for client in run_app(app, api_keys.agencies["dinsos"]):
        first = (await client.get(f"/households/{old}")).json()
        second = (await client.get(f"/households/{twin}")).json()
        assert first["members"][0]["nik"] == head["nik"] and first["flags"] == []
        assert first["members"][0]["member_id"] != second["members"][0]["member_id"]
        assert [f["code"] for f in second["flags"]] == ["nik-in-another-household"]
        duplicates = (await client.get("/households/review/near-duplicates")).json()["groups"]
        assert [h["id"] for h in duplicates[0]["households"]] == [str(old), str(twin)]
        enrolled = await client.post(f"/households/{old}/enrolment", json={"cohort_year": 2026})
        assert enrolled.status_code == 201


async def test_registration_lookup_is_served_by_indexes(registry_db: str) -> None:
    """Every registration asks who holds its KK and its NIKs: an index must answer, or each
    registration reads the whole members table (ever slower as the registry grows)."""
    await migrate_up("registry", registry_db)
    pool = await create_pool(registry_db)
    try:
        async with pool.acquire() as conn, conn.transaction():
            # The planner may still scan tiny tables; forbidding it shows whether an index can
            # serve the query at all (if none can, it scans anyway).
            await conn.execute("SET LOCAL enable_seqscan = off")
            rows = await conn.fetch(
                f"EXPLAIN {REGISTRATION_LOOKUP}", "6209010000000001", ["6209014501800001"]
            )
    finally:
        await pool.close()
    plan = "\n".join(row[0] for row in rows)
    assert "Seq Scan" not in plan, plan


async def test_a_known_kk_answers_its_household_whatever_the_application_says(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    """The registration's one statement looks up the KK and the NIKs and writes only when
    neither is held: a known KK is answered with its household (200), even for an application
    that breaks a rule or names another household's NIK, and nothing is written."""
    first = (await registry.post("/households", json=household(1))).json()
    other = (await registry.post("/households", json=household(2))).json()
    assert await written(registry_db) == (2, 4, 0, 2)
    broken = household(1)
    broken["members"][1]["birth_date"] = "2005-06-13"  # does not match the NIK
    taken = household(1)
    taken["members"][1] = person("Budi", other["members"][1]["nik"], "M", "2005-06-12", "child")
    for body in (household(1), broken, taken):
        reply = await registry.post("/households", json=body)
        assert reply.status_code == 200, reply.text
        assert reply.json()["id"] == first["id"]
        assert reply.headers["location"] == f"/households/{first['id']}"
    assert await written(registry_db) == (2, 4, 0, 2)
    new = household(3)
    new["members"][1]["birth_date"] = "2005-06-13"
    assert (await registry.post("/households", json=new)).status_code == 422
    assert await written(registry_db) == (2, 4, 0, 2)


async def test_each_write_wakes_the_relay_at_commit(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    """A registration and a life-cycle step wake the relay once committed (the unit of work
    nudges it; it notifies the channel for the relays of other instances, outside the writes'
    transactions)."""
    listener = await asyncpg.connect(registry_db)
    notified: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: notified.put_nowait(args[2]))
    try:
        created = await registry.post("/households", json=household())
        assert created.status_code == 201
        async with asyncio.timeout(5):
            assert await notified.get() == NOTIFY_CHANNEL
        household_id = created.json()["id"]
        enrolled = await registry.post(
            f"/households/{household_id}/enrolment", json={"cohort_year": 2026}
        )
        assert enrolled.status_code == 201
        async with asyncio.timeout(5):
            assert await notified.get() == NOTIFY_CHANNEL
    finally:
        await listener.close()


async def test_a_household_changed_while_a_step_is_decided_is_not_overwritten(
    registry_db: str, isolated_settings: CommonSettings
) -> None:
    """A life-cycle step reads the household without a lock and writes it back only if its row
    is unchanged: a change committed in between (here the decile, by another connection) makes
    the step run again on the household as it is now, under its lock; nothing is lost."""
    prefix = isolated_settings.topic_prefix
    await migrate_up("registry", registry_db)
    pool = await create_pool(registry_db, session_reset=False)
    try:

        class ChangedMeanwhile(HouseholdUnitOfWork):
            async def versioned(self, household_id: uuid.UUID) -> tuple[Household, int] | None:
                found = await super().versioned(household_id)
                async with pool.acquire() as other:
                    await other.execute(
                        "UPDATE households SET welfare_decile = 7 WHERE id = $1", household_id
                    )
                return found

        @asynccontextmanager
        async def racing(*, atomic: bool = True) -> AsyncIterator[HouseholdUnitOfWork]:
            if atomic:
                async with unit_of_work(pool, prefix) as uow:
                    yield uow
            else:
                async with pool.acquire() as conn:
                    yield ChangedMeanwhile(conn, prefix)

        reference = Reference(load_areas())
        plain = RegistryDeps(partial(unit_of_work, pool, prefix), reference, "test secret")
        application = HouseholdApplication.model_validate(household())
        registered = (await register_household(plain, application, "c")).household
        decided_on: list[int] = []

        def step(current: Household) -> tuple[Household, EventData | None]:
            decided_on.append(current.welfare_decile)
            return enrol(current, 2026, "dinsos", now=datetime.now(UTC))

        deps = RegistryDeps(racing, reference, "test secret")
        enrolled = await _transition(deps, registered.id, step, "c")
        assert decided_on == [2, 7]  # decided again on the changed household
        assert enrolled.welfare_decile == 7 and len(enrolled.enrolments) == 1
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT welfare_decile, (SELECT count(*) FROM enrolments) AS enrolments, "
                "(SELECT count(*) FROM outbox) AS events FROM households WHERE id = $1",
                registered.id,
            )
        assert row is not None
        assert tuple(row) == (7, 1, 2)  # the change kept; one enrolment, one event for it
    finally:
        await pool.close()


async def test_the_startup_heap_is_left_out_of_collections(
    registry_db: str, isolated_settings: CommonSettings
) -> None:
    """Once started, what the registry built (the area codes above all) is frozen out of the
    collector's scans: a full collection of it stalled every request in flight."""
    gc.unfreeze()
    await migrate_up("registry", registry_db)
    app = create_app(isolated_settings, RegistrySettings(database_url=registry_db))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 100_000
    gc.unfreeze()
