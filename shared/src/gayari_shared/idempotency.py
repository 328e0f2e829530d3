"""Idempotency keys of the write APIs (the IETF httpapi Idempotency-Key draft): the first
response to a key, stored in the transaction of the write it answers, and the transaction a
request with a key runs its use case in.

How a request with a key runs (see gayari_shared.http.idempotency for the HTTP side):
1. `IdempotencyStore.claim` takes a connection, begins a transaction and, in the same round
   trip, tries the key's transaction-level advisory lock and, once it holds it, looks for a
   response stored for the key (the database function idempotency_claim: its statements are
   planned once per connection, not on every request). Lock not taken: another request with
   the key is in flight (409). A response stored: a replay (or a reused key), and the
   transaction ends without writing.
2. Otherwise the claim is bound to the request (`Claim.bind`): every unit of work the use case
   opens on the same pool joins this transaction instead of taking a connection of its own
   (`joined_or_acquired`, and outbox.staging_work opens no transaction of its own in it).
3. `Claim.commit` stores the response beside the domain rows and their outbox rows, and
   commits (one round trip): all of them exist, or none. So a key costs a request two round
   trips, whatever the use case.

No "pending" row is ever written: the claim is the advisory lock, which lives exactly as long
as the transaction. A process killed with -9 mid-request closes its sockets; PostgreSQL then
ends the backend, which rolls the transaction back and releases the lock, so a retry finds the
key free and nothing of the first attempt written. The lock is tried, never waited for, so a
concurrent duplicate gets its 409 at once. The lookup is a statement after the one that took
the lock, so its snapshot sees the commit of the request that held the lock just before (a
transaction's locks are released after its commit is visible). Should a response be stored
all the same under a claim (two keys sharing a lock id never do that; a stored row is all the
primary key looks at), the primary key refuses the second row (`AlreadyStoredError`): the
transaction rolls back with everything it wrote and the caller answers from the row stored
first. So a key never writes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from gayari_shared.postgres import Connection

log = structlog.get_logger(__name__)

# How often each instance deletes the keys older than their time to live.
SWEEP_INTERVAL_S: Final = 600.0

_STORED: Final = """
    SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE scope = $1 AND key = $2"""


def _text(value: str) -> str:
    """A string constant for the statements below: an escape string (E'...'), read the same
    whatever standard_conforming_strings says. The values are a scope, a key (printable ASCII,
    checked by the HTTP side) and JSON: no NUL can be among them."""
    if "\x00" in value:
        raise ValueError("NUL in an idempotency value")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _bytes(value: bytes) -> str:
    return f"decode('{value.hex()}', 'hex')"


def _claim_statement(scope: str, key: str) -> str:
    """BEGIN and the claim in one round trip (the simple query protocol runs both; it takes no
    parameters, so the values are constants): one row (`SELECT 1`) when this transaction now
    holds the key's lock and no response is stored for the key; none otherwise (in flight, or
    stored: told apart afterwards, rarely)."""
    return (
        f"BEGIN; SELECT 1 WHERE idempotency_claim({lock_id(scope, key)}, {_text(scope)}, "
        f"{_text(key)})"
    )


def _store_statement(
    scope: str, key: str, *, fingerprint: bytes, status: int, headers: str, body: bytes
) -> str:
    """The response stored and the transaction committed, in one round trip."""
    return (
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status, headers, body) VALUES ("
        f"{_text(scope)}, {_text(key)}, {_bytes(fingerprint)}, {int(status)}, "
        f"{_text(headers)}::jsonb, {_bytes(body)}); COMMIT"
    )


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to a key, and the fingerprint of the request it answered."""

    fingerprint: bytes
    status: int
    headers: dict[str, str]
    body: bytes


class AlreadyStoredError(Exception):
    """Another request with the key committed its response first; this one wrote nothing."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("a response is stored for this key already")
        self.stored = stored


def _stored(row: asyncpg.Record | None) -> StoredResponse | None:
    if row is None or row["status"] is None:
        return None
    return StoredResponse(
        fingerprint=bytes(row["fingerprint"]),
        status=int(row["status"]),
        headers=json.loads(row["headers"]),
        body=bytes(row["body"]),
    )


def lock_id(scope: str, key: str) -> int:
    """The key's advisory lock: 64 bits of its SHA-256, signed as PostgreSQL's bigint. (Two
    keys sharing one would only make one wait for the other's 409, never write twice.)"""
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(eq=False)
class Claim:
    """An open transaction holding a key's lock, for the request that claimed the key."""

    store: IdempotencyStore
    scope: str
    key: str
    fingerprint: bytes
    conn: PoolConnectionProxy[Any]
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    closed: bool = False

    def bind(self) -> None:
        """Units of work opened from now on in this task (and tasks it starts) on the store's
        pool join the claim's transaction, until `unbind` or the claim ends."""
        _CURRENT.set(self)

    def unbind(self) -> None:
        _CURRENT.set(None)

    async def commit(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Store the response with whatever the use case wrote, and commit; then what the
        units of work asked to run after their commit (the relay's nudge). Raises
        AlreadyStoredError (everything rolled back) when the key's response was stored by a
        request whose commit this one's lookup did not see."""
        try:
            await self.conn.execute(
                _store_statement(
                    self.scope,
                    self.key,
                    fingerprint=self.fingerprint,
                    status=status,
                    headers=json.dumps(headers),
                    body=body,
                )
            )
        except asyncpg.UniqueViolationError:
            await self.rollback()
            stored = await self.store.stored(self.scope, self.key)
            if stored is None:  # swept meanwhile: older than its time to live, far from here
                raise
            raise AlreadyStoredError(stored) from None
        except BaseException:
            await self.rollback()
            raise
        await self._close()
        for call in self.after_commit:
            call()

    async def rollback(self) -> None:
        """Nothing of the request is kept; the key is free again."""
        if self.closed:
            return
        try:
            # The connection is released even if it broke (the pool discards it).
            with contextlib.suppress(Exception):
                await self.conn.execute("ROLLBACK")
        finally:
            await self._close()

    async def _close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.store.pool.release(self.conn)


_CURRENT: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "gayari_idempotency_claim", default=None
)


def joined_claim(conn: Connection) -> Claim | None:
    """The claim whose transaction `conn` runs in, if a unit of work joined one."""
    claim = _CURRENT.get()
    return claim if claim is not None and claim.conn is conn and not claim.closed else None


@contextlib.asynccontextmanager
async def joined_or_acquired(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """The connection of the claim bound to this request when it is on `pool` (its
    transaction), else one of the pool's."""
    claim = _CURRENT.get()
    if claim is not None and claim.store.pool is pool and not claim.closed:
        yield claim.conn
        return
    async with pool.acquire() as conn:
        yield conn


@dataclass(frozen=True, slots=True)
class Claimed:
    """What claiming a key found: in flight elsewhere (claim None, stored None), a stored
    response (claim None), or the key free, claimed by this request."""

    claim: Claim | None
    stored: StoredResponse | None


class IdempotencyStore:
    """The stored responses of one service's database."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self.pool = pool
        self.ttl_s = ttl_s

    async def claim(self, scope: str, key: str, fingerprint: bytes) -> Claimed:
        conn = await self.pool.acquire()
        claim = Claim(self, scope, key, fingerprint, conn)
        try:
            claimed = await conn.execute(_claim_statement(scope, key)) == "SELECT 1"
        except BaseException:
            await claim.rollback()
            raise
        if claimed:
            return Claimed(claim, None)
        await claim.rollback()
        # Rarely here: a response stored (a replay), or none (the key is in flight).
        return Claimed(None, await self.stored(scope, key))

    async def stored(self, scope: str, key: str) -> StoredResponse | None:
        async with self.pool.acquire() as conn:
            return _stored(await conn.fetchrow(_STORED, scope, key))

    async def sweep(self) -> int:
        """Delete the keys older than their time to live; how many."""
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                """DELETE FROM idempotency_keys
                   WHERE created_at < now() - make_interval(secs => $1)""",
                self.ttl_s,
            )
        return int(done.split()[-1])

    async def sweep_forever(self, interval_s: float = SWEEP_INTERVAL_S) -> None:
        while True:
            try:
                swept = await self.sweep()
            except Exception as exc:
                # The database away for a while: the keys wait for the next sweep.
                log.warning("idempotency key sweep failed", error=f"{type(exc).__name__}: {exc}")
            else:
                if swept:
                    log.info("idempotency keys swept", count=swept)
            await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def sweeping(store: IdempotencyStore) -> AsyncIterator[None]:
    """Sweeps the store's expired keys every SWEEP_INTERVAL_S for as long as the block runs."""
    task = asyncio.create_task(store.sweep_forever(), name="idempotency-sweep")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
