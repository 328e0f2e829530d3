"""kill -9 of each service at random moments during a steady load, and two reporting
instances in one consumer group with one killed mid-stream: every accepted write reaches the
read model exactly once."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.conftest import KeySet
from tests.faults.conftest import record_figures
from tests.faults.load import Load, grants_in, households_in, reporting_totals
from tests.processes import Service, free_port

pytestmark = [pytest.mark.stack, pytest.mark.faults]


class Chaos:
    """Kills -9 the victims in turns (a shuffled round each), at random moments, until done,
    restarting each one after a random pause."""

    def __init__(
        self,
        services: dict[str, Service],
        rng: random.Random,
        victims: tuple[str, ...],
        *,
        pause: tuple[float, float] = (0.3, 1.5),
    ) -> None:
        self.services, self.rng, self.victims = services, rng, victims
        self.kills = dict.fromkeys(victims, 0)
        self.pause = pause

    @property
    def every_victim_hit(self) -> bool:
        return all(self.kills.values())

    async def run(self, done: asyncio.Event) -> None:
        turn: list[str] = []
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=self.rng.uniform(*self.pause))
            except TimeoutError:
                turn = turn or self.rng.sample(self.victims, len(self.victims))
                name = turn.pop()
                victim = self.services[name]
                victim.kill()
                self.kills[name] += 1
                await asyncio.sleep(self.rng.uniform(0.2, 1.0))
                victim.start()
                await victim.wait_ready()


async def converge(
    services: dict[str, Service], keys: KeySet
) -> tuple[set[str], dict[str, int], tuple[int, int, int]]:
    """Wait until reporting has projected everything the services hold (or time out)."""
    registry_db = services["registry"].env["GAYARI_REGISTRY_DATABASE_URL"]
    interventions_db = services["interventions"].env["GAYARI_INTERVENTIONS_DATABASE_URL"]
    async with asyncio.timeout(120):
        while True:
            households, grants = await households_in(registry_db), await grants_in(interventions_db)
            seen = await reporting_totals(services["reporting"], keys)
            if seen == (len(households), len(grants), sum(grants.values())):
                return households, grants, seen
            await asyncio.sleep(0.5)


async def run_case(
    fault: str,
    *,
    services: dict[str, Service],
    keys: KeySet,
    seed: int,
    victims: tuple[str, ...],
    households: int,
    keyed: bool = False,
    chaos: Chaos | None = None,
) -> Load:
    rng = random.Random(seed)
    load = Load(services, keys, seed, keyed=keyed)
    done = asyncio.Event()
    chaos = chaos or Chaos(services, rng, victims)
    chaos_task = asyncio.create_task(chaos.run(done))
    try:
        await load.run(households)
        # Go on until every victim was hit and, with keys, until some retry was answered from
        # a stored response: some process was killed between its commit and its answer.
        for _ in range(60):
            if chaos.every_victim_hit and (load.truth.replayed or not keyed):
                break
            await load.run(10)
    finally:
        done.set()
        await chaos_task
    kills = chaos.kills
    truth = load.truth
    db_households, db_grants, seen = await converge(services, keys)

    missing_households = truth.households - db_households
    missing_grants = {g for g in truth.grants if db_grants.get(g) != truth.grants[g]}
    phantom = len(set(db_grants) - set(truth.grants))
    lost = len(missing_grants) + len(missing_households)
    twice = max(0, seen[1] - len(db_grants)) + max(0, seen[0] - len(db_households))
    if keyed:
        # Every write was answered in the end: the database holds exactly what was confirmed,
        # and a grant written twice would be one nobody was told of.
        twice += phantom + len(db_households - truth.households)
    figures = {
        "seed": seed,
        "kills": sum(kills.values()),
        "requests": truth.requests,
        "retries": truth.retries,
        "replayed": truth.replayed,
        "households": len(truth.households),
        "grants": len(truth.grants),
        "records": len(db_households) + len(db_grants),
        "grants_unknown": truth.grants_unknown,
        "lost": lost,
        "counted_twice": twice,
    }
    record_figures(fault, **figures)
    print(f"{fault}: {figures}")
    assert all(kills.values()), f"some victim was never killed: {kills}"
    assert not missing_households and not missing_grants, "an accepted write was lost"
    assert phantom <= truth.grants_unknown, "grants nobody asked for"
    assert seen[1] == len(db_grants) and seen[2] == sum(db_grants.values())
    assert seen[0] == len(db_households)
    return load


async def test_kill_9_each_service_under_load(
    services: dict[str, Service], api_keys: KeySet
) -> None:
    await run_case(
        "kill -9 registry/interventions/reporting",
        services=services,
        keys=api_keys,
        seed=7,
        victims=("registry", "interventions", "reporting"),
        households=120,
    )


async def test_kill_9_writers_under_retries_with_idempotency_keys(
    services: dict[str, Service], api_keys: KeySet
) -> None:
    """Every write carries an Idempotency-Key and is retried with it on a broken connection, a
    timeout, a 5xx or a 409 in flight, while registry and interventions are killed with -9 at
    random: also between a commit and its answer (a retry then gets the stored answer). Every
    write is answered in the end, so nothing is unknown: the database holds exactly the
    households and grants confirmed, and reporting counts each once."""
    load = await run_case(
        "kill -9 registry/interventions, writes retried with Idempotency-Keys",
        services=services,
        keys=api_keys,
        seed=17,
        victims=("registry", "interventions"),
        households=60,
        keyed=True,
        chaos=Chaos(services, random.Random(17), ("registry", "interventions"), pause=(0.1, 0.6)),
    )
    truth = load.truth
    assert truth.grants_unknown == 0
    assert truth.retries > 0, "no write was retried: the kills missed every request"
    assert truth.replayed > 0, "no retry was answered from a stored response"


async def test_kill_9_writers_and_their_separate_relays_under_load(
    services_with_separate_relays: dict[str, Service], api_keys: KeySet
) -> None:
    """Registry and interventions with outbox_relay = "separate": the API processes only stage
    and notify, each relay process publishes. Killing either side at any moment loses and
    duplicates nothing in the read model."""
    services = services_with_separate_relays
    await run_case(
        "kill -9 registry/interventions and their separate relays",
        services=services,
        keys=api_keys,
        seed=11,
        victims=("registry", "registry-relay", "interventions", "interventions-relay"),
        households=80,
    )
    # The relay processes did the publishing: the API processes ran none.
    for name in ("registry", "interventions"):
        assert "outbox relay started" not in services[name].log.read_text()
        assert "outbox relay started" in services[f"{name}-relay"].log.read_text()


async def test_two_reporting_instances_one_killed_mid_stream(
    services: dict[str, Service], api_keys: KeySet, tmp_path: Path
) -> None:
    first = services["reporting"]
    port = free_port()
    second = Service(
        "reporting",
        port,
        {**first.env, "GAYARI_REPORTING_HTTP_PORT": str(port)},
        tmp_path / "reporting-2.log",
    )
    second.start()
    try:
        await second.wait_ready()
        services_with_second = {**services, "reporting-2": second}
        # Only the second instance is killed (and restarted); the first one keeps serving.
        await run_case(
            "two reporting instances, one killed",
            services=services_with_second,
            keys=api_keys,
            seed=11,
            victims=("reporting-2",),
            households=80,
        )
    finally:
        second.kill()
