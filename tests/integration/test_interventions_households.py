"""The interventions service's table of known households, written a batch at a time on the real
database: whatever the order and however the events fall into batches, the row ends where the
events applied one by one end (tests/unit/test_interventions_households.py has the pure fold)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from gayari_interventions.adapters.postgres import (
    InterventionsUnitOfWork,
    unit_of_work,
)
from gayari_interventions.domain.households import fold_household_events
from gayari_interventions.entrypoints import consumers
from gayari_interventions.service_layer.handlers import InterventionsDeps
from gayari_shared.kafka.deadletter import Rejection
from gayari_shared.kafka.topics import domain_topics, ensure_topics
from gayari_shared.settings import CommonSettings
from tests.integration.test_interventions_api import life, publish
from tests.unit.test_interventions_households import (
    BUSY,
    FIRST,
    SECOND,
    T0,
    Identified,
    Stored,
    one_by_one,
)

pytestmark = pytest.mark.stack


@pytest.fixture
def pool(interventions_pool: asyncpg.Pool) -> asyncpg.Pool:
    return interventions_pool


async def stored(pool: asyncpg.Pool, household: uuid.UUID) -> Stored:
    async with partial(unit_of_work, pool, "it")() as uow:
        known = await uow.known_household(household)
    event_id = await pool.fetchval(
        "SELECT event_id FROM known_households WHERE household_id = $1", household
    )
    return known, event_id


async def learn(pool: asyncpg.Pool, events: Identified) -> int:
    async with partial(unit_of_work, pool, "it")() as uow:
        return await uow.learn_households(fold_household_events(events))


def of_household(household: uuid.UUID) -> Identified:
    """The unit test's events, for a household of their own."""
    return [(event.model_copy(update={"household_id": household}), i) for event, i in BUSY]


async def test_batches_in_any_order_end_where_one_by_one_ends(pool: asyncpg.Pool) -> None:
    shuffler = random.Random(6)
    for _ in range(12):
        household = uuid.uuid4()
        events = of_household(household)
        shuffler.shuffle(events)
        cuts = sorted(shuffler.sample(range(1, len(events)), 2))
        for batch in (events[: cuts[0]], events[cuts[0] : cuts[1]], events[cuts[1] :]):
            await learn(pool, batch)
        expected = one_by_one((None, None), events)
        assert await stored(pool, household) == expected
        # Read again (a redelivered batch): nothing changes.
        assert await learn(pool, events) == 0
        assert await stored(pool, household) == expected


async def test_one_batch_many_households(pool: asyncpg.Pool) -> None:
    households = [uuid.uuid4() for _ in range(300)]
    events = [event for household in households for event in of_household(household)]
    assert await learn(pool, events) == len(households)
    rows = await pool.fetch(
        "SELECT enrolled_at > exited_at AS enrolled, cardinality(member_ids) AS members "
        "FROM known_households"
    )
    assert len(rows) == len(households)
    assert all(r["enrolled"] and r["members"] == 2 for r in rows)


async def test_a_household_stored_meanwhile_keeps_the_newer_of_each_group(
    pool: asyncpg.Pool,
) -> None:
    """Two owners of one partition (a rebalance race): the household is stored by one between
    the other's read and its write. That write then merges group by group, as the domain's
    rules say, instead of replacing the row with what it merged into nothing."""
    household = uuid.uuid4()
    registration, _, early, members, _, _, late, _ = of_household(household)
    other = await pool.acquire()
    try:
        stored_meanwhile = other.transaction()
        await stored_meanwhile.start()
        await InterventionsUnitOfWork(other, "it").learn_households(
            fold_household_events([registration, late])
        )
        writing = asyncio.create_task(learn(pool, [early, members]))
        await asyncio.sleep(0.5)
        assert not writing.done()  # its insert waits for the other's
        await stored_meanwhile.commit()
        assert await writing == 1
    finally:
        await pool.release(other)
    known, event_id = await stored(pool, household)
    assert known is not None and event_id == members[1]
    assert known.village_code == "62.09.01.2001" and known.registered_at == T0
    assert known.enrolled_at == T0 + timedelta(days=60)  # not day 1: the newer one
    assert known.member_ids == frozenset({FIRST, SECOND})


async def test_a_batch_that_failed_is_read_again(
    pool: asyncpg.Pool, isolated_settings: CommonSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is away for the first batches: they are read again until they apply."""
    monkeypatch.setattr(consumers, "TRANSIENT_BACKOFF_S", 0.1)
    households = [uuid.uuid4() for _ in range(40)]
    await ensure_topics(isolated_settings.kafka_connection(), domain_topics(isolated_settings))
    await publish(
        isolated_settings,
        [event for household in households for event in life(household, [])],
        "/gayari/registry",
    )
    failures = 3

    @asynccontextmanager
    async def flaky() -> AsyncIterator[InterventionsUnitOfWork]:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionRefusedError("database away")
        async with unit_of_work(pool, "it") as uow:
            yield uow

    async def no_dead_letters(rejection: Rejection) -> None:
        raise AssertionError(f"dead-lettered: {rejection.reason}")

    broker = KafkaBroker(
        isolated_settings.kafka_bootstrap_servers,
        security=isolated_settings.kafka_connection().faststream_security(),
        logger=None,
    )
    consumers.register_consumers(
        broker,
        InterventionsDeps(unit_of_work=flaky, agencies=frozenset()),
        isolated_settings.topic("households"),
        no_dead_letters,
    )
    await broker.start()
    try:
        async with asyncio.timeout(60):
            while await pool.fetchval(
                "SELECT count(*) FROM known_households WHERE enrolled_at IS NOT NULL"
            ) < len(households):
                await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    assert failures == 0
