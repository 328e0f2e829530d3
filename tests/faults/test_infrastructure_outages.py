"""The broker stopped for 30 s during HTTP writes, PostgreSQL restarted under load, and a full
replay into a fresh read model: every accepted write reaches the read model exactly once.

These stop and start the shared local stack (deploy/local/stack.py), so they run last."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import DatabaseFactory, KeySet
from tests.faults.conftest import record_figures
from tests.faults.load import Load, household_body, reporting_totals
from tests.faults.test_process_kills import converge
from tests.processes import Service, free_port

pytestmark = [pytest.mark.stack, pytest.mark.faults]
STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.py"


def stack(command: str, component: str) -> None:
    subprocess.run(
        [sys.executable, str(STACK), command, "--only", component],
        check=True,
        timeout=180,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ),
    )


async def accepted_during(load: Load, seconds: float, households: int) -> int:
    """Runs the load for a while; returns how many rounds it completed."""
    rounds = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await load.run(households, workers=3)
        rounds += 1
    return rounds


async def test_broker_down_for_30_seconds_during_http_writes(
    services: dict[str, Service], api_keys: KeySet
) -> None:
    load = Load(services, api_keys, seed=21)
    await load.run(10, workers=3)  # enrolled households interventions already knows
    known = sorted(load.truth.households)
    stack("stop", "kafka")
    try:
        started = time.monotonic()
        registered = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while time.monotonic() - started < 30:
                # Registrations and grants go to the outboxes: they succeed with Kafka down.
                reply = await load.post(
                    client, "registry", "/households", "dinsos", _household(registered)
                )
                assert reply is not None and reply.status_code == 201, reply
                load.truth.households.add(reply.json()["id"])
                registered += 1
                household = known[registered % len(known)]
                grant = await load.post(
                    client,
                    "interventions",
                    "/grants",
                    "dinsos",
                    {
                        "household_id": household,
                        "kind": "capital",
                        "amount_idr": 1_000_000,
                        "purpose": "Modal usaha",
                    },
                )
                assert grant is not None and grant.status_code == 201, grant
                load.truth.grants[grant.json()["id"]] = 1_000_000
                await asyncio.sleep(0.2)
    finally:
        stack("start", "kafka")
    await _settle(services, api_keys, load, "Kafka broker stopped for 30 s during HTTP writes")


async def test_postgresql_restart_under_load(
    services: dict[str, Service], api_keys: KeySet
) -> None:
    load = Load(services, api_keys, seed=33)
    task = asyncio.create_task(load.run(60, workers=4))
    await asyncio.sleep(3)
    stack("stop", "postgres")
    await asyncio.sleep(2)
    stack("start", "postgres")
    await task
    await _settle(services, api_keys, load, "PostgreSQL restarted under load")


async def test_full_replay_into_a_fresh_read_model(
    services: dict[str, Service], api_keys: KeySet, databases: DatabaseFactory, tmp_path: Path
) -> None:
    load = Load(services, api_keys, seed=44)
    await load.run(40, workers=4)
    _, _, projected = await converge(services, api_keys)
    first = services["reporting"]
    port = free_port()
    fresh = Service(
        "reporting",
        port,
        {
            **first.env,
            "GAYARI_REPORTING_HTTP_PORT": str(port),
            "GAYARI_REPORTING_DATABASE_URL": await databases.create("replay", migrated="reporting"),
            # Under the test's group prefix: its ACL covers it (tests/processes.py).
            "GAYARI_REPORTING_CONSUMER_GROUP": (
                f"{first.env['GAYARI_REPORTING_CONSUMER_GROUP']}-replay-{uuid.uuid4().hex[:8]}"
            ),
        },
        tmp_path / "replay.log",
    )
    fresh.start()
    try:
        await fresh.wait_ready()
        async with asyncio.timeout(60):
            while (replayed := await reporting_totals(fresh, api_keys)) != projected:
                await asyncio.sleep(0.5)
    finally:
        fresh.kill()
    record_figures(
        "full replay into a fresh read model",
        requests=load.truth.requests,
        households=len(load.truth.households),
        grants=len(load.truth.grants),
        grants_unknown=0,
        lost=max(0, projected[1] - replayed[1]),
        counted_twice=max(0, replayed[1] - projected[1]),
    )
    assert replayed == projected


def _household(index: int) -> dict[str, object]:
    return household_body(random.Random(index), 5000 + index)


async def _settle(services: dict[str, Service], keys: KeySet, load: Load, fault: str) -> None:
    for service in services.values():
        await service.wait_ready(timeout_s=120)
    households, grants, seen = await converge(services, keys)
    truth = load.truth
    missing = {g for g in truth.grants if grants.get(g) != truth.grants[g]}
    missing_households = truth.households - households
    record_figures(
        fault,
        requests=truth.requests,
        households=len(truth.households),
        grants=len(truth.grants),
        grants_unknown=truth.grants_unknown,
        lost=len(missing) + len(missing_households),
        counted_twice=max(0, seen[1] - len(grants)),
    )
    assert not missing and not missing_households
    assert len(set(grants) - set(truth.grants)) <= truth.grants_unknown
    assert seen == (len(households), len(grants), sum(grants.values()))
