"""The interventions service's own database: known households (from registry events), the
agencies' records and the outbox.

Records are never deleted and their fields never rewritten: a correction is a row in `voids`
(which moves the record's `changed_at`, its only column that changes), and every query for a
"live" record leaves voided ones out.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from functools import partial
from typing import Any, Final, TypeVar

import asyncpg

from gayari_interventions.adapters.records import read_records
from gayari_interventions.domain.budget import BudgetAllocation
from gayari_interventions.domain.grants import Grant
from gayari_interventions.domain.households import (
    HouseholdChanges,
    KnownHousehold,
    merge_household,
)
from gayari_interventions.domain.import_rows import ImportReceipt
from gayari_interventions.domain.intake import IntakeRejectionRecord
from gayari_interventions.domain.monitoring import BusinessSurvey, MentoringVisit
from gayari_interventions.domain.records import ListedKind, Recordable, RecordFilter, StoredRecord
from gayari_interventions.domain.training import (
    Attendance,
    Participant,
    TrainingCompletion,
    TrainingSession,
)
from gayari_interventions.domain.voids import Void, VoidTarget
from gayari_shared.audit import audited_cte, write_row
from gayari_shared.audit.store import AUDIT_PARAMETERS
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.interventions import InterventionType
from gayari_shared.idempotency import carried_key, key_errors, keyed_cte, transaction
from gayari_shared.migrations import MigrationSet
from gayari_shared.outbox import (
    OUTBOX_COLUMNS,
    add_to_outbox,
    outbox_row,
    outbox_unit_of_work,
)
from gayari_shared.postgres import Connection, in_uuid_order

# The interventions schema: the numbered SQL files of gayari_interventions/migrations, applied by
# `gayari-interventions-migrate` (gayari_shared.migrations).
MIGRATIONS: Final = MigrationSet.from_package("interventions", "gayari_interventions")

# Told, in the transaction that applied registry events, to the requests waiting for a
# household to reach a version (adapters.household_watch). No payload: a batch may hold a
# thousand households, more than a notification carries; a waiter reads its own again.
HOUSEHOLDS_CHANNEL: Final = "gayari_known_households"

# Where each kind of record lives; the household column is NULL for agency-level records.
_RECORD_TABLES: Final[dict[InterventionType, tuple[str, str]]] = {
    "grant": ("grants", "household_id"),
    "training-session": ("training_sessions", "NULL::uuid"),
    "training-participant": ("training_participants", "household_id"),
    "training-attendance": ("training_attendance", "household_id"),
    "training-completion": ("training_completions", "household_id"),
    "mentoring-visit": ("mentoring_visits", "household_id"),
    "business-survey": ("business_surveys", "household_id"),
    "budget-allocation": ("budget_allocations", "NULL::uuid"),
}


_KNOWN_COLUMNS: Final = """household_id, village_code, welfare_decile, registered_at, kk_hash,
    enrolled_at, exited_at, exit_reason, member_ids, members_as_of, registry_version AS version"""


def _known(row: asyncpg.Record) -> KnownHousehold:
    return KnownHousehold.model_validate(
        {
            **dict(row),
            "member_ids": None if row["member_ids"] is None else frozenset(row["member_ids"]),
        }
    )


def _uuid_array(ids: frozenset[uuid.UUID] | None) -> str | None:
    """A uuid[] as PostgreSQL's text form: a row's array travels in one text[] element."""
    return None if ids is None else "{" + ",".join(str(i) for i in sorted(ids)) + "}"


def _newer(at: str) -> str:
    return f"excluded.{at} IS NOT NULL AND (k.{at} IS NULL OR excluded.{at} > k.{at})"


def _take(condition: str, *columns: str) -> str:
    return ",\n".join(
        f"{c} = CASE WHEN {condition} THEN excluded.{c} ELSE k.{c} END" for c in columns
    )


# The rows learn_households merged under FOR UPDATE, written in one statement. The guards are
# the domain's rules again: they decide only for a household first stored by another consumer
# after it was read (two owners of a partition during a rebalance), which then keeps the newer
# of each group from both instead of the last writer's row.
_REGISTERED: Final = "k.registered_at IS NULL AND excluded.registered_at IS NOT NULL"
_LEARN_HOUSEHOLDS: Final = f"""
    INSERT INTO known_households AS k
        (household_id, village_code, welfare_decile, registered_at, event_id,
         enrolled_at, exited_at, exit_reason, member_ids, members_as_of, registry_version,
         kk_hash)
    SELECT h, v, d, r, e, en, ex, er, m::uuid[], ma, rv, kh
    FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::timestamptz[], $5::uuid[],
                $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::timestamptz[],
                $11::bigint[], $12::text[])
         AS u(h, v, d, r, e, en, ex, er, m, ma, rv, kh)
    ON CONFLICT (household_id) DO UPDATE SET
    {_take(_REGISTERED, "village_code", "welfare_decile", "registered_at", "kk_hash")},
    {_take(_newer("members_as_of"), "member_ids", "members_as_of")},
    {_take(_newer("enrolled_at"), "enrolled_at")},
    {_take(_newer("exited_at"), "exited_at", "exit_reason")},
    registry_version = GREATEST(k.registry_version, excluded.registry_version),
    event_id = excluded.event_id
    WHERE {_REGISTERED} OR {_newer("members_as_of")}
       OR {_newer("enrolled_at")} OR {_newer("exited_at")}
       OR excluded.registry_version > k.registry_version
"""


def _live(kind: InterventionType, alias: str) -> str:
    """SQL condition: the record `alias` (of `kind`) has not been voided."""
    return (
        f"NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = '{kind}' "
        f"AND v.intervention_id = {alias}.id)"
    )


R = TypeVar("R", bound=Recordable)


# Each record's table: its fields are the table's columns (a grant's items have their own).
_TABLE_OF: Final[dict[type[Recordable], str]] = {
    Grant: "grants",
    TrainingSession: "training_sessions",
    Participant: "training_participants",
    MentoringVisit: "mentoring_visits",
    BusinessSurvey: "business_surveys",
    BudgetAllocation: "budget_allocations",
}


_TYPE_OF: Final[dict[type[Recordable], InterventionType]] = {
    Grant: "grant",
    TrainingSession: "training-session",
    Participant: "training-participant",
    MentoringVisit: "mentoring-visit",
    BusinessSurvey: "business-survey",
    BudgetAllocation: "budget-allocation",
}


def _record_row(record: Recordable) -> tuple[str, dict[str, Any]]:
    """The table of a record and its columns with their values."""
    return _TABLE_OF[type(record)], record.model_dump(exclude={"items"})


@functools.cache
def _record_statement(
    table: str, columns: tuple[str, ...], guarded: bool, items: bool, keyed: bool = False
) -> str:
    """A record, its grant items (if any), its event and its audit row in one statement: $1..
    the record's columns, then the outbox row, then the audit row, then, `guarded`, the
    household and the version of its row that the record was decided on (the statement writes
    nothing if the household changed since), then the items' arrays, then, `keyed`, the
    request's Idempotency-Key and answer (stored if the record is). Returns the record's id
    when it was written. (No notification: the unit of work tells the relay after the commit,
    see add_to_outbox.)"""
    n = len(columns)
    o = n + 1
    a = o + 7
    p = a + AUDIT_PARAMETERS
    parts = []
    source = ""
    if guarded:
        # FOR SHARE, as known_household: an exit arriving meanwhile waits for this record.
        parts.append(
            f"household AS (SELECT FROM known_households WHERE household_id = ${p} "
            f"AND xmin = ${p + 1}::xid FOR SHARE)"
        )
        source = " FROM household"
        p += 2
    values = ", ".join(f"${i}" for i in range(1, n + 1))
    parts.append(
        f"recorded AS (INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {values}{source} RETURNING id)"
    )
    if items:
        parts.append(
            "items AS (INSERT INTO grant_items "
            "(grant_id, line, description, quantity, unit, unit_value_idr) "
            f"SELECT recorded.id, i.* FROM recorded, unnest(${p}::smallint[], ${p + 1}::text[], "
            f"${p + 2}::int[], ${p + 3}::text[], ${p + 4}::bigint[]) AS i)"
        )
        p += 5
    parts.append(
        f"staged AS (INSERT INTO outbox ({OUTBOX_COLUMNS}) "
        f"SELECT ${o}, ${o + 1}, ${o + 2}, ${o + 3}, ${o + 4}, ${o + 5}::jsonb, ${o + 6} "
        "FROM recorded)"
    )
    parts.append(audited_cte(a, "recorded"))
    if keyed:
        parts.append(keyed_cte(p, "recorded"))
    return "WITH " + ",\n".join(parts) + f"\nSELECT id FROM recorded{', keyed' if keyed else ''}"


class InterventionsUnitOfWork:
    """One transaction: intervention rows and their events commit together."""

    def __init__(self, conn: Connection, topic_prefix: str) -> None:
        self._conn = conn
        self._topic_prefix = topic_prefix
        self.staged = False  # an event was written (committed, outside a transaction)
        self.recorded: tuple[InterventionType, uuid.UUID] | None = None  # the last record()

    # -- households, as the registry's events tell them ------------------------------------

    async def known_household(self, household_id: uuid.UUID) -> KnownHousehold | None:
        # FOR SHARE while recording: an exit arriving meanwhile waits for this transaction, so
        # an intervention is never recorded after the household was seen to exit.
        row = await self._conn.fetchrow(
            f"SELECT {_KNOWN_COLUMNS} FROM known_households WHERE household_id = $1 FOR SHARE",
            household_id,
        )
        return None if row is None else _known(row)

    async def versioned_household(
        self, household_id: uuid.UUID
    ) -> tuple[KnownHousehold, int] | None:
        """The household and the version of its row (its xmin), read without a lock, for
        `record(..., household_version=...)`."""
        row = await self._conn.fetchrow(
            f"SELECT {_KNOWN_COLUMNS}, xmin AS row_version FROM known_households "
            "WHERE household_id = $1",
            household_id,
        )
        if row is None:
            return None
        known = dict(row)
        version = int(known.pop("row_version"))
        member_ids = known["member_ids"]
        known["member_ids"] = None if member_ids is None else frozenset(member_ids)
        return KnownHousehold.model_validate(known), version

    async def record(
        self,
        record: Recordable,
        envelope: Envelope,
        stream: str,
        *,
        household_version: int | None = None,
    ) -> bool:
        """The record, its grant items and its event in one statement: one round trip, and
        atomic without a transaction. With `household_version` (from versioned_household),
        only if the record's household is still that version, taken FOR SHARE: False when it
        changed meanwhile, then nothing is written. A request's Idempotency-Key is stored
        with it (gayari_shared.idempotency.carried_key)."""
        keyed = carried_key(self._conn, record)
        table, row = _record_row(record)
        args: list[Any] = [
            *row.values(),
            *outbox_row(envelope, f"{self._topic_prefix}.{stream}"),
            *write_row(envelope),
        ]
        guarded = household_version is not None
        if guarded:
            args += [row["household_id"], household_version]
        items = record.items if isinstance(record, Grant) else []
        if items:
            args += [
                list(range(1, len(items) + 1)),
                [i.description for i in items],
                [i.quantity for i in items],
                [i.unit for i in items],
                [i.unit_value_idr for i in items],
            ]
        if keyed is not None:
            args += keyed.arguments()
        query = _record_statement(table, tuple(row), guarded, bool(items), keyed is not None)
        with key_errors(keyed):
            written = await self._conn.fetchval(query, *args) is not None
        self.staged = self.staged or written
        if written:
            self.recorded = (_TYPE_OF[type(record)], record.id)
            if keyed is not None:
                keyed.written()
        return written

    async def record_decided(
        self,
        household_id: uuid.UUID | None,
        decide: Callable[[KnownHousehold | None], tuple[R, Envelope, str]],
    ) -> R:
        """Decide a record on its household and write it with its event, the household
        unchanged in between.

        Outside a transaction (statements each atomic by itself), optimistically: the
        household is read without a lock, and the record written, in one statement, only if
        the household's row is still the version decided on, taking it FOR SHARE for that
        statement as a transaction would (two round trips for a household's record, one for an
        agency's, against five). A household changed meanwhile (an exit just applied, say) is
        decided again the locked way, in a transaction of its own on this connection (the
        transaction of the request's Idempotency-Key, if it has one). In a transaction (the
        unit's own, or a key's), the locked way at once: the household read FOR SHARE, so an
        exit arriving meanwhile waits for the record."""
        if household_id is None:
            record, envelope, stream = decide(None)
            await self.record(record, envelope, stream)
            return record
        if self._conn.is_in_transaction():
            return await self._record_locked(household_id, decide)
        seen = await self.versioned_household(household_id)
        if seen is not None:
            household, version = seen
            record, envelope, stream = decide(household)
            if await self.record(record, envelope, stream, household_version=version):
                return record
        async with transaction(self._conn):
            return await self._record_locked(household_id, decide)

    async def _record_locked(
        self,
        household_id: uuid.UUID,
        decide: Callable[[KnownHousehold | None], tuple[R, Envelope, str]],
    ) -> R:
        record, envelope, stream = decide(await self.known_household(household_id))
        await self.record(record, envelope, stream)
        return record

    async def learn_households(self, changes: Mapping[uuid.UUID, HouseholdChanges]) -> int:
        """A batch of the registry's events, folded per household, merged into the stored
        households: one statement reads and locks them, one writes those that changed. How many
        households changed."""
        ids = in_uuid_order(changes)
        # In a fixed order, so two owners of one partition (a rebalance race) queue up instead
        # of deadlocking; an exit waits for recordings holding the household FOR SHARE.
        rows = await self._conn.fetch(
            f"""SELECT {_KNOWN_COLUMNS} FROM known_households
                WHERE household_id = ANY($1::uuid[]) ORDER BY household_id FOR UPDATE""",
            ids,
        )
        stored = {row["household_id"]: _known(row) for row in rows}
        writes: list[tuple[Any, ...]] = []
        for household_id in ids:
            merged = merge_household(stored.get(household_id), changes[household_id])
            if merged is None:
                continue
            known, event_id = merged
            writes.append(
                (
                    household_id,
                    known.village_code,
                    known.welfare_decile,
                    known.registered_at,
                    event_id,
                    known.enrolled_at,
                    known.exited_at,
                    known.exit_reason,
                    _uuid_array(known.member_ids),
                    known.members_as_of,
                    known.version,
                    known.kk_hash,
                )
            )
        if writes:
            await self._conn.execute(
                _LEARN_HOUSEHOLDS, *[list(column) for column in zip(*writes, strict=True)]
            )
            # Delivered at commit, to every instance's waiting requests.
            await self._conn.execute(f"NOTIFY {HOUSEHOLDS_CHANNEL}")
        return len(writes)

    # -- training ----------------------------------------------------------------------------

    async def live_session(self, session_id: uuid.UUID) -> TrainingSession | None:
        # FOR UPDATE: participants of one session are added one at a time, so the check for
        # a member already taking part cannot race.
        row = await self._conn.fetchrow(
            f"""SELECT id, agency, topic, starts_on, ends_on, hours, place, recorded_at
                FROM training_sessions s WHERE id = $1 AND {_live("training-session", "s")}
                FOR UPDATE""",
            session_id,
        )
        return None if row is None else TrainingSession.model_validate(dict(row))

    async def live_participant(
        self, session_id: uuid.UUID, household_id: uuid.UUID, member_id: uuid.UUID
    ) -> Participant | None:
        # FOR UPDATE: one participant's attendance and completion are recorded one at a time.
        row = await self._conn.fetchrow(
            f"""SELECT id, session_id, household_id, member_id, agency, added_at
                FROM training_participants p
                WHERE session_id = $1 AND household_id = $2 AND member_id = $3
                  AND {_live("training-participant", "p")}
                FOR UPDATE""",
            session_id,
            household_id,
            member_id,
        )
        return None if row is None else Participant.model_validate(dict(row))

    async def attended(self, participant: Participant | None, day: date) -> bool:
        if participant is None:
            return False
        return await self._exists(
            f"""SELECT 1 FROM training_attendance a WHERE participant_id = $1
                AND attended_on = $2 AND {_live("training-attendance", "a")}""",
            participant.id,
            day,
        )

    async def add_attendance(self, attendance: Attendance) -> None:
        await self._conn.execute(
            """INSERT INTO training_attendance
                   (id, participant_id, household_id, agency, attended_on, recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            attendance.id,
            attendance.participant_id,
            attendance.household_id,
            attendance.agency,
            attendance.attended_on,
            attendance.recorded_at,
        )

    async def completed(self, participant: Participant | None) -> bool:
        if participant is None:
            return False
        return await self._exists(
            f"""SELECT 1 FROM training_completions c WHERE participant_id = $1
                AND {_live("training-completion", "c")}""",
            participant.id,
        )

    async def add_training_completion(self, completion: TrainingCompletion) -> None:
        await self._conn.execute(
            """INSERT INTO training_completions
                   (id, household_id, agency, topic, hours, completed_on, recorded_at,
                    session_id, participant_id, member_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            completion.id,
            completion.household_id,
            completion.agency,
            completion.topic,
            completion.hours,
            completion.completed_on,
            completion.recorded_at,
            completion.session_id,
            completion.participant_id,
            completion.member_id,
        )

    # -- voids ---------------------------------------------------------------------------------

    async def void_target(self, kind: InterventionType, record_id: uuid.UUID) -> VoidTarget | None:
        table, household = _RECORD_TABLES[kind]
        # FOR UPDATE: two voids of one record queue up, and the second sees the first.
        row = await self._conn.fetchrow(
            f"""SELECT r.id, r.agency, {household} AS household_id,
                       NOT {_live(kind, "r")} AS voided
                FROM {table} r WHERE r.id = $1 FOR UPDATE OF r""",
            record_id,
        )
        return None if row is None else VoidTarget.model_validate(dict(row))

    async def void_target_by_external_id(
        self, kind: InterventionType, agency: str, external_id: uuid.UUID
    ) -> VoidTarget | None:
        """The record of `kind` that `agency`'s system sent with this CloudEvents id."""
        record_id = await self._conn.fetchval(
            """SELECT intervention_id FROM intake_receipts
               WHERE event_id = $1 AND agency = $2 AND intervention_type = $3""",
            external_id,
            agency,
            kind,
        )
        return None if record_id is None else await self.void_target(kind, record_id)

    async def add_void(self, void: Void) -> None:
        await self._conn.execute(
            """INSERT INTO voids (id, intervention_type, intervention_id, household_id, agency,
                                  reason, explanation, voided_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            void.id,
            void.intervention_type,
            void.intervention_id,
            void.household_id,
            void.agency,
            void.reason,
            void.explanation,
            void.voided_at,
        )
        # A void is a change of the record: it comes back in a list of changes.
        table = _RECORD_TABLES[void.intervention_type][0]
        await self._conn.execute(
            f"UPDATE {table} SET changed_at = clock_timestamp() WHERE id = $1",
            void.intervention_id,
        )

    # -- reading records back -------------------------------------------------------------

    async def records(
        self, kind: ListedKind, query: RecordFilter, record_id: uuid.UUID | None = None
    ) -> list[StoredRecord]:
        return await read_records(self._conn, kind, query, record_id)

    # -- events --------------------------------------------------------------------------------

    async def publish(self, envelope: Envelope, stream: str) -> None:
        await add_to_outbox(
            self._conn,
            envelope,
            f"{self._topic_prefix}.{stream}",
            notify=False,
            audit=write_row(envelope),
        )
        self.staged = True

    # -- intake from agency systems ---------------------------------------------------------

    async def claim_intake(self, event_id: uuid.UUID, agency: str, event_type: str) -> bool:
        """False when this agency's event id was taken before: the record is a redelivery."""
        claimed = await self._conn.fetchval(
            """INSERT INTO intake_receipts (event_id, agency, event_type) VALUES ($1, $2, $3)
               ON CONFLICT (event_id, agency) DO NOTHING RETURNING 1""",
            event_id,
            agency,
            event_type,
        )
        return claimed is not None

    async def link_intake(
        self, event_id: uuid.UUID, agency: str, kind: InterventionType, record_id: uuid.UUID
    ) -> None:
        """The claimed event made this record: it is found, and voided, by that id."""
        await self._conn.execute(
            """UPDATE intake_receipts SET intervention_type = $3, intervention_id = $4
               WHERE event_id = $1 AND agency = $2""",
            event_id,
            agency,
            kind,
            record_id,
        )

    async def record_rejection(self, rejection: IntakeRejectionRecord) -> None:
        # One row per source record: a redelivered rejection is not counted twice.
        await self._conn.execute(
            """INSERT INTO intake_rejections
                   (agency, topic, "partition", "offset", event_id, reason_code, reason)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
            rejection.agency,
            rejection.topic,
            rejection.partition,
            rejection.offset,
            rejection.event_id,
            rejection.code,
            rejection.reason,
        )

    async def rejection_counts(self) -> list[tuple[str, str, int]]:
        rows = await self._conn.fetch(
            """SELECT agency, reason_code, count(*) AS n FROM intake_rejections
               GROUP BY agency, reason_code ORDER BY agency, reason_code"""
        )
        return [(r["agency"], r["reason_code"], int(r["n"])) for r in rows]

    # -- spreadsheet imports (service_layer.imports) ----------------------------------------

    async def households_by_kk_hash(self, hashes: list[str]) -> dict[str, list[uuid.UUID]]:
        """The households known by each keyed hash of a KK (one, unless the registry erred)."""
        rows = await self._conn.fetch(
            """SELECT kk_hash, household_id FROM known_households
               WHERE kk_hash = ANY($1::text[])""",
            hashes,
        )
        found: dict[str, list[uuid.UUID]] = {}
        for row in rows:
            found.setdefault(row["kk_hash"], []).append(row["household_id"])
        return found

    async def claim_import_row(
        self, row_id: uuid.UUID, agency: str, event_type: str, fingerprint: str
    ) -> ImportReceipt | None:
        """None when the row is new (claimed now, with its fingerprint); else what it made
        when first taken, locked until the transaction ends (a concurrent upload of the same
        row waits, then finds it)."""
        claimed = await self._conn.fetchval(
            """INSERT INTO intake_receipts (event_id, agency, event_type, fingerprint)
               VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, agency) DO NOTHING RETURNING 1""",
            row_id,
            agency,
            event_type,
            fingerprint,
        )
        if claimed is not None:
            return None
        row = await self._conn.fetchrow(
            """SELECT fingerprint, intervention_type, intervention_id FROM intake_receipts
               WHERE event_id = $1 AND agency = $2 FOR UPDATE""",
            row_id,
            agency,
        )
        assert row is not None  # receipts are never deleted
        return ImportReceipt(row["fingerprint"], row["intervention_type"], row["intervention_id"])

    async def relink_import_row(
        self,
        row_id: uuid.UUID,
        agency: str,
        kind: InterventionType,
        record_id: uuid.UUID,
        fingerprint: str,
    ) -> None:
        """A corrected row now names its new record, and says what it says now."""
        await self._conn.execute(
            """UPDATE intake_receipts SET intervention_type = $3, intervention_id = $4,
                      fingerprint = $5
               WHERE event_id = $1 AND agency = $2""",
            row_id,
            agency,
            kind,
            record_id,
            fingerprint,
        )

    async def imported_record(
        self, row_id: uuid.UUID, agency: str, kind: InterventionType
    ) -> uuid.UUID | None:
        """The record of `kind` the agency's imported row made (its latest, if corrected)."""
        found: uuid.UUID | None = await self._conn.fetchval(
            """SELECT intervention_id FROM intake_receipts
               WHERE event_id = $1 AND agency = $2 AND intervention_type = $3""",
            row_id,
            agency,
            kind,
        )
        return found

    async def _exists(self, query: str, *args: Any) -> bool:
        return await self._conn.fetchval(query, *args) is not None


# outbox.staging_work over a connection of the pool (or in the transaction of the request's
# idempotency claim, see gayari_shared.idempotency).
unit_of_work = partial(outbox_unit_of_work, InterventionsUnitOfWork)
