"""The read model in PostgreSQL, written together with the consumed offsets.

Each batch commits its facts and the next offset of every partition it covers in one
transaction; on (re)assignment the projector seeks to those offsets, so a crash or rebalance
neither loses nor repeats an event. Facts are keyed by their own ids as a second guard: the
outbox relays deliver at least once, so the same event may sit at two offsets.

The stages of a batch are named in service_layer/projection.py; `BatchTransaction` is what each
does in the database. Everything is written into one generation (generations.py): the active
one, held for the length of the transaction, or the one a replay is building.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from gayari_reporting.adapters import fact_tables, income_pairs, tallies
from gayari_reporting.adapters.fact_tables import columns
from gayari_reporting.adapters.generations import use_active, use_schema
from gayari_reporting.domain.batch import BatchWrites
from gayari_reporting.domain.consumed import PartitionKey
from gayari_reporting.domain.projection import GrantTotals
from gayari_shared.postgres import Connection


class GenerationSwitchedError(Exception):
    """The active generation is no longer the one the projector positioned itself on."""


class ReadModelStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def positioned(
        self, group: str, partitions: Sequence[PartitionKey]
    ) -> tuple[str, dict[PartitionKey, int]]:
        """The active generation and the stored offsets it holds for these partitions."""
        async with self._pool.acquire() as conn, conn.transaction():
            schema = await self._enter(conn, None)
            return schema, await self._offsets(conn, group, partitions)

    async def stored_offsets(
        self,
        group: str,
        partitions: Sequence[PartitionKey],
        *,
        schema: str | None = None,
        building: bool = False,
    ) -> dict[PartitionKey, int]:
        """The active generation's offsets (GenerationSwitchedError if it is not `schema`), or
        with `building` those of the generation `schema` a replay is building."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._enter(conn, schema, building=building)
            return await self._offsets(conn, group, partitions)

    @asynccontextmanager
    async def transaction(
        self, schema: str | None = None, *, building: bool = False
    ) -> AsyncIterator[BatchTransaction]:
        """One batch's transaction in `schema` (None: whichever generation is active). Into the
        active generation unless `building`, held until the end; GenerationSwitchedError if
        that is no longer `schema`."""
        async with self._pool.acquire() as conn, conn.transaction():
            entered = await self._enter(conn, schema, building=building, hold=True)
            yield BatchTransaction(conn, entered)

    async def rebuild_tallies(self, schema: str) -> None:
        """The tallies of the generation a replay is building, from its facts."""
        async with self._pool.acquire() as conn, conn.transaction():
            await use_schema(conn, schema)
            await tallies.rebuild(conn)

    async def _enter(
        self, conn: Connection, schema: str | None, *, building: bool = False, hold: bool = False
    ) -> str:
        """Point the transaction at a generation: with `building`, the one named, which a
        replay is building; otherwise the active one (held until the end with `hold`), and
        GenerationSwitchedError if there is none or it is not `schema`."""
        if building:
            assert schema is not None
            await use_schema(conn, schema)
            return schema
        active = await use_active(conn, hold=hold)
        if active is None or (schema is not None and active != schema):
            raise GenerationSwitchedError(f"active generation is now {active}")
        return active

    async def _offsets(
        self, conn: Connection, group: str, partitions: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]:
        rows = await conn.fetch(
            """SELECT topic, partition, next_offset FROM projection_offsets
               WHERE consumer_group = $1""",
            group,
        )
        wanted = set(partitions)
        return {
            (r["topic"], r["partition"]): r["next_offset"]
            for r in rows
            if (r["topic"], r["partition"]) in wanted
        }

    async def progress_figures(
        self,
    ) -> tuple[int, dict[str, GrantTotals], dict[str, int], datetime]:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            await self._enter(conn, None)
            # From the country's tallies: a handful of rows, however large the programme.
            households = await conn.fetchval(
                """SELECT coalesce(sum(households), 0) FROM tally_households
                   WHERE level = 0 AND event = 'registered'"""
            )
            grant_rows = await conn.fetch(
                """SELECT agency, sum(records) AS n, sum(idr) AS idr FROM tally_records
                   WHERE level = 0 AND kind LIKE 'grant-%'
                   GROUP BY agency HAVING sum(records) > 0"""
            )
            training_rows = await conn.fetch(
                """SELECT agency, sum(records) AS n FROM tally_records
                   WHERE level = 0 AND kind = 'training'
                   GROUP BY agency HAVING sum(records) > 0"""
            )
            as_of = await conn.fetchval("SELECT max(updated_at) FROM projection_offsets")
        return (
            int(households),
            {
                r["agency"]: GrantTotals(count=int(r["n"]), total_idr=int(r["idr"]))
                for r in grant_rows
            },
            {r["agency"]: int(r["n"]) for r in training_rows},
            as_of or datetime.now(UTC),
        )

    async def stored_positions(self, group: str) -> dict[PartitionKey, int]:
        async with self._pool.acquire() as conn, conn.transaction():
            await self._enter(conn, None)
            rows = await conn.fetch(
                """SELECT topic, partition, next_offset FROM projection_offsets
                   WHERE consumer_group = $1""",
                group,
            )
        return {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}

    async def rejected_count(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await self._enter(conn, None)
            return int(await conn.fetchval("SELECT count(*) FROM rejected_events"))


class BatchTransaction:
    """What a batch does in its one transaction (service_layer/projection.py runs the stages):
    facts, tallies and offsets commit together or not at all."""

    def __init__(self, conn: Connection, generation: str) -> None:
        self._conn = conn
        self.generation = generation

    async def lock_offsets(
        self, group: str, keys: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]:
        """The stored offsets of these partitions, locked until the end of the batch."""
        conn = self._conn
        if not keys:
            return {}
        topics, partitions = columns(keys, 2)
        await conn.execute(
            """INSERT INTO projection_offsets (consumer_group, topic, partition, next_offset)
               SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p)
               ON CONFLICT DO NOTHING""",
            group,
            topics,
            partitions,
        )
        # In a fixed order, so two owners of overlapping partitions (a rebalance race) queue
        # behind each other instead of deadlocking.
        rows = await conn.fetch(
            """SELECT topic, partition, next_offset FROM projection_offsets
               WHERE consumer_group = $1
                 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
               ORDER BY topic, partition FOR UPDATE""",
            group,
            topics,
            partitions,
        )
        return {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}

    async def serialise_households(self, group: str, partitions: Iterable[int]) -> None:
        """Queue behind any other batch of the same partition indexes (tallies.lock_partitions)."""
        # Every statement of a batch reads by key (its households, records, offsets), so an
        # index is always the way in; while a backlog is projected the tables grow faster than
        # their statistics and the planner would scan whole tables.
        await self._conn.execute("SET LOCAL enable_seqscan = off")
        await tallies.lock_partitions(self._conn, f"{self.generation}/{group}", partitions)

    async def voided_households(self, writes: BatchWrites) -> set[uuid.UUID]:
        return await tallies.voided_households(self._conn, writes)

    async def retract(self, households: Collection[uuid.UUID], agencies: Collection[str]) -> None:
        await tallies.retract(self._conn, households, agencies)

    async def write(
        self, writes: BatchWrites, rejected: Sequence[tuple[str, int, int, str]]
    ) -> None:
        await fact_tables.write(self._conn, writes, rejected)

    async def contribute(self, households: Collection[uuid.UUID]) -> None:
        await tallies.contribute(self._conn, households)

    async def refresh_incomes(self, households: Collection[uuid.UUID]) -> None:
        await income_pairs.refresh(self._conn, households)

    async def advance_offsets(self, group: str, advanced: Sequence[tuple[str, int, int]]) -> None:
        """Each partition's next offset: where the next batch starts, after a crash too."""
        if advanced:
            topics, partitions, offsets = columns(advanced, 3)
            await self._conn.execute(
                """UPDATE projection_offsets o SET next_offset = u.n, updated_at = now()
                   FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
                   WHERE o.consumer_group = $1 AND o.topic = u.t AND o.partition = u.p""",
                group,
                topics,
                partitions,
                offsets,
            )
