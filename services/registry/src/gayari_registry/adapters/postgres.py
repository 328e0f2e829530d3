"""The registry's own database: households, members, enrolments and the outbox, written in one
transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any, Final

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
from gayari_shared.audit import add_audit_row, audited_cte, read_row, write_row
from gayari_shared.events.envelope import Envelope
from gayari_shared.idempotency import carried_key, in_key_transaction, key_errors, keyed_cte
from gayari_shared.migrations import MigrationSet
from gayari_shared.outbox import (
    OUTBOX_COLUMNS,
    outbox_row,
    outbox_unit_of_work,
)
from gayari_shared.postgres import Connection

# The registry schema: the numbered SQL files of gayari_registry/migrations, applied by
# `gayari-registry-migrate` (gayari_shared.migrations).
MIGRATIONS: Final = MigrationSet.from_package("registry", "gayari_registry")

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


def _held(kk: int, niks: int) -> str:
    """The household holding the KK $kk (nik NULL), and the households holding the NIKs
    $niks: both by index."""
    return f"""
    SELECT NULL::text AS nik, id FROM households WHERE kk = ${kk}
    UNION ALL
    SELECT nik, household_id FROM members WHERE nik = ANY(${niks}::bpchar[])"""


REGISTRATION_LOOKUP: Final = _held(1, 2)


def _arrays(first: int, *types: str) -> str:
    """Placeholders $first.. for one array parameter per column, cast to its type."""
    return ", ".join(f"${n}::{t}[]" for n, t in enumerate(types, start=first))


def _members_from(first: int) -> str:
    """Members of the household `written` from arrays, parameters $first..$first+6."""
    arrays = _arrays(first, "uuid", "smallint", "bpchar", "text", "bpchar", "date", "text")
    return f"""
    INSERT INTO members (member_id, household_id, position, nik, name, sex, birth_date,
                         relationship)
    SELECT m.member_id, written.id, m.position, m.nik, m.name, m.sex, m.birth_date,
           m.relationship
    FROM written, unnest({arrays})
         AS m (member_id, position, nik, name, sex, birth_date, relationship)"""


def _staged(first: int) -> str:
    """The event of the write `written` into the outbox, parameters $first..$first+6, and the
    write's audit row, $first+7..$first+12 (an AuditRow). No notification in the statement:
    the unit of work tells the relay after the commit (see add_to_outbox on why)."""
    n = list(range(first, first + 7))
    return f"""
    staged AS (
        INSERT INTO outbox ({OUTBOX_COLUMNS})
        SELECT ${n[0]}, ${n[1]}, ${n[2]}, ${n[3]}, ${n[4]}, ${n[5]}::jsonb, ${n[6]}
        FROM written),
    {audited_cte(first + 7, "written")}"""


def _keyed(first: int) -> tuple[str, str]:
    """The CTE storing a request's Idempotency-Key with the household `written` ($first..),
    and the final SELECT's source that makes it run."""
    return f",\n    {keyed_cte(first, 'written')}", "written, keyed"


# A write and the event it causes in one statement, one round trip (not one per table and
# one for the outbox, nor one more to look up the KK and the NIKs first). A registration:
# inserted unless the KK or a member's NIK is held already; then nothing is written and the
# rows that come back say who holds them (nik NULL: the household holding the KK), as
# REGISTRATION_LOOKUP would. $1..$11 the household (_row, then kk and registered_at),
# $12..$18 its members, $19..$25 the outbox row, $26..$31 the audit row, $32 its version;
# `keyed`, $33..$39 the request's Idempotency-Key and answer, stored if the household is.
def _register(keyed: bool) -> str:
    key, written = _keyed(33) if keyed else ("", "written")
    return f"""
    WITH held AS ({_held(10, 14)}),
    written AS (
        INSERT INTO households
            (id, head_name, village_code, welfare_decile, address, flags, head_key,
             head_birth_date, updated_at, kk, registered_at, version)
        SELECT $1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11, $32
        WHERE NOT EXISTS (SELECT FROM held)
        ON CONFLICT (kk) DO NOTHING RETURNING id),
    members AS ({_members_from(12)}),{_staged(19)}{key}
    SELECT true AS created, NULL::text AS nik, id FROM {written}
    UNION ALL
    SELECT false, nik, id FROM held"""


_REGISTER: Final = _register(keyed=False)
_REGISTER_KEYED: Final = _register(keyed=True)


def _save(guarded: bool, keyed: bool = False) -> str:
    """A household written back: $1..$9 its row, $10..$16 its members when they changed
    (deleted first, by another statement; else empty arrays), $17..$22 its enrolments,
    $23..$29 the outbox row, $30..$35 the audit row, $36 its version. Read FOR UPDATE before;
    or, `guarded`, read without a lock and written only if its row is still the version read
    ($37, the row's xmin: every update of a household, whatever part of it changes, writes a
    new row version); `keyed` too, $38..$44 the request's Idempotency-Key and answer, stored
    if the household is."""
    guard = " AND xmin = $37::xid" if guarded else ""
    key, written = _keyed(38) if keyed else ("", "written")
    return f"""
    WITH written AS (
        UPDATE households SET head_name = $2, village_code = $3, welfare_decile = $4,
            address = $5::jsonb, flags = $6::jsonb, head_key = $7, head_birth_date = $8,
            updated_at = $9, version = $36
        WHERE id = $1{guard} RETURNING id),
    members AS ({_members_from(10)}),
    enrolled AS (
        INSERT INTO enrolments
            (household_id, number, cohort_year, agency, enrolled_at, exit_reason, exited_at)
        SELECT written.id, e.* FROM written, unnest(
            {_arrays(17, "smallint", "smallint", "text", "timestamptz", "text", "timestamptz")}
        ) AS e
        ON CONFLICT (household_id, number) DO UPDATE
            SET exit_reason = excluded.exit_reason, exited_at = excluded.exited_at),
    {_staged(23)}{key}
    SELECT id FROM {written}"""


_SAVE: Final = _save(guarded=False)
_SAVE_IF_UNCHANGED: Final = _save(guarded=True)
_SAVE_IF_UNCHANGED_KEYED: Final = _save(guarded=True, keyed=True)


def _row(household: Household) -> tuple[Any, ...]:
    """The household's columns but kk and registered_at, which never change."""
    return (
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


def _member_arrays(household: Household) -> list[list[Any]]:
    """The members' columns, one array each, for _members_from."""
    members = household.members
    return [
        [m.member_id for m in members],
        list(range(len(members))),
        [m.nik for m in members],
        [m.name for m in members],
        [m.sex for m in members],
        [m.birth_date for m in members],
        [m.relationship for m in members],
    ]


def _nik_taken(exc: asyncpg.UniqueViolationError) -> ConflictError:
    # Another transaction took the NIK between our check and this insert.
    return ConflictError(
        "nik-in-another-household", "a member's NIK was registered meanwhile elsewhere"
    )


def _household(row: asyncpg.Record) -> Household:
    return Household(
        id=row["id"],
        kk=row["kk"],
        head_name=row["head_name"],
        village_code=row["village_code"],
        # Taken as stored, not checked again: rules for new input (no control characters in
        # the street, since 2026-12) must not make an older household unreadable.
        address=Address.model_construct(**json.loads(row["address"])) if row["address"] else None,
        welfare_decile=row["welfare_decile"],
        members=_MEMBERS.validate_json(row["members_json"]),
        flags=_FLAGS.validate_json(row["flags"]),
        enrolments=_ENROLMENTS.validate_json(row["enrolments_json"]),
        registered_at=row["registered_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


class HouseholdUnitOfWork:
    """One transaction: household rows and the events they cause commit together."""

    def __init__(self, conn: Connection, topic_prefix: str) -> None:
        self._conn = conn
        self._topic_prefix = topic_prefix
        self.staged = False  # an event was written (committed, outside a transaction)

    async def add_if_new(
        self, household: Household, event: Envelope, stream: str
    ) -> tuple[bool, uuid.UUID | None, dict[str, uuid.UUID]]:
        """Insert the household, its members and its event unless its KK or a member's NIK is
        held already, in one round trip. (True, None, {}) when it was written; else nothing
        is written and (False, the household holding the KK or None, the household holding
        each NIK held), as registration_lookup tells. (False, None, {}): the KK was registered
        by a concurrent request meanwhile. A request's Idempotency-Key is stored with the
        household (gayari_shared.idempotency.carried_key)."""
        keyed = carried_key(self._conn, household)
        try:
            with key_errors(keyed):
                rows = await self._conn.fetch(
                    _REGISTER if keyed is None else _REGISTER_KEYED,
                    *_row(household),
                    household.kk,
                    household.registered_at,
                    *_member_arrays(household),
                    *outbox_row(event, self._topic(stream)),
                    *write_row(event),
                    household.version,
                    *(() if keyed is None else keyed.arguments()),
                )
        except asyncpg.UniqueViolationError as exc:
            raise _nik_taken(exc) from exc
        if any(row["created"] for row in rows):
            self.staged = True
            if keyed is not None:
                keyed.written()
            return True, None, {}
        existing = next((row["id"] for row in rows if row["nik"] is None), None)
        return False, existing, {row["nik"]: row["id"] for row in rows if row["nik"] is not None}

    async def save(
        self,
        household: Household,
        *,
        members: bool,
        event: Envelope,
        stream: str,
        if_version: int | None = None,
    ) -> bool:
        """Write back a household read with `by_id(..., for_update=True)` (its members too
        when they changed) and stage the event the change causes. With `if_version` (from
        `versioned`, read without a lock, members unchanged) only if the household is still
        that version: False when it changed meanwhile, then nothing is written; and a
        request's Idempotency-Key is stored with it (gayari_shared.idempotency.carried_key)."""
        keyed = None if if_version is None else carried_key(self._conn, household)
        if members:
            if if_version is not None:
                raise ValueError("a member change is written under the household's lock")
            await self._conn.execute("DELETE FROM members WHERE household_id = $1", household.id)
        enrolments = household.enrolments
        if if_version is None:
            statement = _SAVE
        else:
            statement = _SAVE_IF_UNCHANGED if keyed is None else _SAVE_IF_UNCHANGED_KEYED
        try:
            with key_errors(keyed):
                written = await self._conn.fetchrow(
                    statement,
                    *_row(household),
                    *(_member_arrays(household) if members else [[]] * 7),
                    list(range(len(enrolments))),
                    [e.cohort_year for e in enrolments],
                    [e.agency for e in enrolments],
                    [e.enrolled_at for e in enrolments],
                    [e.exit_reason for e in enrolments],
                    [e.exited_at for e in enrolments],
                    *outbox_row(event, self._topic(stream)),
                    *write_row(event),
                    household.version,
                    *(() if if_version is None else (if_version,)),
                    *(() if keyed is None else keyed.arguments()),
                )
        except asyncpg.UniqueViolationError as exc:
            raise _nik_taken(exc) from exc
        if if_version is None:
            assert written is not None, "saved a household that was not read FOR UPDATE"
        self.staged = self.staged or written is not None
        if written is not None and keyed is not None:
            keyed.written()
        return written is not None

    async def audit_read(self, household_id: uuid.UUID, correlation_id: str) -> None:
        """The audit row of a household handed back without a write (a known KK registered
        again, a change that changed nothing). With a request's Idempotency-Key, in its
        transaction: the row is kept only with the stored answer."""
        await in_key_transaction(self._conn)
        await add_audit_row(self._conn, read_row("read:household", [household_id], correlation_id))

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

    async def versioned(self, household_id: uuid.UUID) -> tuple[Household, int] | None:
        """The household and the version of its row (its xmin), read without a lock, for
        `save(..., if_version=...)`."""
        row = await self._conn.fetchrow(
            f"{_HOUSEHOLD.replace('SELECT h.*,', 'SELECT h.*, h.xmin AS row_version,', 1)} "
            "WHERE h.id = $1",
            household_id,
        )
        return None if row is None else (_household(row), int(row["row_version"]))

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

    def _topic(self, stream: str) -> str:
        return f"{self._topic_prefix}.{stream}"


# outbox.staging_work over a connection of the pool (or in the transaction of the request's
# idempotency claim, see gayari_shared.idempotency).
unit_of_work = partial(outbox_unit_of_work, HouseholdUnitOfWork)
