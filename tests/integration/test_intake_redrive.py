"""Dead letters an operator can act on, on the real Kafka and PostgreSQL: intake records
refused are counted in reporting's /data-quality by agency and reason; once the cause is fixed
(the household registered), `gayari-interventions-redrive` sends the agency's refused records
back, and running it twice records each once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gayari_interventions.domain.redrive import RedriveSelection
from gayari_interventions.entrypoints.redrive import parser, redrive, run
from gayari_reporting.bootstrap import create_app as reporting_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_interventions_api import Interventions, known, life, running
from tests.integration.test_interventions_records import get, grant_body, send_intake, until
from tests.kafka_tools import read_all

pytestmark = pytest.mark.stack
GRANT = "gayari.intake.grant.v1"


@pytest.fixture
async def service(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Interventions]:
    url = await databases.create("interventions", migrated="interventions")
    async for running_service in running(isolated_settings, url, api_keys.agencies):
        yield running_service


@pytest.fixture
async def reporting(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ReportingSettings(
        database_url=await databases.create("reporting", migrated="reporting"),
        consumer_group=f"it-{uuid.uuid4().hex[:8]}",
    )
    app = reporting_app(isolated_settings, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers=api_keys.bearer(api_keys.reporting),
        ) as http,
    ):
        yield http


async def refusals(reporting: httpx.AsyncClient, total: int) -> dict[str, Any] | None:
    reply = await reporting.get("/data-quality")
    assert reply.status_code == 200, reply.text
    counted: dict[str, Any] = reply.json()["intake_refusals"]
    return counted if counted["total"] >= total else None


async def test_refusals_are_counted_and_redriven_once_the_cause_is_fixed(
    service: Interventions,
    reporting: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = service.settings
    household = uuid.uuid4()  # not registered yet: its grant is refused
    waiting = await send_intake(
        settings, "distakan", event_type=GRANT, household_id=household, value=grant_body(household)
    )
    # Refused for a reason no redrive fixes, and another agency's refusal: neither is sent.
    await send_intake(
        settings,
        "distakan",
        event_type=GRANT,
        household_id=household,
        value={**grant_body(household), "amount_idr": -5},
    )
    await send_intake(
        settings, "dispar", event_type=GRANT, household_id=household, value=grant_body(household)
    )

    counted = await until(lambda: refusals(reporting, 3))
    by_reason = {(r["agency"], r["reason"]): r["refusals"] for r in counted["by_agency_and_reason"]}
    assert by_reason == {
        ("distakan", "household-not-known-yet"): 1,
        ("distakan", "invalid-data"): 1,
        ("dispar", "household-not-known-yet"): 1,
    }
    assert sum(d["refusals"] for d in counted["by_day"]) == 3

    # The cause fixed: the registry registers and enrols the household.
    await known(service, life(household, [uuid.uuid4()]))
    command = ["--agency", "distakan", "--reason", "household-not-known-yet"]
    assert await run(parser().parse_args([*command, "--dry-run"]), settings) == 0
    assert "1 distinct records), none sent (dry run)" in capsys.readouterr().out
    assert await run(parser().parse_args(command), settings) == 0
    assert "3 dead letters read, 1 of distakan selected" in capsys.readouterr().out

    async def recorded() -> list[dict[str, Any]]:
        reply = await get(service, "distakan", "/grants", external_id=str(waiting))
        items: list[dict[str, Any]] = reply.json()["items"]
        return items

    (grant,) = await until(recorded)
    assert grant["household_id"] == str(household)

    # Again: the same record is sent, and taken as the duplicate it is.
    again = await redrive(
        settings.kafka_connection(),
        settings.deadletter_topic,
        RedriveSelection(settings.intake_topic("distakan"), reason="household-not-known-yet"),
    )
    assert (again.selected, again.sent) == (1, 1)
    # A record sent after it on the same partition (same household): once it is in, the
    # redriven one before it was settled.
    marker = await send_intake(
        settings, "distakan", event_type=GRANT, household_id=household, value=grant_body(household)
    )
    await until(lambda: _grant_with(service, marker))
    assert await service.fetchval("SELECT count(*) FROM grants") == 2
    assert (
        await service.fetchval("SELECT count(*) FROM intake_receipts WHERE event_id = $1", waiting)
        == 1
    )
    # Nothing refused since: three dead letters, three refusals.
    letters = await read_all(settings.kafka_connection(), settings.deadletter_topic)
    assert len(letters) == 3
    await asyncio.sleep(1)
    assert (await refusals(reporting, 3) or {}).get("total") == 3


async def _grant_with(service: Interventions, external_id: uuid.UUID) -> bool:
    reply = await get(service, "distakan", "/grants", external_id=str(external_id))
    return bool(reply.json()["items"])
