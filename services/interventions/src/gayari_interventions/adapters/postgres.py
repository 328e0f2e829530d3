"""The interventions service's own database: known households (from registry events),
grants, training completions and the outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

from gayari_interventions.domain.model import Grant, TrainingCompletion
from gayari_shared.events.contracts import HouseholdRegisteredV1
from gayari_shared.events.envelope import Envelope
from gayari_shared.outbox import OUTBOX_MIGRATION, add_to_outbox
from gayari_shared.postgres import Connection

MIGRATIONS: Final = (
    OUTBOX_MIGRATION,
    """
    CREATE TABLE known_households (
        household_id   uuid PRIMARY KEY,
        village_code   text NOT NULL,
        welfare_decile smallint NOT NULL,
        registered_at  timestamptz NOT NULL,
        event_id       uuid NOT NULL
    );
    CREATE TABLE grants (
        id           uuid PRIMARY KEY,
        household_id uuid NOT NULL REFERENCES known_households,
        agency       text NOT NULL,
        kind         text NOT NULL,
        amount_idr   bigint NOT NULL CHECK (amount_idr > 0),
        issued_at    timestamptz NOT NULL
    );
    CREATE INDEX grants_household ON grants (household_id);
    CREATE TABLE training_completions (
        id           uuid PRIMARY KEY,
        household_id uuid NOT NULL REFERENCES known_households,
        agency       text NOT NULL,
        topic        text NOT NULL,
        hours        int NOT NULL CHECK (hours > 0),
        completed_on date NOT NULL,
        recorded_at  timestamptz NOT NULL
    );
    CREATE INDEX training_completions_household ON training_completions (household_id);
    """,
)


class InterventionsUnitOfWork:
    """One transaction: intervention rows and their events commit together."""

    def __init__(self, conn: Connection, topic_prefix: str) -> None:
        self._conn = conn
        self._topic_prefix = topic_prefix

    async def household_known(self, household_id: uuid.UUID) -> bool:
        # FOR KEY SHARE: the household row cannot vanish while this transaction refers to it.
        found = await self._conn.fetchval(
            "SELECT 1 FROM known_households WHERE household_id = $1 FOR KEY SHARE", household_id
        )
        return found is not None

    async def remember_household(self, event: HouseholdRegisteredV1, event_id: uuid.UUID) -> bool:
        """Idempotent: a redelivered registration changes nothing. True when it was new."""
        inserted = await self._conn.fetchval(
            """INSERT INTO known_households
                   (household_id, village_code, welfare_decile, registered_at, event_id)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (household_id) DO NOTHING RETURNING 1""",
            event.household_id,
            event.village_code,
            event.welfare_decile,
            event.registered_at,
            event_id,
        )
        return inserted is not None

    async def add_grant(self, grant: Grant) -> None:
        await self._conn.execute(
            """INSERT INTO grants (id, household_id, agency, kind, amount_idr, issued_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            grant.id,
            grant.household_id,
            grant.agency,
            grant.kind,
            grant.amount_idr,
            grant.issued_at,
        )

    async def add_training_completion(self, completion: TrainingCompletion) -> None:
        await self._conn.execute(
            """INSERT INTO training_completions
                   (id, household_id, agency, topic, hours, completed_on, recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            completion.id,
            completion.household_id,
            completion.agency,
            completion.topic,
            completion.hours,
            completion.completed_on,
            completion.recorded_at,
        )

    async def publish(self, envelope: Envelope, stream: str) -> None:
        await add_to_outbox(self._conn, envelope, f"{self._topic_prefix}.{stream}")


@asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool, topic_prefix: str
) -> AsyncIterator[InterventionsUnitOfWork]:
    async with pool.acquire() as conn, conn.transaction():
        yield InterventionsUnitOfWork(conn, topic_prefix)
