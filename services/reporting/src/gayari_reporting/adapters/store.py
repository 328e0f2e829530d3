"""The read model in PostgreSQL, written together with the consumed offsets.

Each batch commits its facts and the next offset of every partition it covers in one
transaction; on (re)assignment the projector seeks to those offsets, so a crash or rebalance
neither loses nor repeats an event. Facts are keyed by their own ids as a second guard: the
outbox relays deliver at least once, so the same event may sit at two offsets.

A batch is written set-based: folded in memory (domain/batch.py), then one statement per table
with the rows as arrays (`unnest`), so a batch of thousands of events costs a dozen round trips,
not thousands. Everything is written into one generation (generations.py): the active one,
held for the length of the transaction, or the one a replay is building.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Final

import asyncpg

from gayari_reporting.adapters import incomes, tallies
from gayari_reporting.adapters.generations import use_active, use_schema
from gayari_reporting.adapters.schema import STATE_UPSERT
from gayari_reporting.domain.batch import BatchWrites, fold
from gayari_reporting.domain.projection import Fact, GrantTotals
from gayari_shared.postgres import Connection


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


# Not frozen: two of these are made for every event consumed, and a frozen dataclass's
# __init__ costs three times a plain one's (0.67 against 0.20 µs for four fields); nothing
# changes them after decoding.
@dataclass(slots=True)
class EventMeta:
    """What the logs say about a projected event."""

    event_id: uuid.UUID  # made text only when logged: most batches log a summary instead
    event_type: str
    correlation_id: str
    household_id: str


@dataclass(slots=True)
class ConsumedRecord:
    offset: int
    outcome: Fact | Rejected | None  # None: an event type this read model does not use
    meta: EventMeta | None = None


PartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: list[ConsumedRecord]
    skipped_as_seen: int


class GenerationSwitchedError(Exception):
    """The active generation is no longer the one the projector positioned itself on."""


@dataclass(frozen=True, slots=True)
class _FactTable:
    """A fact table keyed by the record's own id; columns are the fact's fields, in order."""

    name: str
    key: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type)
    also_replace_when: str = ""

    @property
    def upsert(self) -> str:
        names = [c for c, _ in self.columns]
        keys = {k.strip() for k in self.key.split(",")}
        arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(self.columns, start=1))
        # Two events claiming one id (a producer bug, or a record re-sent under a new event id)
        # must not leave whichever came first: the least event id wins, in any order. The same
        # event again compares equal and changes nothing.
        replaced = [c for c in names if c not in keys]
        return (
            f"INSERT INTO {self.name} AS t ({', '.join(names)}) "
            f"SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET ({', '.join(replaced)}) = "
            f"ROW({', '.join('excluded.' + c for c in replaced)}) "
            f"WHERE excluded.event_id < t.event_id{self.also_replace_when}"
        )

    @property
    def row(self) -> Callable[[Any], tuple[Any, ...]]:
        return attrgetter(*(c for c, _ in self.columns))


_GRANTS: Final = _FactTable(
    "grants",
    "grant_id",
    (
        ("grant_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("kind", "text"),
        ("amount_idr", "bigint"),
        ("issued_at", "timestamptz"),
        ("event_id", "uuid"),
        ("fiscal_year", "int"),
    ),
    # A grant projected before this column existed has none: its replay fills it.
    also_replace_when=" OR t.fiscal_year IS NULL",
)
_TRAININGS: Final = _FactTable(
    "training_completions",
    "completion_id",
    (
        ("completion_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("topic", "text"),
        ("hours", "int"),
        ("completed_on", "date"),
        ("event_id", "uuid"),
    ),
)
_VISITS: Final = _FactTable(
    "mentoring_visits",
    "visit_id",
    (
        ("visit_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("visited_on", "date"),
        ("business_status", "text"),
        ("event_id", "uuid"),
    ),
)
_SURVEYS: Final = _FactTable(
    "business_surveys",
    "survey_id",
    (
        ("survey_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("surveyed_on", "date"),
        ("monthly_income_idr", "bigint"),
        ("workers", "int"),
        ("recorded_at", "timestamptz"),
        ("event_id", "uuid"),
    ),
)
_BUDGETS: Final = _FactTable(
    "budget_allocations",
    "allocation_id",
    (
        ("allocation_id", "uuid"),
        ("agency", "text"),
        ("fiscal_year", "int"),
        ("amount_idr", "bigint"),
        ("allocated_at", "timestamptz"),
        ("event_id", "uuid"),
    ),
)
_VOIDS: Final = _FactTable(
    "voids",
    "intervention_type, intervention_id",
    (
        ("intervention_type", "text"),
        ("intervention_id", "uuid"),
        ("agency", "text"),
        ("voided_at", "timestamptz"),
        ("event_id", "uuid"),
    ),
)


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to one list per column: what `unnest` takes."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


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

    async def apply(
        self,
        group: str,
        batch: Mapping[PartitionKey, Sequence[ConsumedRecord]],
        *,
        schema: str | None = None,
        building: bool = False,
        tally: bool = True,
    ) -> BatchResult:
        """Project a batch into `schema` (None: whichever generation is active). Into the active
        generation unless `building`; GenerationSwitchedError if that is no longer `schema`.
        Without `tally` the tallies are left alone (a replay's bulk rebuilds them at the end)."""
        keys = sorted(k for k, records in batch.items() if records)
        async with self._pool.acquire() as conn, conn.transaction():
            entered = await self._enter(conn, schema, building=building, hold=True)
            stored = await self._lock_offsets(conn, group, keys)
            applied: list[ConsumedRecord] = []
            rejected: list[tuple[str, int, int, str]] = []
            advanced: list[tuple[str, int, int]] = []
            skipped = 0
            for key in keys:
                records = batch[key]
                # Records below the stored offset were projected by an earlier owner of the
                # partition (a rebalance raced this batch): never apply them twice.
                fresh = [r for r in records if r.offset >= stored[key]]
                skipped += len(records) - len(fresh)
                if not fresh:
                    continue
                applied.extend(fresh)
                rejected.extend(
                    (*key, r.offset, r.outcome.reason)
                    for r in fresh
                    if isinstance(r.outcome, Rejected)
                )
                advanced.append((*key, fresh[-1].offset + 1))
            writes = fold(r.outcome for r in applied if not isinstance(r.outcome, Rejected | None))
            households: set[uuid.UUID] = set()
            if tally:
                # Every statement of a batch reads by key (its households, records, offsets),
                # so an index is always the way in; while a backlog is projected the tables
                # grow faster than their statistics and the planner would scan whole tables.
                await conn.execute("SET LOCAL enable_seqscan = off")
                await tallies.lock_partitions(conn, f"{entered}/{group}", (p for _, p in keys))
                voided = await tallies.voided_households(conn, writes)
                households = tallies.touched(writes) | voided
                await tallies.retract(conn, households, tallies.agencies(writes))
            await _write(conn, writes, rejected)
            await tallies.contribute(conn, households)
            if tally:
                await incomes.refresh(conn, incomes.households(writes, voided))
            if advanced:
                topics, partitions, offsets = _columns(advanced, 3)
                await conn.execute(
                    """UPDATE projection_offsets o SET next_offset = u.n, updated_at = now()
                       FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
                       WHERE o.consumer_group = $1 AND o.topic = u.t AND o.partition = u.p""",
                    group,
                    topics,
                    partitions,
                    offsets,
                )
        return BatchResult(applied, skipped)

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

    async def _lock_offsets(
        self, conn: Connection, group: str, keys: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]:
        if not keys:
            return {}
        topics, partitions = _columns(keys, 2)
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


async def _write(
    conn: Connection, writes: BatchWrites, rejected: Sequence[tuple[str, int, int, str]]
) -> None:
    """One statement per table that has rows in this batch."""
    for table, facts in (
        (_GRANTS, writes.grants.values()),
        (_TRAININGS, writes.trainings.values()),
        (_VISITS, writes.visits.values()),
        (_SURVEYS, writes.surveys.values()),
        (_BUDGETS, writes.budgets.values()),
        (_VOIDS, writes.voids.values()),
    ):
        if facts:
            row = table.row
            await conn.execute(table.upsert, *_columns([row(f) for f in facts], len(table.columns)))
    if writes.states:
        rows = [state.row(household) for household, state in writes.states.items()]
        await conn.execute(STATE_UPSERT, *_columns(rows, 17))
    if rejected:
        await conn.execute(
            """INSERT INTO rejected_events (topic, partition, "offset", reason)
               SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[])
               ON CONFLICT DO NOTHING""",
            *_columns(rejected, 4),
        )
