"""Bulk import of household CSVs on the real database and Kafka: a report on every row, good
households registered, bad ones rejected naming the column, and the same file again changes
nothing. The command-line tool is run against a real HTTP server."""

from __future__ import annotations

import asyncio
import csv
import io
import socket
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import httpx
import pytest
import uvicorn

from gayari_registry.bootstrap import create_app
from gayari_registry.domain.imports import COLUMNS
from gayari_registry.domain.nik import birth_digits
from gayari_registry.entrypoints import cli
from gayari_registry.settings import RegistrySettings
from gayari_shared.areas import load_areas
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_registry_lifecycle import run_app, written
from tests.kafka_tools import read_topic

pytestmark = pytest.mark.stack
HEADER = ",".join(COLUMNS) + "\n"


def line(**values: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([values[c] for c in COLUMNS])
    return out.getvalue()


def member_row(kk: str, nik: str, name: str, relationship: str, **overrides: str) -> str:
    values = {
        "kk": kk,
        "village_code": "62.09.01.2001",
        "rt": "003",
        "rw": "001",
        "address": "Dusun Sungai",
        "welfare_decile": "2",
        "nik": nik,
        "name": name,
        "sex": "F" if relationship in {"head", "Kepala Keluarga"} else "M",
        "birth_date": "1980-01-05" if relationship in {"head", "Kepala Keluarga"} else "2005-06-12",
        "relationship": relationship,
    }
    return line(**{**values, **overrides})


KK1, KK2, KK3, KK4, KK5, KK6 = (f"620901000000000{i}" for i in range(1, 7))
SAMPLE = (
    HEADER
    + member_row(KK1, "6209014501800001", "Siti Aminah", "head")  # row 2: created
    + member_row(KK1, "6209011206050001", "Budi Saputra", "child")  # 3: created
    + member_row(KK2, "6209014501800002", "Dewi Lestari", "head", welfare_decile="11")  # 4
    + member_row(KK3, "6209014501800003", "Rina Ngabe", "head")  # 5: rejected with row 6
    + member_row(KK3, "6209011306050003", "Eko Ngabe", "child")  # 6: NIK birth digits wrong
    + member_row(KK4, "6209014501800001", "Siti Aminah", "head")  # 7: NIK of KK1's head
    + "\n"  # 8: a blank line is no row
    + member_row(KK5, "6209014501800005", "Maria Riwut", "Kepala Keluarga", sex="P")  # 9
    + member_row(KK1, "6209011206050009", "Joko Saputra", "child")  # 10: KK1 again, apart
    + member_row(KK6, "6209014501800006", "Halimah", "head", address="Jl. Bukit, RT 3\nDusun")
)  # rows 11-12: a quoted line break


@pytest.fixture
async def registry_db(databases: DatabaseFactory) -> str:
    return await databases.create("registry", migrated="registry")


@pytest.fixture
async def registry(
    registry_db: str, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(isolated_settings, RegistrySettings(database_url=registry_db))
    async for client in run_app(app, api_keys.agencies["dinsos"]):
        yield client


async def post_csv(client: httpx.AsyncClient, text: str) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        data = text.encode()
        for i in range(0, len(data), 97):  # small pieces: records cross chunk boundaries
            yield data[i : i + 97]

    return await client.post(
        "/households/import", content=body(), headers={"content-type": "text/csv"}
    )


async def test_import_reports_every_row_and_a_second_run_changes_nothing(
    registry: httpx.AsyncClient, registry_db: str, isolated_settings: CommonSettings
) -> None:
    reply = await post_csv(registry, SAMPLE)
    assert reply.status_code == 200, reply.text
    report = reply.json()
    rows = {r["row"]: r for r in report["rows"]}
    assert {n: r["status"] for n, r in rows.items()} == {
        2: "created",
        3: "created",
        4: "rejected",
        5: "rejected",
        6: "rejected",
        7: "rejected",
        9: "created",
        10: "rejected",
        11: "created",
    }
    assert [e["column"] for e in rows[4]["errors"]] == ["welfare_decile"]
    assert [e["column"] for e in rows[6]["errors"]] == ["nik"]
    assert "see row 6" in rows[5]["errors"][0]["message"]
    assert [e["column"] for e in rows[7]["errors"]] == ["nik"]
    assert rows[2]["household_id"] in rows[7]["errors"][0]["message"]
    assert [e["column"] for e in rows[10]["errors"]] == ["kk"]
    assert rows[2]["household_id"] == rows[3]["household_id"]
    assert report["summary"] == {
        "rows": 9,
        "rows_rejected": 5,
        "households_created": 3,
        "households_existing": 0,
    }
    assert await written(registry_db) == (3, 4, 0, 3)
    halimah = await registry.get(f"/households/{rows[11]['household_id']}")
    assert halimah.json()["address"]["street"] == "Jl. Bukit, RT 3\nDusun"
    maria = await registry.get(f"/households/{rows[9]['household_id']}")
    assert maria.json()["members"][0]["relationship"] == "head"

    again = (await post_csv(registry, SAMPLE)).json()
    statuses = {r["row"]: r["status"] for r in again["rows"]}
    assert statuses == {
        n: ("existing" if s == "created" else s)
        for n, s in {n: r["status"] for n, r in rows.items()}.items()
    }
    assert [r["household_id"] for r in again["rows"]] == [r["household_id"] for r in report["rows"]]
    assert again["summary"]["households_existing"] == 3
    assert await written(registry_db) == (3, 4, 0, 3)  # no new household, no new event

    records = await read_topic(
        isolated_settings.kafka_connection(), isolated_settings.topic("households"), expect=3
    )
    assert len(records) == 3
    assert {dict(r.headers)["ce_type"] for r in records} == {b"gayari.household.registered.v1"}
    wire = b"".join(r.value for r in records).decode()
    for secret in (KK1, "6209014501800001", "Siti Aminah", "Dusun Sungai"):
        assert secret not in wire


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (HEADER.replace(",nik", "") + "x\n", "text/csv", (422, "nik")),
        ("", "text/csv", (422, "body")),
        (SAMPLE, "application/json", (415, None)),
    ],
)
async def test_a_file_that_is_no_household_csv_writes_nothing(
    registry: httpx.AsyncClient,
    registry_db: str,
    body: str,
    content_type: str,
    expected: tuple[int, str | None],
) -> None:
    status, field = expected
    reply = await registry.post(
        "/households/import", content=body.encode(), headers={"content-type": content_type}
    )
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in [e["field"] for e in reply.json()["errors"]]
    assert await written(registry_db) == (0, 0, 0, 0)


# Strict cells: a number only in digits 0-9 (padding aside), no control character in any text
# (line breaks and tabs only in the address). Each KK is one head; (row, column refused or None).
STRICT_CELLS: list[tuple[dict[str, str], str | None]] = [
    ({"name": "Siti\x00Aminah"}, "name"),
    ({"name": "Siti\tAminah"}, "name"),
    ({"name": "Siti\x1b[2JAminah"}, "name"),
    ({"address": "Dusun\x00Sungai"}, "address"),
    ({"address": "Dusun\x07Sungai"}, "address"),
    ({"welfare_decile": "2.0"}, "welfare_decile"),
    ({"welfare_decile": "\u0662"}, "welfare_decile"),  # ARABIC-INDIC DIGIT TWO
    ({"welfare_decile": "+2"}, "welfare_decile"),
    ({"welfare_decile": "true"}, "welfare_decile"),
    ({"welfare_decile": "abc"}, "welfare_decile"),
    ({"rt": "\u0663"}, "rt"),
    ({"kk": "6209010000000\x0001"}, "kk"),
    ({"birth_date": "19800105"}, "birth_date"),
    ({"welfare_decile": " 3 "}, None),
    ({"address": "Jl. Bukit\n\tDusun Sungai"}, None),
]


async def test_cells_are_checked_strictly_row_by_row(
    registry: httpx.AsyncClient, registry_db: str
) -> None:
    rows = []
    for n, (overrides, _) in enumerate(STRICT_CELLS):
        kk, nik = f"62090100000{n:05d}", f"62090145018{n:05d}"
        head = {"kk": kk, "nik": nik, "name": "Siti Aminah", **overrides}
        rows.append(member_row(head.pop("kk"), head.pop("nik"), head.pop("name"), "head", **head))
    reply = await post_csv(registry, HEADER + "".join(rows))
    assert reply.status_code == 200, reply.text
    report = {r["row"]: r for r in reply.json()["rows"]}
    assert len(report) == len(STRICT_CELLS), report
    for n, (overrides, column) in enumerate(STRICT_CELLS):
        row = report[n + 2]
        if column is None:
            assert row["status"] == "created", (overrides, row)
        else:
            assert row["status"] == "rejected", (overrides, row)
            assert [e["column"] for e in row["errors"]] == [column], (overrides, row)
    created = sum(column is None for _, column in STRICT_CELLS)
    assert await written(registry_db) == (created, created, 0, created)


def big_csv(households: int) -> str:
    """`households` families of four in the villages of Lamandau, NIKs from their districts."""
    villages = load_areas().villages_in("62.09")
    parts = [HEADER]
    for n in range(households):
        village = villages[n % len(villages)]
        district = village.district_code.replace(".", "")
        kk = f"{district}{n:010d}"
        head_birth = date(1970, 1, 1) + timedelta(days=n % 9000)
        family: list[tuple[str, Literal["M", "F"], date, str]] = [
            ("Kepala Keluarga", "M", head_birth, f"Agus {n}"),
            ("Istri", "F", head_birth + timedelta(days=400), f"Siti {n}"),
            ("Anak", "M", date(2008, 3, 1) + timedelta(days=n % 3000), f"Budi {n}"),
            ("Anak", "F", date(2012, 5, 1) + timedelta(days=n % 3000), f"Rina {n}"),
        ]
        for relationship, sex, born, name in family:
            parts.append(
                line(
                    kk=kk,
                    village_code=village.code,
                    rt=str(n % 20 + 1),
                    rw=str(n % 5 + 1),
                    address=f"Dusun {n % 7}, Jl. Sawit No. {n}",
                    welfare_decile=str(n % 4 + 1),
                    nik=f"{district}{birth_digits(born, sex)}{n % 10_000:04d}",
                    name=name,
                    sex="L" if sex == "M" else "P",
                    birth_date=born.isoformat(),
                    relationship=relationship,
                )
            )
    return "".join(parts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_cli_imports_2000_rows_through_a_real_server_and_again_idempotently(
    registry_db: str,
    isolated_settings: CommonSettings,
    api_keys: KeySet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "dtsen-lamandau.csv"
    source.write_text(big_csv(500), encoding="utf-8")
    key_file = tmp_path / "key"
    key_file.write_text(api_keys.agencies["dinsos"] + "\n")
    app = create_app(isolated_settings, RegistrySettings(database_url=registry_db))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                await asyncio.sleep(0.05)
        argv = [str(source), "--url", f"http://127.0.0.1:{port}", "--key-file", str(key_file)]
        started = time.monotonic()
        first = await asyncio.to_thread(
            cli.main, [*argv, "--chunk-rows", "300", "--report", str(tmp_path / "first.csv")]
        )
        seconds = time.monotonic() - started
        second = await asyncio.to_thread(
            cli.main, [*argv, "--report", str(tmp_path / "second.csv")]
        )
    finally:
        server.should_exit = True
        await serving
    print(f"\nimported 2000 rows in {seconds:.2f} s: {2000 / seconds:,.0f} rows/s")
    assert (first, second) == (0, 0), capsys.readouterr().err
    assert await written(registry_db) == (500, 2000, 0, 500)
    with (tmp_path / "first.csv").open() as handle:
        report = list(csv.DictReader(handle))
    assert [int(r["row"]) for r in report] == list(range(2, 2002))
    assert {r["status"] for r in report} == {"created"}
    with (tmp_path / "second.csv").open() as handle:
        again = list(csv.DictReader(handle))
    assert {r["status"] for r in again} == {"existing"}
    assert [r["household_id"] for r in again] == [r["household_id"] for r in report]
    conn = await asyncpg.connect(registry_db)
    try:
        flags = await conn.fetchval("SELECT count(*) FROM households WHERE flags <> '[]'")
    finally:
        await conn.close()
    assert flags == 0  # every NIK was issued in its household's district
