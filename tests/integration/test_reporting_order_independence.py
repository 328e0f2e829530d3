"""Order independence, property-based: whatever the interleaving across partitions, the
batching, and the duplication and redelivery of the same events, the read models projected into
real PostgreSQL equal a plain recount of the event list (domain/recount.py, no SQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gayari_reporting.adapters import tallies
from gayari_reporting.adapters.decoding import decode
from gayari_reporting.adapters.generations import Generations, use_active
from gayari_reporting.adapters.reports import ReportQueries
from gayari_reporting.adapters.store import ReadModelStore
from gayari_reporting.domain.consumed import ConsumedRecord
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.recount import Recount, from_envelopes, recount
from gayari_reporting.service_layer import projection
from gayari_shared.events.envelope import Envelope
from gayari_shared.postgres import create_pool
from gayari_shared.settings import CommonSettings
from tests.conftest import ADMIN_URL, DatabaseFactory, database_url
from tests.integration.test_reporting_read_models import programme

pytestmark = pytest.mark.stack
PROGRAMME = programme()
EVENTS: list[Envelope] = [*PROGRAMME.events, PROGRAMME.late]
EXPECTED: Recount = recount(from_envelopes(EVENTS))
TOPICS = ("t.households", "t.interventions")


def record(
    envelope: Envelope, topic: str, partition: int, offset: int
) -> ConsumerRecord[bytes, bytes]:
    wire = envelope.to_kafka(topic)
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=wire.key,
        value=wire.value,
        checksum=None,
        serialized_key_size=len(wire.key),
        serialized_value_size=len(wire.value),
        headers=wire.headers,
    )


async def project(
    deliveries: list[tuple[int, int]], batch_sizes: list[int]
) -> tuple[ReportQueries, asyncpg.Pool, str]:
    """Deliver events (event index, partition) in this order, in batches of these sizes."""
    name = f"prop_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    pool = await create_pool(database_url(name))
    await Generations(pool).prepare()
    store = ReadModelStore(pool)
    next_offset: dict[tuple[str, int], int] = defaultdict(int)
    position, sizes = 0, iter(batch_sizes * (len(deliveries) + 1))
    while position < len(deliveries):
        size = next(sizes)
        batch: dict[tuple[str, int], list[ConsumedRecord]] = defaultdict(list)
        for index, partition in deliveries[position : position + size]:
            envelope = EVENTS[index]
            topic = TOPICS[0] if "household" in envelope.type else TOPICS[1]
            key = (topic, partition)
            batch[key].append(decode(record(envelope, topic, partition, next_offset[key])))
            next_offset[key] += 1
        await projection.project(store, "property", batch)
        position += size
    return ReportQueries(pool), pool, name


async def check(deliveries: list[tuple[int, int]], batch_sizes: list[int]) -> None:
    queries, pool, name = await project(deliveries, batch_sizes)
    try:
        households, by_kind, idr, _ = await queries.summary(Filters())
        assert (
            households.registered,
            households.enrolled,
            households.exited,
            households.graduated,
            households.reached,
        ) == (
            EXPECTED.households_registered,
            EXPECTED.households_enrolled,
            EXPECTED.households_exited,
            EXPECTED.households_graduated,
            EXPECTED.households_reached,
        )
        assert {k: v for k, v in by_kind.items() if v} == {
            k: v for k, v in EXPECTED.interventions.items() if v
        }
        assert idr == EXPECTED.idr_disbursed
        figures, _ = await queries.agencies(Filters())
        for code, expected in EXPECTED.agencies.items():
            got = figures[code]
            assert (
                got.idr_disbursed,
                got.households_reached,
                got.grants_capital,
                got.grants_equipment,
                got.trainings_completed,
            ) == (
                expected.idr_disbursed,
                expected.households_reached,
                expected.grants_capital,
                expected.grants_equipment,
                expected.trainings_completed,
            ), code
        reached, _, _ = await queries.convergence(Filters())
        assert {k: v for k, v in reached.items() if v} == EXPECTED.reached_by
        alerts, _ = await queries.double_funding(Filters())
        assert {
            (a.household_id, a.fiscal_year, a.kind, tuple(a.agencies)) for a in alerts
        } == EXPECTED.double_funding
        # Kept batch by batch, the tallies are what a rebuild from the facts gives.
        async with pool.acquire() as conn, conn.transaction():
            await use_active(conn)
            assert await tallies.drift(conn) == dict.fromkeys(tallies.TABLES, 0)
    finally:
        await pool.close()
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await DatabaseFactory.drop(admin, name)
        finally:
            await admin.close()


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Every event at least once, some again (redelivery, an outbox resending), in any order,
    each delivery on any of three partitions of its topic."""
    order = draw(st.permutations(range(len(EVENTS))))
    again = draw(st.lists(st.integers(0, len(EVENTS) - 1), max_size=15))
    sequence = draw(st.permutations([*order, *again]))
    return [(index, draw(st.integers(0, 2))) for index in sequence]


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=deliveries(), batch_sizes=st.lists(st.integers(1, 25), min_size=1, max_size=8))
def test_any_interleaving_projects_like_the_recount(
    stack: CommonSettings, plan: list[tuple[int, int]], batch_sizes: list[int]
) -> None:
    asyncio.run(check(plan, batch_sizes))


def test_the_recount_is_not_trivial() -> None:
    assert EXPECTED.households_registered > 5 and EXPECTED.double_funding
    assert EXPECTED.idr_disbursed > 0 and len(EXPECTED.reached_by) > 1
