"""The spreadsheet import in-process on the real database and Kafka: two uploads of one file at
once record each row once; a correction a rule refuses changes nothing; a CSV that breaks half
way keeps the rows before the break; what is not a file of the kind is one problem.
(The agency's whole journey, with the three services as processes: tests/e2e.)"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from gayari_interventions.bootstrap import create_app
from gayari_interventions.settings import InterventionsSettings
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.hashing import keyed_hash
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet

pytestmark = pytest.mark.stack

HEADER = ["row_ref", "kk", "kind", "amount_idr", "purpose", "issued_on"]


@dataclass
class Service:
    http: httpx.AsyncClient
    url: str
    bearer: dict[str, str]

    async def upload(self, text: str, media_type: str = "text/csv") -> httpx.Response:
        return await self.http.post(
            "/imports/grants",
            content=text.encode(),
            headers={**self.bearer, "Content-Type": media_type},
        )

    async def fetchval(self, query: str) -> object:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()


def kk_of(n: int) -> str:
    return f"62090{n:011d}"


@pytest.fixture
async def service(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Service]:
    url = await databases.create("imports")
    app = create_app(isolated_settings, InterventionsSettings(database_url=url))
    async with app.router.lifespan_context(app):
        # 40 enrolled households, as the registry's events leave them (with their KK's hash).
        secret = isolated_settings.keyed_hash_secret()
        at = datetime.now(UTC) - timedelta(days=365)
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(
                """INSERT INTO known_households (household_id, village_code, welfare_decile,
                       registered_at, enrolled_at, kk_hash, registry_version)
                   VALUES ($1, '62.09.01.2001', 2, $2, $2, $3, 2)""",
                [(uuid.uuid4(), at, keyed_hash(secret, kk_of(n))) for n in range(40)],
            )
        finally:
            await conn.close()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", timeout=120
        ) as http:
            yield Service(http, url, api_keys.bearer(api_keys.agencies["distakan"]))


def grants_csv(rows: list[list[object]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue()


def summary(reply: httpx.Response) -> dict[str, int]:
    items = (i.strip().partition("=") for i in reply.headers["gayari-import-summary"].split(","))
    return {name: int(value) for name, _, value in items}


async def test_two_uploads_of_one_file_at_once_record_each_row_once(service: Service) -> None:
    text = grants_csv([[f"G-{n}", kk_of(n), "modal", 1_000 + n, "Modal"] for n in range(40)])
    first, second = await asyncio.gather(service.upload(text), service.upload(text))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    recorded = summary(first)["recorded"] + summary(second)["recorded"]
    unchanged = summary(first)["unchanged"] + summary(second)["unchanged"]
    assert (recorded, unchanged) == (40, 40)
    assert await service.fetchval("SELECT count(*) FROM grants") == 40
    assert await service.fetchval("SELECT count(*) FROM outbox") == 40
    assert await service.fetchval("SELECT count(*) FROM intake_receipts") == 40


async def test_a_correction_a_rule_refuses_leaves_the_record_as_it_was(service: Service) -> None:
    reply = await service.upload(grants_csv([["G-1", kk_of(1), "modal", 1_000, "Modal"]]))
    assert summary(reply)["recorded"] == 1
    tomorrow = (datetime.now(JAKARTA).date() + timedelta(days=1)).isoformat()
    reply = await service.upload(grants_csv([["G-1", kk_of(1), "modal", 2_000, "Modal", tomorrow]]))
    assert summary(reply)["refused"] == 1, reply.text
    _, keys, row = list(csv.reader(io.StringIO(reply.text)))
    assert row[keys.index("column")] == "issued_on"
    assert await service.fetchval("SELECT count(*) FROM voids") == 0
    assert await service.fetchval("SELECT amount_idr FROM grants") == 1_000
    # Corrected for good: the record is replaced, once.
    reply = await service.upload(grants_csv([["G-1", kk_of(1), "modal", 2_000, "Modal"]]))
    assert summary(reply)["corrected"] == 1
    assert await service.fetchval("SELECT count(*) FROM voids") == 1
    assert await service.fetchval("SELECT count(*) FROM grants") == 2


async def test_a_csv_that_breaks_half_way_keeps_the_rows_before_it(service: Service) -> None:
    text = grants_csv([["G-1", kk_of(1), "modal", 1_000, "Modal"]]) + 'G-2,"unclosed\n'
    reply = await service.upload(text)
    assert reply.status_code == 200, reply.text
    assert summary(reply) == {
        "rows": 2,
        "recorded": 1,
        "unchanged": 0,
        "corrected": 0,
        "refused": 1,
        "skipped": 0,
    }
    assert "the file breaks here" in reply.text
    assert await service.fetchval("SELECT count(*) FROM grants") == 1


async def test_what_is_not_a_file_of_the_kind_is_one_problem(service: Service) -> None:
    assert (await service.upload("a,b\n", "application/json")).status_code == 415
    empty = await service.upload("")
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body"
    missing = await service.upload("row_ref,kk\nG-1,6209000000000001\n")
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"kind", "purpose"}
    anonymous = await service.http.post("/imports/grants", content=b"row_ref\n")
    assert anonymous.status_code == 401
    assert await service.fetchval("SELECT count(*) FROM intake_receipts") == 0
