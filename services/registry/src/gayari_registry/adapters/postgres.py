"""The registry's own database: households, members, enrolments and the outbox, written in one
transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

import asyncpg
from pydantic import TypeAdapter

from gayari_registry.domain.model import (
    Address,
    ConflictError,
    Enrolment,
    Flag,
    Household,
    Member,
    name_key,
)
from gayari_shared.events.envelope import Envelope
from gayari_shared.outbox import OUTBOX_LANES_MIGRATION, OUTBOX_MIGRATION, add_to_outbox
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
    # Members get ids and a table of their own, so a NIK is unique across households; the
    # members registered before this keep their data and get new ids.
    """
    ALTER TABLE households
        ADD COLUMN address         jsonb,
        ADD COLUMN flags           jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN head_key        text,
        ADD COLUMN head_birth_date date,
        ADD COLUMN updated_at      timestamptz;
    CREATE TABLE members (
        member_id     uuid PRIMARY KEY,
        household_id  uuid NOT NULL REFERENCES households (id),
        position      smallint NOT NULL,
        nik           char(16) NOT NULL,
        name          text NOT NULL,
        sex           char(1) NOT NULL CHECK (sex IN ('M', 'F')),
        birth_date    date NOT NULL,
        relationship  text NOT NULL,
        -- Only set for NIKs that two households held before NIKs had to be unique.
        nik_duplicate boolean NOT NULL DEFAULT false
    );
    INSERT INTO members (member_id, household_id, position, nik, name, sex, birth_date,
                         relationship, nik_duplicate)
    SELECT gen_random_uuid(), h.id, m.ord - 1, m.value->>'nik', m.value->>'name',
           m.value->>'sex', (m.value->>'birth_date')::date, m.value->>'relationship',
           row_number() OVER (PARTITION BY m.value->>'nik' ORDER BY h.registered_at, h.id) > 1
    FROM households h, jsonb_array_elements(h.members) WITH ORDINALITY AS m (value, ord);
    CREATE UNIQUE INDEX members_nik ON members (nik) WHERE NOT nik_duplicate;
    CREATE INDEX members_household ON members (household_id, position);
    UPDATE households h SET
        updated_at = registered_at,
        head_key = lower(regexp_replace(head_name, '\\s', '', 'g')),
        head_birth_date = (SELECT min(birth_date) FROM members m
                           WHERE m.household_id = h.id AND m.relationship = 'head'),
        flags = (SELECT coalesce(jsonb_agg(jsonb_build_object(
                     'member_id', m.member_id, 'code', 'nik-in-another-household',
                     'reason', 'the NIK is held by another household too')), '[]')
                 FROM members m WHERE m.household_id = h.id AND m.nik_duplicate);
    ALTER TABLE households DROP COLUMN members, ALTER COLUMN updated_at SET NOT NULL;
    CREATE INDEX households_near_duplicates
        ON households (village_code, head_key, head_birth_date);
    CREATE TABLE enrolments (
        household_id uuid NOT NULL REFERENCES households (id),
        number       smallint NOT NULL,
        cohort_year  smallint NOT NULL,
        agency       text NOT NULL,
        enrolled_at  timestamptz NOT NULL,
        exit_reason  text,
        exited_at    timestamptz,
        PRIMARY KEY (household_id, number)
    );
    -- The rule "enrolled once at a time" holds even if two requests race.
    CREATE UNIQUE INDEX enrolments_open ON enrolments (household_id) WHERE exited_at IS NULL;
    """,
    OUTBOX_LANES_MIGRATION,
    # Who holds a NIK is asked on every registration and member change. The unique index
    # leaves out the NIKs two households held before NIKs had to be unique, so it cannot
    # answer that question: without this one, each lookup read the whole members table.
    """
    CREATE INDEX members_nik_lookup ON members (nik);
    """,
)

_FLAGS = TypeAdapter(list[Flag])
_MEMBERS = TypeAdapter(list[Member])
_ENROLMENTS = TypeAdapter(list[Enrolment])

# A household with its members and enrolments in one statement (one round trip, not three).
_HOUSEHOLD = """
    SELECT h.*,
           (SELECT coalesce(json_agg(m ORDER BY m.position), '[]') FROM members m
            WHERE m.household_id = h.id) AS members_json,
           (SELECT coalesce(json_agg(e ORDER BY e.number), '[]') FROM enrolments e
            WHERE e.household_id = h.id) AS enrolments_json
    FROM households h"""


# The household holding a KK, and the households holding some NIKs: both by index.
REGISTRATION_LOOKUP: Final = """
    SELECT NULL::text AS nik, id FROM households WHERE kk = $1
    UNION ALL
    SELECT nik, household_id FROM members WHERE nik = ANY($2::bpchar[])"""


def _household(row: asyncpg.Record) -> Household:
    return Household(
        id=row["id"],
        kk=row["kk"],
        head_name=row["head_name"],
        village_code=row["village_code"],
        address=Address.model_validate_json(row["address"]) if row["address"] else None,
        welfare_decile=row["welfare_decile"],
        members=_MEMBERS.validate_json(row["members_json"]),
        flags=_FLAGS.validate_json(row["flags"]),
        enrolments=_ENROLMENTS.validate_json(row["enrolments_json"]),
        registered_at=row["registered_at"],
        updated_at=row["updated_at"],
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
                   (id, kk, head_name, village_code, welfare_decile, address, flags, head_key,
                    head_birth_date, registered_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11)
               ON CONFLICT (kk) DO NOTHING RETURNING id""",
            household.id,
            household.kk,
            household.head_name,
            household.village_code,
            household.welfare_decile,
            household.address.model_dump_json() if household.address else None,
            _FLAGS.dump_json(household.flags).decode(),
            name_key(household.head_name),
            household.head.birth_date,
            household.registered_at,
            household.updated_at,
        )
        if inserted is None:
            return False
        await self._insert_members(household)
        return True

    async def save(self, household: Household, *, members: bool) -> None:
        """Write back a household read with `by_id(..., for_update=True)`; its members too
        when they changed."""
        await self._conn.execute(
            """UPDATE households SET head_name = $2, village_code = $3, welfare_decile = $4,
                   address = $5::jsonb, flags = $6::jsonb, head_key = $7, head_birth_date = $8,
                   updated_at = $9
               WHERE id = $1""",
            household.id,
            household.head_name,
            household.village_code,
            household.welfare_decile,
            household.address.model_dump_json() if household.address else None,
            _FLAGS.dump_json(household.flags).decode(),
            name_key(household.head_name),
            household.head.birth_date,
            household.updated_at,
        )
        if members:
            await self._conn.execute("DELETE FROM members WHERE household_id = $1", household.id)
            await self._insert_members(household)
        await self._conn.executemany(
            """INSERT INTO enrolments
                   (household_id, number, cohort_year, agency, enrolled_at, exit_reason, exited_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (household_id, number) DO UPDATE
                   SET exit_reason = excluded.exit_reason, exited_at = excluded.exited_at""",
            [
                (
                    household.id,
                    n,
                    e.cohort_year,
                    e.agency,
                    e.enrolled_at,
                    e.exit_reason,
                    e.exited_at,
                )
                for n, e in enumerate(household.enrolments)
            ],
        )

    async def _insert_members(self, household: Household) -> None:
        try:
            await self._conn.executemany(
                """INSERT INTO members (member_id, household_id, position, nik, name, sex,
                                        birth_date, relationship)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                [
                    (
                        m.member_id,
                        household.id,
                        i,
                        m.nik,
                        m.name,
                        m.sex,
                        m.birth_date,
                        m.relationship,
                    )
                    for i, m in enumerate(household.members)
                ],
            )
        except asyncpg.UniqueViolationError as exc:
            # Another transaction took the NIK between our check and this insert.
            raise ConflictError(
                "nik-in-another-household", "a member's NIK was registered meanwhile elsewhere"
            ) from exc

    async def owners_of(self, niks: Sequence[str], excluding: uuid.UUID) -> dict[str, uuid.UUID]:
        """The other household holding each of these NIKs, for those another household holds."""
        rows = await self._conn.fetch(
            """SELECT nik, household_id FROM members
               WHERE nik = ANY($1::bpchar[]) AND household_id <> $2""",
            list(niks),
            excluding,
        )
        return {row["nik"]: row["household_id"] for row in rows}

    async def registration_lookup(
        self, kk: str, niks: Sequence[str]
    ) -> tuple[uuid.UUID | None, dict[str, uuid.UUID]]:
        """In one round trip: the household holding this KK (if any), and the household
        holding each of these NIKs (for those some household holds). NIKs are compared as
        char(16), the column's type: compared as text, the column would be cast and no index
        could serve the lookup."""
        rows = await self._conn.fetch(REGISTRATION_LOOKUP, kk, list(niks))
        existing = next((row["id"] for row in rows if row["nik"] is None), None)
        return existing, {row["nik"]: row["id"] for row in rows if row["nik"] is not None}

    async def by_kk(self, kk: str) -> Household | None:
        row = await self._conn.fetchrow(f"{_HOUSEHOLD} WHERE h.kk = $1", kk)
        return _household(row) if row else None

    async def by_id(self, household_id: uuid.UUID, *, for_update: bool = False) -> Household | None:
        # FOR UPDATE: changes to one household queue behind each other instead of racing.
        lock = " FOR UPDATE OF h" if for_update else ""
        row = await self._conn.fetchrow(f"{_HOUSEHOLD} WHERE h.id = $1{lock}", household_id)
        return _household(row) if row else None

    async def near_duplicates(self, limit: int) -> list[list[Household]]:
        """Groups of households with the same head's name and birth date in one village."""
        groups = await self._conn.fetch(
            """SELECT array_agg(id ORDER BY registered_at, id) AS ids FROM households
               WHERE head_key IS NOT NULL
               GROUP BY village_code, head_key, head_birth_date HAVING count(*) > 1
               ORDER BY village_code, head_key, head_birth_date LIMIT $1""",
            limit,
        )
        found: list[list[Household]] = []
        for group in groups:
            households = [await self.by_id(i) for i in group["ids"]]
            found.append([h for h in households if h is not None])
        return found

    async def publish(self, envelope: Envelope, stream: str) -> None:
        await add_to_outbox(self._conn, envelope, f"{self._topic_prefix}.{stream}")


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, topic_prefix: str) -> AsyncIterator[HouseholdUnitOfWork]:
    async with pool.acquire() as conn, conn.transaction():
        yield HouseholdUnitOfWork(conn, topic_prefix)
