"""Replay on real Kafka and PostgreSQL: every read model rebuilt from offset 0 into a new
generation while the old one keeps serving, an atomic switch the live projector follows, and an
"as of" rebuild read as a period report; the command line shows its progress."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gayari_reporting.adapters.generations import READ_MODELS, Generations, use_active
from gayari_reporting.bootstrap import create_app
from gayari_reporting.domain.recount import from_envelopes, recount
from gayari_reporting.entrypoints.rebuild import rebuild
from gayari_reporting.settings import ReportingSettings
from gayari_shared.events.contracts import DOMAIN_STREAMS
from gayari_shared.events.envelope import Envelope
from gayari_shared.migrations import apply
from gayari_shared.postgres import Pool, create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_projection_offsets import NOW, programme
from tests.integration.test_reporting_read_models import publish

pytestmark = pytest.mark.stack
BIN = Path(sys.executable).parent


@dataclass
class Reporting:
    http: httpx.AsyncClient
    pool: Pool  # a pool of the test's own, as the replay command has
    settings: ReportingSettings


@asynccontextmanager
async def reporting(
    databases: DatabaseFactory, common: CommonSettings, keys: KeySet
) -> AsyncIterator[Reporting]:
    settings = ReportingSettings(
        database_url=await databases.create("reporting", migrated="reporting"),
        consumer_group=f"replay-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(common, settings)
    pool = await create_pool(settings.database_url)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test",
                headers=keys.bearer(keys.reporting),
            ) as http,
        ):
            yield Reporting(http, pool, settings)
    finally:
        await pool.close()


async def summary(r: Reporting, **params: str) -> dict[str, object]:
    response = await r.http.get("/summary", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def registered(r: Reporting, **params: str) -> int:
    households = (await summary(r, **params))["households"]
    assert isinstance(households, dict)
    return int(households["registered"])


async def until_registered(r: Reporting, households: int) -> None:
    async with asyncio.timeout(60):
        while await registered(r) != households:
            await asyncio.sleep(0.2)


async def test_replay_rebuilds_beside_the_live_models_and_switches_atomically(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    first, during, after = programme(150), programme(100), programme(50)
    await publish(isolated_settings, first)
    async with reporting(databases, isolated_settings, api_keys) as r:
        await until_registered(r, 150)
        old = await Generations(r.pool).active()
        admin = api_keys.bearer(api_keys.admin)
        case = await r.http.get(f"/households/{first[0].subject}/case", headers=admin)
        assert case.status_code == 200, case.text

        # Readers and writers carry on while the rebuild runs.
        seen: list[int] = []
        stop = asyncio.Event()

        async def read() -> None:
            while not stop.is_set():
                seen.append(await registered(r))
                await asyncio.sleep(0.01)

        async def write() -> None:
            for start in range(0, len(during), 20):
                await publish(isolated_settings, during[start : start + 20])
                await asyncio.sleep(0.05)

        reader, writer = asyncio.create_task(read()), asyncio.create_task(write())
        result = await rebuild(
            database=r.settings.database(),
            kafka=isolated_settings.kafka_connection(),
            topics=[isolated_settings.topic(s) for s in DOMAIN_STREAMS],
            group_id=r.settings.consumer_group,
            max_records=40,  # many batches, so the readers overlap the build
            workers=2,
        )
        await writer
        await publish(isolated_settings, after)  # after the switch: the live projector's work
        await until_registered(r, 300)
        stop.set()
        await reader

        assert result.replaced == old and result.generation != old
        assert result.events >= 300  # everything before the switch was read from offset 0
        # Never a half-built generation: no read saw fewer households than before the replay.
        assert len(seen) > 10 and min(seen) >= 150, seen[:20]
        listed = {g["name"]: g for g in (await r.http.get("/generations")).json()}
        assert listed[result.generation]["state"] == "active"
        assert listed[old]["state"] == "retired"

        # Exactly once: the figures come to the recount of every event published, none twice
        # (grants travel on their own topic, so they may land a moment after the households).
        expected = recount(from_envelopes([*first, *during, *after]))
        figures = await summary(r)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                while figures["idr_disbursed"] != expected.idr_disbursed:
                    await asyncio.sleep(0.2)
                    figures = await summary(r)
        assert figures["idr_disbursed"] == expected.idr_disbursed
        assert figures["interventions"] == expected.interventions

        await Generations(r.pool).drop(old)
        assert old not in {g["name"] for g in (await r.http.get("/generations")).json()}
        assert await registered(r) == 300
        # The audit trail is no read model: neither the replay nor the drop touched it.
        audited = (await r.http.get("/audit", headers=admin)).json()["records"]
        assert [(a["operation"], a["household_ids"]) for a in audited] == [
            ("read:case", [first[0].subject])
        ]


def at(envelope: Envelope, moment: datetime) -> Envelope:
    return envelope.model_copy(update={"time": moment})


async def test_as_of_rebuild_is_a_period_report_read_by_name(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    now = datetime.now(UTC)
    june = [at(e, now - timedelta(days=60)) for e in programme(20)]
    july = [at(e, now - timedelta(days=20)) for e in programme(30)]
    await publish(isolated_settings, [*july[:10], *june, *july[10:]])  # time order not needed
    async with reporting(databases, isolated_settings, api_keys) as r:
        await until_registered(r, 50)
        cut = now - timedelta(days=40)
        env = {
            **os.environ,
            "GAYARI_TOPIC_PREFIX": isolated_settings.topic_prefix,
            "GAYARI_REPORTING_DATABASE_URL": r.settings.database_url,
            "GAYARI_REPORTING_CONSUMER_GROUP": r.settings.consumer_group,
        }
        done = subprocess.run(
            [str(BIN / "gayari-reporting-replay"), "--as-of", cut.isoformat()],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "as-of rebuild" in done.stderr and "100%" in done.stderr  # the progress bar
        name = done.stdout.split(":", 1)[0]
        assert name.startswith("rm_asof_"), done.stdout

        assert await registered(r, snapshot=name) == 20  # only what was known by the cut-off
        assert await registered(r) == 50  # the live read models did not move
        exported = await r.http.get("/exports/summary.csv", params={"snapshot": name})
        assert exported.status_code == 200
        listed = {g["name"]: g for g in (await r.http.get("/generations")).json()}
        assert listed[name]["kind"] == "as-of" and listed[name]["state"] == "ready"
        # The monthly report of the programme's month, from the as-of report and from the live
        # read models: the households registered that month as each knows them.
        for snapshot, households in ((name, 20), (None, 50)):
            params = {"month": f"{NOW:%Y-%m}", "area": "62.09"} | (
                {"snapshot": snapshot} if snapshot else {}
            )
            report = await r.http.get("/reports/monthly", params=params)
            assert report.status_code == 200, report.text
            row = re.search(r'Rumah tangga terdaftar</td><td class="num">([0-9.]+)<', report.text)
            assert row is not None and row.group(1) == str(households)
            assert (f"<strong>{name}</strong>" in report.text) == (snapshot is not None)

        for bad in ("rm_asof_20990101_000000_20990101_000000", "public", "x; DROP TABLE grants"):
            refused = await r.http.get("/summary", params={"snapshot": bad})
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["field"] == "query.snapshot"

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(BIN / "gayari-reporting-replay"), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        listing = cli("--list")
        assert listing.returncode == 0 and name in listing.stdout and "active" in listing.stdout
        refused_drop = cli("--drop", str(await Generations(r.pool).active()))
        assert refused_drop.returncode == 1 and "active" in refused_drop.stderr

        kept = cli("--check-tallies")
        assert kept.returncode == 0 and "tally_reach: 0 rows differ" in kept.stdout, kept
        async with r.pool.acquire() as conn, conn.transaction():
            await use_active(conn)
            await conn.execute("UPDATE tally_reach SET households = households + 1")
        broken = cli("--check-tallies")
        assert broken.returncode == 1 and "tally_reach: 0 rows" not in broken.stdout, broken


async def test_a_deployment_from_before_generations_is_replaced_and_dropped(
    databases: DatabaseFactory,
) -> None:
    pool = await create_pool(await databases.create("legacy"))
    try:
        async with pool.acquire() as conn:  # the layout before generations: public
            await apply(conn, READ_MODELS)
        generations = Generations(pool)
        assert await generations.prepare() == "public"
        rebuilt = await generations.create()
        assert await generations.switch(rebuilt, events=0) == "public"
        await generations.drop("public")

        assert [g.schema for g in await generations.all()] == [rebuilt]
        async with pool.acquire() as conn:
            left = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        # The control tables stay, and the audit trail, which no generation holds.
        assert {r["table_name"] for r in left} == {
            "schema_migrations",
            "read_model_generations",
            "audit_log",
        }
        assert await generations.prepare() == rebuilt  # and a restart stays on the new one
    finally:
        await pool.close()
