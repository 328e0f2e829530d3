"""The audit trail in a service's own database: `audit_log`, append-only.

Writes add their row in the statement (or transaction) of the write itself, so a write rolled
back leaves no row and a committed one always has one (`audited_cte`, `add_audit_row`); reads
add theirs on their own (`AuditLog.append`) before the data leaves the service.

Append-only is enforced in the database, not by convention: a trigger refuses every UPDATE,
DELETE and TRUNCATE of the table, whoever asks (the schema's owner too, who is not stopped by
privileges); and those privileges are revoked from PUBLIC and from the role that creates the
table. A service connecting as a role of its own, not the owner, needs only INSERT and SELECT
(identity columns need no grant on their sequence)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from gayari_shared.audit.trail import Access, AuditRow
from gayari_shared.postgres import Connection

AUDIT_COLUMNS: Final = "key_id, agency, access, operation, household_ids, correlation_id"
AUDIT_PARAMETERS: Final = len(AuditRow._fields)


def audited_cte(first: int, source: str, table: str = "audit_log") -> str:
    """`audited AS (...)`: a write's audit row ($first..$first+5, an AuditRow), inserted once
    per row of the CTE `source` (the written row: nothing written, nothing audited)."""
    n = range(first, first + AUDIT_PARAMETERS)
    values = ", ".join(f"${i}::uuid[]" if i == first + 4 else f"${i}" for i in n)
    return f"audited AS (INSERT INTO {table} ({AUDIT_COLUMNS}) SELECT {values} FROM {source})"


def _insert(table: str) -> str:
    return f"INSERT INTO {table} ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5::uuid[], $6)"


async def add_audit_row(conn: Connection, row: AuditRow, table: str = "audit_log") -> None:
    """One row, in the caller's transaction if it has one."""
    await conn.execute(_insert(table), *row)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    household_id: uuid.UUID | None = None
    key_id: str | None = None
    agency: str | None = None
    operation: str | None = None
    access: Access | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # the page's cursor: rows older than this one


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    key_id: str | None
    agency: str | None
    access: Access
    operation: str
    household_ids: list[uuid.UUID]
    correlation_id: str


class AuditLog:
    """The audit log of one service's database: reads appended, records queried."""

    def __init__(self, pool: asyncpg.Pool, table: str = "audit_log") -> None:
        self._pool = pool
        self._table = table
        self._insert = _insert(table)

    async def append(self, row: AuditRow) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(self._insert, *row)

    async def query(self, where: AuditFilter, limit: int) -> list[AuditRecord]:
        """Newest first, at most `limit`."""
        conditions: list[str] = []
        args: list[Any] = []

        def add(condition: str, value: Any) -> None:
            args.append(value)
            conditions.append(condition.format(f"${len(args)}"))

        if where.household_id is not None:
            add("household_ids @> ARRAY[{}::uuid]", where.household_id)
        for column in ("key_id", "agency", "operation", "access"):
            value = getattr(where, column)
            if value is not None:
                add(f"{column} = {{}}", value)
        if where.since is not None:
            add("at >= {}", where.since)
        if where.until is not None:
            add("at < {}", where.until)
        if where.before_id is not None:
            add("id < {}", where.before_id)
        args.append(limit)
        query = (
            f"SELECT id, at, key_id, agency, access, operation, household_ids, correlation_id "
            f"FROM {self._table} {'WHERE ' + ' AND '.join(conditions) if conditions else ''} "
            f"ORDER BY id DESC LIMIT ${len(args)}"
        )
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return [AuditRecord(**dict(row)) for row in rows]
