"""`make bench`: an agency's 10,000-row grants spreadsheet imported end to end, on the real local
stack. A benchmark, not a test: it prints its figures and writes artifacts/bench_import.json.

    .venv/bin/python -m tests.bench.bench_import [--rows 10000] [--out PATH]

The three services run as real processes (fresh databases, a topic prefix and API keys of their
own). Before the clock starts: `rows` households registered and enrolled, published as the
registry's events straight onto the households topic (with the KK's keyed hash, as the registry
makes it), and waited for until the interventions service knows every one; an XLSX of one
capital grant per household, by KK, written with openpyxl.

Measured, from the upload's first byte:
- upload: one POST /imports/grants of the whole XLSX (spooled, read, every row recorded in its
  own transaction, the result written), until its result spreadsheet is received;
- end to end: until reporting's /progress counts every grant and their total (relayed through
  Kafka and projected): the rows per second of the figure;
- again: the same file uploaded a second time (every row "unchanged").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]

from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.households import HouseholdEnrolledV1, HouseholdRegisteredV1
from gayari_shared.hashing import keyed_hash
from gayari_shared.postgres import connect
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.kafka_tools import delete_topics_with_prefix
from tests.processes import running_services

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AMOUNT = 2_500_000


def kk_of(n: int) -> str:
    return f"62090{n:011d}"


async def publish_households(settings: CommonSettings, rows: int) -> None:
    """`rows` households, registered and enrolled a year ago, as the registry publishes them."""
    secret = settings.keyed_hash_secret()
    at = datetime.now(UTC) - timedelta(days=365)
    producer = AIOKafkaProducer(**settings.kafka_connection().client_options(), linger_ms=20)
    await producer.start()
    try:
        topic = settings.topic("households")
        sent = []
        for n in range(rows):
            household = uuid.uuid4()
            for event in (
                HouseholdRegisteredV1(
                    household_id=household,
                    village_code="62.09.01.2003",
                    welfare_decile=2,
                    member_count=1,
                    kk_hash=keyed_hash(secret, kk_of(n)),
                    registered_at=at,
                    household_version=1,
                ),
                HouseholdEnrolledV1(
                    household_id=household,
                    cohort_year=at.year,
                    enrolling_agency="dinsos",
                    enrolled_at=at + timedelta(minutes=1),
                    household_version=2,
                ),
            ):
                record = envelope_for(
                    event, source="/gayari/registry", correlation_id="bench"
                ).to_kafka(topic)
                sent.append(
                    await producer.send(
                        record.topic, record.value, key=record.key, headers=record.headers
                    )
                )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def until_known(database_url: str, rows: int, timeout_s: float = 300) -> None:
    conn = await connect(database_url)
    try:
        async with asyncio.timeout(timeout_s):
            while (
                await conn.fetchval(
                    "SELECT count(*) FROM known_households "
                    "WHERE kk_hash IS NOT NULL AND enrolled_at IS NOT NULL"
                )
                < rows
            ):
                await asyncio.sleep(0.5)
    finally:
        await conn.close()


def grants_file(path: Path, rows: int) -> None:
    """The grants template's two header rows and one capital grant per household, by KK."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Hibah")
    sheet.append(["Referensi baris", "Nomor KK", "Jenis hibah", "Jumlah (Rp)", "Tujuan"])
    sheet.append(["row_ref", "kk", "kind", "amount_idr", "purpose"])
    for n in range(rows):
        kk = WriteOnlyCell(sheet, value=kk_of(n))
        kk.number_format = "@"
        sheet.append([f"HBH-{n:06d}", kk, "modal", AMOUNT, "Modal usaha warung sembako"])
    book.save(path)


async def progress_grants(http: httpx.AsyncClient, url: str, key: str) -> tuple[int, int]:
    reply = await http.get(f"{url}/progress", headers={"Authorization": f"Bearer {key}"})
    grants = reply.json()["grants"]
    return int(grants["count"]), int(grants["total_idr"])


async def upload(http: httpx.AsyncClient, url: str, key: str, content: bytes) -> dict[str, int]:
    reply = await http.post(
        f"{url}/imports/grants",
        content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": XLSX},
    )
    if reply.status_code != 200:
        raise SystemExit(f"the import was refused ({reply.status_code}): {reply.text[:500]}")
    items = (i.strip().partition("=") for i in reply.headers["gayari-import-summary"].split(","))
    return {name: int(value) for name, _, value in items} | {"result_bytes": len(reply.content)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("GAYARI_LOG_LEVEL", "WARNING")
    base = CommonSettings()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    keys = KeyFile(work / "api-keys.json")
    agency_key, record = issue_key("bench distakan", {Role.INTERVENTIONS_WRITE}, agency="distakan")
    keys.add(record)
    reader_key, record = issue_key("bench reader", {Role.REPORTING_READ})
    keys.add(record)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={"topic_prefix": prefix, "api_keys_file": work / "api-keys.json"}
    )
    databases = DatabaseFactory()
    running = running_services(databases, settings, work)
    try:
        services = await anext(running)
        interventions, reporting = services["interventions"], services["reporting"]
        print(f"services up (logs in {work}); {args.rows} households ...", file=sys.stderr)
        await publish_households(settings, args.rows)
        await until_known(interventions.env["GAYARI_INTERVENTIONS_DATABASE_URL"], args.rows)
        sheet = work / "hibah.xlsx"
        grants_file(sheet, args.rows)
        content = sheet.read_bytes()
        print(f"importing {sheet} ({len(content):,} bytes) ...", file=sys.stderr)
        async with httpx.AsyncClient(timeout=3600) as http:
            started = time.perf_counter()
            first = await upload(http, interventions.url, agency_key, content)
            answered = time.perf_counter() - started
            expected = (args.rows, args.rows * AMOUNT)
            while await progress_grants(http, reporting.url, reader_key) != expected:
                if time.perf_counter() - started > answered + 600:
                    raise SystemExit("reporting did not count every grant within 10 minutes")
                await asyncio.sleep(0.05)
            visible = time.perf_counter() - started
            began = time.perf_counter()
            second = await upload(http, interventions.url, agency_key, content)
            again = time.perf_counter() - began
        return {
            "rows": args.rows,
            "file_bytes": len(content),
            "format": "xlsx, one request",
            "upload": {"seconds": round(answered, 2), "rows_per_s": round(args.rows / answered)},
            "end_to_end": {"seconds": round(visible, 2), "rows_per_s": round(args.rows / visible)},
            "again": {"seconds": round(again, 2), "rows_per_s": round(args.rows / again)},
            "first_summary": first,
            "second_summary": second,
            "cpus": os.cpu_count(),
            "logs": str(work),
        }
    finally:
        if isinstance(running, AsyncGenerator):  # kills the services it started
            await running.aclose()
        await databases.drop_all()
        with contextlib.suppress(Exception):
            await delete_topics_with_prefix(base.kafka_connection(), prefix + ".")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000, help="grants in the file")
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "bench_import.json")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(
        f"{results['rows']:,} rows, {results['file_bytes']:,} bytes XLSX: upload "
        f"{results['upload']['rows_per_s']:,} rows/s ({results['upload']['seconds']} s), "
        f"visible in reporting {results['end_to_end']['rows_per_s']:,} rows/s "
        f"({results['end_to_end']['seconds']} s), again (unchanged) "
        f"{results['again']['rows_per_s']:,} rows/s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
