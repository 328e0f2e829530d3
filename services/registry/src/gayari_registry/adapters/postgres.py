"""The registry's own database: households and the outbox, written in one transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

from gayari_registry.domain.model import Household, Member
from gayari_shared.events.envelope import Envelope
from gayari_shared.outbox import OUTBOX_MIGRATION, add_to_outbox
from gayari_shared.postgres import Connection

MIGRATIONS: Final = (
    OUTBOX_MIGRATION,
    """
    CREATE TABLE households (
        id             uuid PRIMARY KEY,
        kk             char(16) NOT NULL UNIQUE,
        head_name      text NOT NULL,
        village_code   text NOT NULL,
        welfare_decile smallint NOT NULL CHECK (welfare_decile BETWEEN 1 AND 10),
        members        jsonb NOT NULL,
        registered_at  timestamptz NOT NULL
    );
    CREATE INDEX households_village ON households (village_code);
    """,
)


def _household(row: asyncpg.Record) -> Household:
    return Household(
        id=row["id"],
        kk=row["kk"],
        head_name=row["head_name"],
        village_code=row["village_code"],
        welfare_decile=row["welfare_decile"],
        members=[Member.model_validate(m) for m in json.loads(row["members"])],
        registered_at=row["registered_at"],
    )


class HouseholdUnitOfWork:
    """One transaction: household rows and the events they cause commit together."""

    def __init__(self, conn: Connection, topic_prefix: str) -> None:
        self._conn = conn
        self._topic_prefix = topic_prefix

    async def add_if_new(self, household: Household) -> bool:
        """Insert unless the KK is registered already; False when it was."""
        inserted = await self._conn.fetchval(
            """INSERT INTO households
                   (id, kk, head_name, village_code, welfare_decile, members, registered_at)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
               ON CONFLICT (kk) DO NOTHING RETURNING id""",
            household.id,
            household.kk,
            household.head_name,
            household.village_code,
            household.welfare_decile,
            json.dumps([m.model_dump(mode="json") for m in household.members]),
            household.registered_at,
        )
        return inserted is not None

    async def by_kk(self, kk: str) -> Household | None:
        row = await self._conn.fetchrow("SELECT * FROM households WHERE kk = $1", kk)
        return _household(row) if row else None

    async def by_id(self, household_id: uuid.UUID) -> Household | None:
        row = await self._conn.fetchrow("SELECT * FROM households WHERE id = $1", household_id)
        return _household(row) if row else None

    async def publish(self, envelope: Envelope, stream: str) -> None:
        await add_to_outbox(self._conn, envelope, f"{self._topic_prefix}.{stream}")


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, topic_prefix: str) -> AsyncIterator[HouseholdUnitOfWork]:
    async with pool.acquire() as conn, conn.transaction():
        yield HouseholdUnitOfWork(conn, topic_prefix)
