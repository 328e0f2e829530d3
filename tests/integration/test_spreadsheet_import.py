"""The spreadsheet import in-process on the real database and Kafka: two uploads of one file at
once record each row once; a correction a rule refuses changes nothing; a CSV that breaks half
way keeps the rows before the break; what is not a file of the kind is one problem; a
training's attendance, by the session's row reference, recorded once and corrected.
(The agency's whole journey, with the three services as processes: tests/e2e.)"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
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
    secret: str  # of the KKs' keyed hashes

    async def upload(
        self, text: str, media_type: str = "text/csv", kind: str = "grants"
    ) -> httpx.Response:
        return await self.http.post(
            f"/imports/{kind}",
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
    url = await databases.create("imports", migrated="interventions")
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
            bearer = api_keys.bearer(api_keys.agencies["distakan"])
            yield Service(http, url, bearer, secret)


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


def sheet(rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def statuses(reply: httpx.Response) -> dict[str, tuple[str, str, str]]:
    _, keys, *rows = list(csv.reader(io.StringIO(reply.text)))  # labels, then keys
    at = [keys.index(k) for k in ("status", "column", "reason_id")]
    return {row[0]: (row[at[0]], row[at[1]], row[at[2]]) for row in rows}


LIVE = """NOT EXISTS (SELECT 1 FROM voids v
             WHERE v.intervention_type = 'training-attendance' AND v.intervention_id = a.id)"""


async def test_a_trainings_attendance_is_recorded_once_and_bad_rows_say_why(
    service: Service,
) -> None:
    # The registry's member of each of the first four households, as its events leave them.
    members = [uuid.uuid4() for _ in range(4)]
    households = []
    conn = await asyncpg.connect(service.url)
    try:
        for n, member in enumerate(members):
            households.append(
                await conn.fetchval(
                    """UPDATE known_households SET member_ids = ARRAY[$1::uuid],
                           members_as_of = registered_at WHERE kk_hash = $2
                       RETURNING household_id""",
                    member,
                    keyed_hash(service.secret, kk_of(n)),
                )
            )
    finally:
        await conn.close()
    today = datetime.now(JAKARTA).date()
    first_day, second_day = today - timedelta(days=2), today - timedelta(days=1)
    sessions = sheet(
        [
            ["row_ref", "topic", "starts_on", "ends_on", "hours", "place"],
            ["S-1", "Budidaya ikan nila", first_day, today, 24, "Balai Desa"],
        ]
    )
    assert summary(await service.upload(sessions, kind="training-sessions"))["recorded"] == 1
    participants = sheet(
        [["row_ref", "session_ref", "kk", "member_id"]]
        + [[f"P-{n}", "S-1", kk_of(n), members[n]] for n in range(3)]
    )
    reply = await service.upload(participants, kind="training-participants")
    assert summary(reply)["recorded"] == 3, reply.text

    header = ["row_ref", "session_ref", "kk", "household_id", "member_id", "attended_on"]
    rows = [
        ["H-1", "S-1", kk_of(0), "", members[0], first_day],
        ["H-2", "S-1", kk_of(0), "", members[0], second_day],
        ["H-3", "S-1", "", households[1], members[1], first_day],
        ["H-4", "S-1", kk_of(3), "", members[3], first_day],  # not a participant
        ["H-5", "S-1", kk_of(2), "", members[2], first_day - timedelta(days=1)],
        ["H-6", "S-9", kk_of(2), "", members[2], first_day],  # no such session imported
        ["H-7", "S-1", kk_of(0), "", members[0], first_day],  # H-1 again, by another ref
        ["H-8", "S-1", kk_of(2), "", members[2], "03/12/2026"],
    ]
    reply = await service.upload(sheet([header, *rows]), kind="training-attendance")
    assert reply.status_code == 200, reply.text
    assert summary(reply) == {
        "rows": 8,
        "recorded": 3,
        "unchanged": 0,
        "corrected": 0,
        "refused": 5,
        "skipped": 0,
    }
    result = statuses(reply)
    assert {ref: result[ref][:2] for ref in result} == {
        "H-1": ("tercatat (recorded)", ""),
        "H-2": ("tercatat (recorded)", ""),
        "H-3": ("tercatat (recorded)", ""),
        "H-4": ("ditolak (refused)", "member_id"),
        "H-5": ("ditolak (refused)", "attended_on"),
        "H-6": ("ditolak (refused)", "session_ref"),
        "H-7": ("ditolak (refused)", "row"),
        "H-8": ("ditolak (refused)", "attended_on"),
    }
    assert "bukan peserta sesi pelatihan ini" in result["H-4"][2]
    assert "di luar tanggal mulai dan selesai sesi pelatihan" in result["H-5"][2]
    assert "Tanggal hadir" in result["H-8"][2]
    live = f"SELECT count(*) FROM training_attendance a WHERE {LIVE}"
    attended = "SELECT count(*) FROM outbox WHERE event_type = 'gayari.training.attended.v1'"
    assert await service.fetchval(live) == await service.fetchval(attended) == 3

    # The same file again changes nothing; the bad rows are refused again, for the same reasons.
    again = await service.upload(sheet([header, *rows]), kind="training-attendance")
    assert (summary(again)["unchanged"], summary(again)["refused"]) == (3, 5), again.text
    assert statuses(again)["H-4"] == result["H-4"]
    assert await service.fetchval(live) == await service.fetchval(attended) == 3

    # A corrected day replaces its record only (voided, recorded anew); the others unchanged.
    rows[1][-1] = today
    fixed = await service.upload(sheet([header, *rows[:3]]), kind="training-attendance")
    assert [s for s, _, _ in statuses(fixed).values()] == [
        "tidak berubah (unchanged)",
        "dikoreksi (corrected)",
        "tidak berubah (unchanged)",
    ], fixed.text
    assert await service.fetchval(live) == 3
    assert await service.fetchval("SELECT count(*) FROM training_attendance") == 4
    days = f"""SELECT array_agg(attended_on ORDER BY attended_on) FROM training_attendance a
                WHERE household_id = '{households[0]}' AND {LIVE}"""
    assert await service.fetchval(days) == [first_day, today]
