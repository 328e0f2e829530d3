"""An agency imports its spreadsheets against the three services as real processes: the template
downloaded, filled in with openpyxl (or written as CSV), uploaded over HTTP and with the CLI,
the result spreadsheet read back; the records reach the read models, a second upload changes
nothing, a corrected row changes only its record, and each bad row is refused with its reason."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from gayari_shared.events.interventions import JAKARTA
from gayari_shared.postgres import connect
from tests.conftest import KeySet
from tests.e2e.conftest import Service
from tests.processes import BIN

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TODAY = datetime.now(JAKARTA).date()
KKS = ("6209031204900001", "6209031204900002", "6209031204900003")
# How long a step may take to reach the other services (Kafka, then their consumers): generous,
# for a machine shared with other runs.
WAIT_S = 90


async def register_households(http: httpx.AsyncClient, registry: Service, key: str) -> list[str]:
    """Three households, registered and enrolled; their ids."""
    ids = []
    for n, kk in enumerate(KKS, start=1):
        reply = await http.post(
            f"{registry.url}/households",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "kk": kk,
                "head_name": f"Kepala {n}",
                "village_code": "62.09.01.2003",
                "welfare_decile": 2,
                "members": [
                    {
                        "name": f"Kepala {n}",
                        "nik": f"62090155038500{n:02d}",
                        "sex": "F",
                        "birth_date": "1985-03-15",
                        "relationship": "head",
                    }
                ],
            },
        )
        assert reply.status_code == 201, reply.text
        household_id = reply.json()["id"]
        reply = await http.post(
            f"{registry.url}/households/{household_id}/enrolment",
            headers={"Authorization": f"Bearer {key}"},
            json={"cohort_year": 2026},
        )
        assert reply.status_code == 201, reply.text
        ids.append(household_id)
    return ids


async def known_to_interventions(interventions: Service, count: int) -> None:
    """Until the interventions service has learnt the households (with their KKs' hashes)."""
    conn = await connect(interventions.env["GAYARI_INTERVENTIONS_DATABASE_URL"])
    try:
        async with asyncio.timeout(WAIT_S):
            while (
                await conn.fetchval(
                    "SELECT count(*) FROM known_households "
                    "WHERE kk_hash IS NOT NULL AND enrolled_at IS NOT NULL"
                )
                < count
            ):
                await asyncio.sleep(0.2)
    finally:
        await conn.close()


def filled(template: bytes, rows: list[list[Any]]) -> bytes:
    """The template with rows below its example, as an office fills it in."""
    book = load_workbook(io.BytesIO(template))
    sheet = book.worksheets[0]
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def result_rows(content: bytes) -> dict[str, dict[str, Any]]:
    """The result spreadsheet's rows by their reference, each as {key: value}."""
    book = load_workbook(io.BytesIO(content), read_only=True)
    labels, keys, *rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert labels[0] == "Referensi baris" and "Alasan" in labels
    assert keys[:2] == ("row_ref", "kk") and keys[-6:] == (
        "row",
        "status",
        "record_id",
        "column",
        "reason_id",
        "reason_en",
    )
    # An empty cell is not stored: a row read back ends at its last value.
    return {
        row[0]: dict(zip(keys, row + (None,) * (len(keys) - len(row)), strict=True)) for row in rows
    }


def summary(reply: httpx.Response) -> dict[str, int]:
    items = (
        item.strip().partition("=") for item in reply.headers["gayari-import-summary"].split(",")
    )
    return {name: int(value) for name, _, value in items}


async def grants_seen(http: httpx.AsyncClient, reporting: Service, key: str, count: int) -> Any:
    """Reporting's progress once it counts `count` grants (or after WAIT_S, to fail on)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            progress = (
                await http.get(
                    f"{reporting.url}/progress", headers={"Authorization": f"Bearer {key}"}
                )
            ).json()
            if progress["grants"]["count"] == count:
                return progress
            await asyncio.sleep(0.3)


def grant_rows(ids: list[str], amount: int) -> list[list[Any]]:
    """Three good rows (by KK, by household id, equipment) and three bad ones."""
    none = [None] * 4
    return [
        ["G-1", KKS[0], None, "modal", 2_500_000, *none, "Modal warung", 2026, None],
        ["G-2", None, ids[1], "peralatan", None, "Bibit ikan nila", 500, "ekor", 300, "Kolam"],
        # A KK typed as a number: the spreadsheet has rounded it.
        ["G-3", 6209031204900001, None, "modal", 1_000_000, *none, "Modal", None, None],
        # An amount typed as text, the Indonesian way.
        ["G-4", KKS[1], None, "modal", "2.500.000", *none, "Modal", None, None],
        # A KK the registry never registered.
        ["G-5", "6209999999999999", None, "modal", 1_000_000, *none, "Modal", None, None],
        ["G-6", KKS[2], None, "modal", amount, *none, "Modal bengkel", None, None],
    ]


async def test_an_agency_imports_its_grants_over_http_and_with_the_cli(
    services: dict[str, Service], api_keys: KeySet, tmp_path: Path
) -> None:
    registry, interventions, reporting = (
        services["registry"],
        services["interventions"],
        services["reporting"],
    )
    distakan = api_keys.agencies["distakan"]
    bearer = {"Authorization": f"Bearer {distakan}"}
    async with httpx.AsyncClient(timeout=60) as http:
        ids = await register_households(http, registry, api_keys.agencies["dinsos"])
        await known_to_interventions(interventions, len(ids))
        template = await http.get(f"{interventions.url}/imports/templates/grants.xlsx")
        assert template.status_code == 200
        assert template.headers["content-type"] == XLSX
        upload = filled(template.content, grant_rows(ids, 1_000_000))

        reply = await http.post(
            f"{interventions.url}/imports/grants",
            content=upload,
            headers={**bearer, "Content-Type": XLSX},
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == XLSX
        rows = result_rows(reply.content)
        assert summary(reply) == {
            "rows": 7,
            "recorded": 3,
            "unchanged": 0,
            "corrected": 0,
            "refused": 3,
            "skipped": 1,
        }
        assert rows["CONTOH-1"]["status"].startswith("dilewati")
        for ref in ("G-1", "G-2", "G-6"):
            assert rows[ref]["status"] == "tercatat (recorded)", rows[ref]
            uuid.UUID(rows[ref]["record_id"])
        assert {ref: rows[ref]["column"] for ref in ("G-3", "G-4", "G-5")} == {
            "G-3": "kk",
            "G-4": "amount_idr",
            "G-5": "kk",
        }
        for ref in ("G-3", "G-4", "G-5"):
            assert rows[ref]["status"] == "ditolak (refused)"
            assert rows[ref]["reason_id"].startswith(
                f"Kolom «{'Nomor KK' if ref != 'G-4' else 'Jumlah (Rp)'}»"
            )
            assert rows[ref]["reason_en"].startswith("Column ")
        assert "teks" in rows["G-4"]["reason_id"] and "text" in rows["G-4"]["reason_en"]
        assert rows["G-2"]["row"] == 5  # the file's own row numbers (two headers, the example)

        progress = await grants_seen(http, reporting, api_keys.reporting, 3)
        assert progress["grants"]["total_idr"] == 2_500_000 + 150_000 + 1_000_000

        # The same file again: nothing changes.
        again = await http.post(
            f"{interventions.url}/imports/grants",
            content=upload,
            headers={**bearer, "Content-Type": XLSX},
        )
        assert again.status_code == 200, again.text
        assert summary(again)["unchanged"] == 3 and summary(again)["recorded"] == 0
        assert {ref: r["record_id"] for ref, r in result_rows(again.content).items()} == {
            ref: r["record_id"] for ref, r in rows.items()
        }
        listed = await http.get(f"{interventions.url}/grants", headers=bearer)
        assert len([g for g in listed.json()["items"] if g["void"] is None]) == 3

        await correct_with_the_cli(
            http,
            services,
            api_keys,
            template=template.content,
            ids=ids,
            rows=rows,
            tmp_path=tmp_path,
        )


async def correct_with_the_cli(
    http: httpx.AsyncClient,
    services: dict[str, Service],
    api_keys: KeySet,
    *,
    template: bytes,
    ids: list[str],
    rows: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    """The CLI, with G-6 corrected: only that record changes (voided and recorded again)."""
    interventions, reporting = services["interventions"], services["reporting"]
    distakan = api_keys.agencies["distakan"]
    corrected = tmp_path / "hibah.xlsx"
    corrected.write_bytes(filled(template, grant_rows(ids, 1_200_000)))
    key_file = tmp_path / "distakan.key"
    key_file.write_text(distakan)
    out = tmp_path / "hasil.xlsx"
    done = subprocess.run(
        [
            str(BIN / "gayari-interventions-import"),
            "grants",
            str(corrected),
            "--url",
            interventions.url,
            "--key-file",
            str(key_file),
            "--out",
            str(out),
            "--chunk-rows",
            "2",  # several requests: rows keep their numbers across them
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # some rows refused
    assert "1 corrected" in done.stdout and "2 unchanged" in done.stdout, done.stdout
    by_ref = result_rows(out.read_bytes())
    assert by_ref["G-6"]["status"] == "dikoreksi (corrected)"
    assert by_ref["G-6"]["record_id"] != rows["G-6"]["record_id"]
    assert rows["G-6"]["record_id"] in by_ref["G-6"]["reason_en"]
    assert by_ref["G-1"]["record_id"] == rows["G-1"]["record_id"]
    assert [r["row"] for r in by_ref.values()] == [3, 4, 5, 6, 7, 8, 9]
    assert by_ref["G-5"]["column"] == "kk"

    async with asyncio.timeout(WAIT_S):
        while True:
            progress = await grants_seen(http, reporting, api_keys.reporting, 3)
            if progress["grants"]["total_idr"] == 2_500_000 + 150_000 + 1_200_000:
                break
            await asyncio.sleep(0.3)
    by_agency = {row["agency"]: row for row in progress["agencies"]}
    assert by_agency["distakan"]["grants"]["count"] == 3


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


async def test_a_training_is_imported_as_csv_sessions_participants_and_completions(
    services: dict[str, Service], api_keys: KeySet, tmp_path: Path
) -> None:
    registry, interventions, reporting = (
        services["registry"],
        services["interventions"],
        services["reporting"],
    )
    dispar = api_keys.agencies["dispar"]
    bearer = {"Authorization": f"Bearer {dispar}"}
    async with httpx.AsyncClient(timeout=60) as http:
        ids = await register_households(http, registry, api_keys.agencies["dinsos"])
        await known_to_interventions(interventions, len(ids))
        members = []
        for household_id in ids:
            household = await http.get(f"{registry.url}/households/{household_id}", headers=bearer)
            members.append(household.json()["members"][0]["member_id"])
        template = (
            await http.get(f"{interventions.url}/imports/templates/training-sessions.csv")
        ).text
        started = TODAY - timedelta(days=1)
        sessions = template + _csv(
            [
                [
                    "S-1",
                    "Pengelolaan homestay",
                    started.isoformat(),
                    TODAY.isoformat(),
                    16,
                    "Balai Desa",
                ]
            ]
        )
        reply = await http.post(
            f"{interventions.url}/imports/training-sessions",
            content=sessions.encode(),
            headers={**bearer, "Content-Type": "text/csv"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/csv")
        assert summary(reply)["recorded"] == 1

        # One header row of machine keys only (as a program writes it), by the CLI.
        participants = tmp_path / "peserta.csv"
        participants.write_text(
            _csv(
                [
                    ["row_ref", "session_ref", "kk", "member_id"],
                    ["P-1", "S-1", KKS[0], members[0]],
                    ["P-2", "S-1", KKS[1], members[1]],
                    ["P-3", "S-9", KKS[2], members[2]],  # no such session imported
                ]
            )
        )
        key_file = tmp_path / "dispar.key"
        key_file.write_text(dispar)
        out = tmp_path / "peserta.hasil.csv"
        done = subprocess.run(
            [
                str(BIN / "gayari-interventions-import"),
                "training-participants",
                str(participants),
                "--url",
                interventions.url,
                "--key-file",
                str(key_file),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        with out.open(encoding="utf-8") as handle:
            _, keys, *rows = list(csv.reader(handle))
        assert keys[:4] == ["row_ref", "session_ref", "kk", "member_id"]
        statuses = {row[0]: (row[keys.index("status")], row[keys.index("column")]) for row in rows}
        assert statuses == {
            "P-1": ("tercatat (recorded)", ""),
            "P-2": ("tercatat (recorded)", ""),
            "P-3": ("ditolak (refused)", "session_ref"),
        }

        completions = _csv(
            [
                ["row_ref", "session_ref", "household_id", "member_id", "completed_on"],
                ["L-1", "S-1", ids[0], members[0], TODAY.isoformat()],
                ["L-2", "S-1", ids[1], members[1], "05/12/2026"],  # not YYYY-MM-DD
                ["L-3", "S-1", ids[2], members[2], TODAY.isoformat()],  # not a participant
            ]
        )
        reply = await http.post(
            f"{interventions.url}/imports/training-completions",
            content=completions.encode(),
            headers={**bearer, "Content-Type": "text/csv"},
        )
        assert reply.status_code == 200, reply.text
        _, keys, *rows = list(csv.reader(io.StringIO(reply.text)))
        statuses = {row[0]: (row[keys.index("status")], row[keys.index("column")]) for row in rows}
        assert statuses == {
            "L-1": ("tercatat (recorded)", ""),
            "L-2": ("ditolak (refused)", "completed_on"),
            "L-3": ("ditolak (refused)", "member_id"),
        }
        async with asyncio.timeout(WAIT_S):
            while True:
                progress = (
                    await http.get(
                        f"{reporting.url}/progress",
                        headers={"Authorization": f"Bearer {api_keys.reporting}"},
                    )
                ).json()
                if progress["trainings_completed"] == 1:
                    break
                await asyncio.sleep(0.3)

        # A malformed file: one clear problem, nothing imported.
        reply = await http.post(
            f"{interventions.url}/imports/training-completions",
            content=b"completely,unrelated\n1,2\n",
            headers={**bearer, "Content-Type": "text/csv"},
        )
        assert reply.status_code == 422
        assert reply.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in reply.json()["errors"]] == ["row_ref"]
        reply = await http.post(
            f"{interventions.url}/imports/grants",
            content=b"PK\x03\x04 not really a workbook",
            headers={**bearer, "Content-Type": XLSX},
        )
        assert reply.status_code == 422, reply.text
        assert "XLSX" in reply.json()["detail"]
