"""The read model in PostgreSQL, written together with the consumed offsets.

Each batch commits its facts and the next offset of every partition it covers in one
transaction; on (re)assignment the projector seeks to those offsets, so a crash or rebalance
neither loses nor repeats an event. Facts are keyed by their own ids as a second guard: the
outbox relays deliver at least once, so the same event may sit at two offsets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg

from gayari_reporting.adapters.schema import READ_MODELS_MIGRATION, STATE_UPSERT
from gayari_reporting.domain.projection import (
    BudgetFact,
    EnrolmentFact,
    ExitFact,
    Fact,
    GrantFact,
    GrantTotals,
    HouseholdChangeFact,
    HouseholdFact,
    MentoringFact,
    SurveyFact,
    TrainingFact,
    VoidFact,
)
from gayari_shared.postgres import Connection

MIGRATIONS: Final = (
    """
    CREATE TABLE projection_offsets (
        consumer_group text NOT NULL,
        topic          text NOT NULL,
        partition      int NOT NULL,
        next_offset    bigint NOT NULL,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer_group, topic, partition)
    );
    CREATE TABLE households (
        household_id   uuid PRIMARY KEY,
        village_code   text NOT NULL,
        welfare_decile smallint NOT NULL,
        registered_at  timestamptz NOT NULL,
        event_id       uuid NOT NULL
    );
    CREATE TABLE grants (
        grant_id     uuid PRIMARY KEY,
        household_id uuid NOT NULL,
        agency       text NOT NULL,
        kind         text NOT NULL,
        amount_idr   bigint NOT NULL,
        issued_at    timestamptz NOT NULL,
        event_id     uuid NOT NULL
    );
    CREATE INDEX grants_agency ON grants (agency);
    CREATE TABLE training_completions (
        completion_id uuid PRIMARY KEY,
        household_id  uuid NOT NULL,
        agency        text NOT NULL,
        topic         text NOT NULL,
        hours         int NOT NULL,
        completed_on  date NOT NULL,
        event_id      uuid NOT NULL
    );
    CREATE INDEX training_completions_agency ON training_completions (agency);
    CREATE TABLE rejected_events (
        topic     text NOT NULL,
        partition int NOT NULL,
        "offset"  bigint NOT NULL,
        reason    text NOT NULL,
        seen_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, partition, "offset")
    );
    """,
    # Voided records stay in their tables; the figures leave them out by joining this one.
    """
    CREATE TABLE voids (
        intervention_type text NOT NULL,
        intervention_id   uuid NOT NULL,
        agency            text NOT NULL,
        voided_at         timestamptz NOT NULL,
        event_id          uuid NOT NULL,
        PRIMARY KEY (intervention_type, intervention_id)
    );
    """,
    READ_MODELS_MIGRATION,
)


# Two different events claiming one record id (a producer bug, or a record re-sent under a new
# event id) must not leave whichever came first: the one with the least event id wins, in any
# order. The same event again compares equal and changes nothing.
def _least_event_wins(*, key: str, columns: str) -> str:
    excluded = ", ".join(f"excluded.{c.strip()}" for c in columns.split(","))
    return f"""
        ON CONFLICT ({key}) DO UPDATE SET ({columns}) = ROW({excluded})
        WHERE excluded.event_id < t.event_id"""


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


@dataclass(frozen=True, slots=True)
class EventMeta:
    """What the logs say about a projected event."""

    event_id: str
    event_type: str
    correlation_id: str
    household_id: str


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    offset: int
    outcome: Fact | Rejected | None  # None: an event type this read model does not use
    meta: EventMeta | None = None


PartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: list[ConsumedRecord]
    skipped_as_seen: int


class ReadModelStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def stored_offsets(
        self, group: str, partitions: Sequence[PartitionKey]
    ) -> dict[PartitionKey, int]:
        async with self._pool.acquire() as conn:
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

    async def apply(
        self, group: str, batch: Mapping[PartitionKey, Sequence[ConsumedRecord]]
    ) -> BatchResult:
        applied: list[ConsumedRecord] = []
        skipped = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for (topic, partition), records in sorted(batch.items()):
                if not records:
                    continue
                stored = await self._lock_offset(conn, group, topic, partition)
                # Records below the stored offset were projected by an earlier owner of the
                # partition (a rebalance raced this batch): never apply them twice.
                fresh = [r for r in records if r.offset >= stored]
                skipped += len(records) - len(fresh)
                if not fresh:
                    continue
                for record in fresh:
                    await self._apply_one(conn, topic, partition, record)
                applied.extend(fresh)
                await conn.execute(
                    """UPDATE projection_offsets SET next_offset = $4, updated_at = now()
                       WHERE consumer_group = $1 AND topic = $2 AND partition = $3""",
                    group,
                    topic,
                    partition,
                    fresh[-1].offset + 1,
                )
        return BatchResult(applied, skipped)

    async def _lock_offset(self, conn: Connection, group: str, topic: str, partition: int) -> int:
        await conn.execute(
            """INSERT INTO projection_offsets (consumer_group, topic, partition, next_offset)
               VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING""",
            group,
            topic,
            partition,
        )
        stored: int = await conn.fetchval(
            """SELECT next_offset FROM projection_offsets
               WHERE consumer_group = $1 AND topic = $2 AND partition = $3 FOR UPDATE""",
            group,
            topic,
            partition,
        )
        return stored

    async def _apply_one(
        self, conn: Connection, topic: str, partition: int, record: ConsumedRecord
    ) -> None:
        match record.outcome:
            case HouseholdFact() as f:
                await conn.execute(
                    """INSERT INTO households AS t
                           (household_id, village_code, welfare_decile, registered_at, event_id)
                       VALUES ($1, $2, $3, $4, $5)"""
                    + _least_event_wins(
                        key="household_id",
                        columns="village_code, welfare_decile, registered_at, event_id",
                    ),
                    f.household_id,
                    f.village_code,
                    f.welfare_decile,
                    f.registered_at,
                    f.event_id,
                )
                await _upsert_state(
                    conn,
                    f.household_id,
                    registered=(f.registered_at, f.event_id, f.welfare_decile),
                    village=(f.village_code, f.registered_at, f.event_id),
                    decile=(f.welfare_decile, f.registered_at, f.event_id),
                )
            case HouseholdChangeFact() as f:
                await _upsert_state(
                    conn,
                    f.household_id,
                    village=None
                    if f.village_code is None
                    else (f.village_code, f.changed_at, f.event_id),
                    decile=None
                    if f.welfare_decile is None
                    else (f.welfare_decile, f.changed_at, f.event_id),
                )
            case EnrolmentFact() as f:
                await _upsert_state(
                    conn,
                    f.household_id,
                    enrolled=(f.enrolled_at, f.event_id, f.cohort_year, f.enrolling_agency),
                )
            case ExitFact() as f:
                await _upsert_state(
                    conn, f.household_id, exited=(f.exited_at, f.event_id, f.reason)
                )
            case GrantFact() as f:
                # A grant projected before this column existed has none: its replay fills it.
                await conn.execute(
                    """INSERT INTO grants AS t (grant_id, household_id, agency, kind, amount_idr,
                                                issued_at, event_id, fiscal_year)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""
                    + _least_event_wins(
                        key="grant_id",
                        columns="household_id, agency, kind, amount_idr, issued_at, event_id, "
                        "fiscal_year",
                    )
                    + " OR t.fiscal_year IS NULL",
                    f.grant_id,
                    f.household_id,
                    f.agency,
                    f.kind,
                    f.amount_idr,
                    f.issued_at,
                    f.event_id,
                    f.fiscal_year,
                )
            case MentoringFact() as f:
                await conn.execute(
                    """INSERT INTO mentoring_visits AS t (visit_id, household_id, agency,
                                                          visited_on, business_status, event_id)
                       VALUES ($1, $2, $3, $4, $5, $6)"""
                    + _least_event_wins(
                        key="visit_id",
                        columns="household_id, agency, visited_on, business_status, event_id",
                    ),
                    f.visit_id,
                    f.household_id,
                    f.agency,
                    f.visited_on,
                    f.business_status,
                    f.event_id,
                )
            case SurveyFact() as f:
                await conn.execute(
                    """INSERT INTO business_surveys AS t (survey_id, household_id, agency,
                                                          surveyed_on, monthly_income_idr,
                                                          workers, recorded_at, event_id)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""
                    + _least_event_wins(
                        key="survey_id",
                        columns="household_id, agency, surveyed_on, monthly_income_idr, "
                        "workers, recorded_at, event_id",
                    ),
                    f.survey_id,
                    f.household_id,
                    f.agency,
                    f.surveyed_on,
                    f.monthly_income_idr,
                    f.workers,
                    f.recorded_at,
                    f.event_id,
                )
            case BudgetFact() as f:
                await conn.execute(
                    """INSERT INTO budget_allocations AS t (allocation_id, agency, fiscal_year,
                                                            amount_idr, allocated_at, event_id)
                       VALUES ($1, $2, $3, $4, $5, $6)"""
                    + _least_event_wins(
                        key="allocation_id",
                        columns="agency, fiscal_year, amount_idr, allocated_at, event_id",
                    ),
                    f.allocation_id,
                    f.agency,
                    f.fiscal_year,
                    f.amount_idr,
                    f.allocated_at,
                    f.event_id,
                )
            case TrainingFact() as f:
                await conn.execute(
                    """INSERT INTO training_completions AS t (completion_id, household_id, agency,
                                                         topic, hours, completed_on, event_id)
                       VALUES ($1, $2, $3, $4, $5, $6, $7)"""
                    + _least_event_wins(
                        key="completion_id",
                        columns="household_id, agency, topic, hours, completed_on, event_id",
                    ),
                    f.completion_id,
                    f.household_id,
                    f.agency,
                    f.topic,
                    f.hours,
                    f.completed_on,
                    f.event_id,
                )
            case VoidFact() as f:
                await conn.execute(
                    """INSERT INTO voids AS t (intervention_type, intervention_id, agency,
                                               voided_at, event_id)
                       VALUES ($1, $2, $3, $4, $5)"""
                    + _least_event_wins(
                        key="intervention_type, intervention_id",
                        columns="agency, voided_at, event_id",
                    ),
                    f.intervention_type,
                    f.intervention_id,
                    f.agency,
                    f.voided_at,
                    f.event_id,
                )
            case Rejected(reason=reason):
                await conn.execute(
                    """INSERT INTO rejected_events (topic, partition, "offset", reason)
                       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                    topic,
                    partition,
                    record.offset,
                    reason,
                )
            case None:
                pass

    async def progress_figures(
        self,
    ) -> tuple[int, dict[str, GrantTotals], dict[str, int], datetime]:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            households = await conn.fetchval("SELECT count(*) FROM households")
            grant_rows = await conn.fetch(
                """SELECT agency, count(*) AS n, coalesce(sum(amount_idr), 0) AS idr
                   FROM grants g
                   WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'grant'
                                     AND v.intervention_id = g.grant_id)
                   GROUP BY agency"""
            )
            training_rows = await conn.fetch(
                """SELECT agency, count(*) AS n FROM training_completions t
                   WHERE NOT EXISTS (SELECT 1 FROM voids v
                                     WHERE v.intervention_type = 'training-completion'
                                     AND v.intervention_id = t.completion_id)
                   GROUP BY agency"""
            )
            as_of = await conn.fetchval("SELECT max(updated_at) FROM projection_offsets")
        return (
            int(households),
            {r["agency"]: GrantTotals(count=r["n"], total_idr=int(r["idr"])) for r in grant_rows},
            {r["agency"]: int(r["n"]) for r in training_rows},
            as_of or datetime.now(UTC),
        )

    async def stored_positions(self, group: str) -> dict[PartitionKey, int]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT topic, partition, next_offset FROM projection_offsets
                   WHERE consumer_group = $1""",
                group,
            )
        return {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}

    async def rejected_count(self) -> int:
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM rejected_events"))


async def _upsert_state(
    conn: Connection,
    household_id: object,
    *,
    registered: tuple[datetime, object, int] | None = None,
    village: tuple[str, datetime, object] | None = None,
    decile: tuple[int, datetime, object] | None = None,
    enrolled: tuple[datetime, object, int, str] | None = None,
    exited: tuple[datetime, object, str] | None = None,
) -> None:
    """One household's state: each group of fields is taken from one event, the one that
    STATE_UPSERT's rules pick; None leaves a group to what the other events say."""
    reg_at, reg_event, initial = registered or (None, None, None)
    village_code, village_at, village_event = village or (None, None, None)
    welfare, decile_at, decile_event = decile or (None, None, None)
    enrolled_at, enrol_event, cohort, enrolling = enrolled or (None, None, None, None)
    exited_at, exit_event, reason = exited or (None, None, None)
    await conn.execute(
        STATE_UPSERT,
        household_id,
        reg_at,
        reg_event,
        initial,
        village_code,
        village_at,
        village_event,
        welfare,
        decile_at,
        decile_event,
        enrolled_at,
        enrol_event,
        cohort,
        enrolling,
        exited_at,
        exit_event,
        reason,
    )
