"""Idempotency keys of the write APIs (the IETF httpapi Idempotency-Key draft): the first
response to a key, stored in the transaction of the write it answers, and the transaction a
request with a key runs its use case in.

How a request with a key runs (see gayari_shared.http.idempotency for the HTTP side):
1. `IdempotencyStore.begin` takes a connection and begins a transaction (one round trip; a
   statement with parameters cannot carry `BEGIN`). Nothing about the key is looked at yet.
2. The transaction is bound to the request (`Claim.bind`): every unit of work the use case
   opens on the same pool joins it instead of taking a connection of its own
   (`joined_or_acquired`, and outbox.staging_work opens no transaction of its own in it).
3. `Claim.commit` stores the response with the database function idempotency_store and
   commits, in one round trip: the key's row, the domain rows and their outbox rows all exist,
   or none. So a key costs a request two round trips (`BEGIN`, and the store sent with
   `COMMIT`), whatever the use case, and no statement of its own before the write.

The key is claimed by the primary key of idempotency_keys, at the end. A unique index makes
an insert wait for a concurrent inserter of the same key that has not committed, then fail if
it committed (a replay: everything this request wrote is rolled back with its own
transaction, `AlreadyStoredError`, and it is answered from the stored row) or go on if it
rolled back. The wait is bounded by a lock_timeout the function sets for its transaction
only: past it, the first is taken to be still in flight (`InFlightError`, a 409). The first's
row exists uncommitted only for the round trip that also commits it, so the wait is short.

No "pending" row is ever written. A process killed with -9 mid-request closes its sockets;
PostgreSQL then ends the backend and rolls the transaction back, key row included, so a
retry finds the key free and nothing of the first attempt written. A request with a key that
is refused (a 4xx of the use case: "already enrolled" because the first attempt succeeded)
looks for a stored response before answering (the HTTP side), so a replay never turns into
another answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from gayari_shared.postgres import Connection

log = structlog.get_logger(__name__)

# How long a request waits for another with its key that stored its response and has not
# committed yet (a round trip, unless its backend is stuck) before answering 409. The database
# function idempotency_store sets it as the transaction's lock_timeout.
IN_FLIGHT_WAIT: Final = "2s"

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


def _store_statement(
    scope: str, key: str, *, fingerprint: bytes, status: int, headers: str, body: bytes
) -> str:
    """The response stored and the transaction committed, in one round trip (the simple query
    protocol runs both; it takes no parameters, so the values are constants). If the store
    fails, PostgreSQL skips the COMMIT and the transaction stays aborted."""
    return (
        f"SELECT idempotency_store({_text(scope)}, {_text(key)}, {_bytes(fingerprint)}, "
        f"{int(status)}::smallint, {_text(headers)}::jsonb, {_bytes(body)}, "
        f"{_text(IN_FLIGHT_WAIT)}); COMMIT"
    )


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to a key, and the fingerprint of the request it answered."""

    fingerprint: bytes
    status: int
    headers: dict[str, str]
    body: bytes


class InFlightError(Exception):
    """Another request with the key stored its response and has not committed it within
    IN_FLIGHT_WAIT; this one wrote nothing."""


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


@dataclass(eq=False)
class Claim:
    """An open transaction of a request with a key, its response not stored yet."""

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
        AlreadyStoredError when the key's response was stored already, InFlightError when
        another request stored one and has not committed it (everything rolled back)."""
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
        except asyncpg.LockNotAvailableError:
            await self.rollback()
            raise InFlightError("a request with this key is in flight") from None
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


class IdempotencyStore:
    """The stored responses of one service's database."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self.pool = pool
        self.ttl_s = ttl_s

    async def begin(self, scope: str, key: str, fingerprint: bytes) -> Claim:
        """The transaction a request with the key runs in (not claimed yet: see Claim.commit)."""
        conn = await self.pool.acquire()
        claim = Claim(self, scope, key, fingerprint, conn)
        try:
            await conn.execute("BEGIN")
        except BaseException:
            await claim.rollback()
            raise
        return claim

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
