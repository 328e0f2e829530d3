"""`make demo`'s simulation (deploy/local/demo.py) run against the services as processes on
ports of their own: a year of the programme that every view shows something of, an agency's
system publishing on its intake topic among it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.demo_intake import INTAKE_AGENCY, IntakeRecord
from deploy.local.demo_year import INTAKE_GRANTS, first_of_month
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.settings import CommonSettings
from tests.conftest import KeySet
from tests.kafka_tools import read_all
from tests.processes import Service

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "local" / "demo.py"


async def test_the_demo_simulates_a_year_that_every_view_shows(
    services: dict[str, Service],
    api_keys: KeySet,
    isolated_settings: CommonSettings,
    tmp_path: Path,
) -> None:
    keys = tmp_path / "dev-keys.json"
    keys.write_text(
        json.dumps(
            {
                "admin": api_keys.admin,
                "reporting": api_keys.reporting,
                "agencies": api_keys.agencies,
            }
        )
    )
    urls = [f"--{name}={service.url}" for name, service in services.items()]
    # The intake agency logs in with the stack's credentials (GAYARI_CACHE_DIR, as the tests').
    urls.append(f"--topic-prefix={isolated_settings.topic_prefix}")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(DEMO), "--keys", str(keys), "--seed", "20", *urls],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    print(f"demo took {took:.1f} s\n{done.stdout}")
    today = datetime.now(JAKARTA).date()
    month = today.strftime("%Y-%m")
    reporting = services["reporting"].url
    assert f"{reporting}/reports/monthly?month={month}&area=62.09" in done.stdout

    reader = api_keys.bearer(api_keys.reporting)
    async with httpx.AsyncClient(timeout=30, headers=reader, base_url=reporting) as http:

        async def get(path: str) -> Any:
            reply = await http.get(path)
            assert reply.status_code == 200, (path, reply.text)
            return reply.json()

        months = (await get("/timeseries"))["months"]
        expected = [first_of_month(today, back).strftime("%Y-%m") for back in range(11, -1, -1)]
        assert [m["month"] for m in months] == expected
        # Enrolments spread over the year, agencies reaching households in most months.
        assert all(m["households_enrolled"] > 0 for m in months)
        assert sum(m["grants"] > 0 for m in months) >= 10
        assert sum(m["mentoring_visits"] > 0 for m in months) >= 8
        assert sum(m["households_graduated"] for m in months) > 0
        assert (await get("/unserved"))["households"] > 0
        assert (await get("/double-funding"))["total"] > 0
        convergence = await get("/convergence")
        reached_by = {r["agencies"]: r["households"] for r in convergence["reached_by"]}
        assert reached_by.get(1, 0) > 0 and reached_by.get(2, 0) > 0, reached_by
        # Some households no agency ever reached.
        assert convergence["enrolled_households"] > convergence["households_reached"]
        agencies = (await get("/agencies"))["agencies"]
        assert all(a["households_reached"] > 0 for a in agencies)
        outcomes = await get("/outcomes")
        assert outcomes["graduated"] > 0, outcomes
        graduated = re.search(r"(\d+) graduated", done.stdout)
        assert graduated is not None
        assert outcomes["exits_by_reason"]["graduated"] == int(graduated.group(1))
        assert outcomes["income"]["households_surveyed_twice"] > 0, outcomes
        report = await http.get(f"/reports/monthly?month={month}&area=62.09")
        assert report.status_code == 200
        # The intake agency's mistakes, refused and counted by agency and reason.
        refusals = (await get("/data-quality"))["intake_refusals"]
        by_reason = {
            (r["agency"], r["reason"]): r["refusals"] for r in refusals["by_agency_and_reason"]
        }
        assert by_reason == {
            (INTAKE_AGENCY, "invalid-data"): 2,
            (INTAKE_AGENCY, "rule-violation"): 1,
            (INTAKE_AGENCY, "household-not-known-yet"): 1,
        }
        assert refusals["total"] == 4
        assert "intake records refused (data quality) 4" in done.stdout
    await assert_intake_grants_in_read_models(isolated_settings, services, api_keys)


async def assert_intake_grants_in_read_models(
    settings: CommonSettings, services: dict[str, Service], api_keys: KeySet
) -> None:
    """Every record of the agency's intake topic that was not dead-lettered is a grant of that
    agency in its household's case, on its day and for its amount."""
    kafka = settings.kafka_connection()
    published = await read_all(kafka, settings.intake_topic(INTAKE_AGENCY))
    dead = await read_all(kafka, settings.deadletter_topic)
    # A dead letter keeps the refused record's headers, its ce_id among them.
    refused = {dict(r.headers).get("ce_id") for r in dead}
    taken = [
        IntakeRecord(Envelope.from_kafka(r.key, r.value, list(r.headers)))
        for r in published
        if dict(r.headers)["ce_id"] not in refused
    ]
    assert len(published) == len(taken) + 4
    assert len(taken) == INTAKE_GRANTS
    admin = api_keys.bearer(api_keys.admin)
    async with httpx.AsyncClient(
        timeout=30, headers=admin, base_url=services["reporting"].url
    ) as http:
        for record in taken:
            data = record.envelope.data
            reply = await http.get(f"/households/{data['household_id']}/case")
            assert reply.status_code == 200, reply.text
            grants = [
                (e["on"], e["amount_idr"])
                for e in reply.json()["entries"]
                if e["record_type"] == "grant" and e["agency"] == INTAKE_AGENCY
            ]
            assert (data["issued_on"], record.amount_idr) in grants, (data, grants)
