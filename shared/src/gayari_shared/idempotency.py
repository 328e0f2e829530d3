"""Idempotency keys of the write APIs (the IETF httpapi Idempotency-Key draft): the first
response to a key, stored with the write it answers (committed together, or not at all).

How a request with a key runs (see gayari_shared.http.idempotency for the HTTP side):
1. `IdempotencyStore.claim` makes the request's claim: no round trip, nothing looked at yet.
   It is bound to the request (`Claim.bind`): every unit of work the use case opens on the
   store's pool runs on the claim's connection (`joined_or_acquired`), taken when first used.
2. A write that is one statement, atomic by itself, in a use case that opens no transaction
   (a registration, a life-cycle step, a record) carries the key: the endpoint told the claim
   how its answer is rendered from the written result (`Claim.render`), so the adapter renders
   it before sending the write, and the statement also stores the response (`carried_key`,
   `keyed_cte`). The key then costs no round trip: the request makes the statements it makes
   without a key.
3. Anything else that writes begins the claim's transaction first (`Claim.begin`: a unit of
   work that must be atomic, or a write that does not carry the key, `in_key_transaction`), and
   the HTTP side stores the response and commits in one round trip at the end
   (`Claim.commit`): two round trips more than without a key.

The key is claimed by the primary key of idempotency_keys, by whichever statement inserts its
row. A unique index makes an insert wait for a concurrent inserter of the same key that has not
committed, then fail if it committed (a replay: everything the request wrote goes with its
statement or its transaction, and it is answered from the stored row) or go on if it rolled
back. The wait is bounded by a lock_timeout the database function idempotency_store sets for
its transaction only: past it, the first is taken to be still in flight (`InFlightError`, a
409). The first's row exists uncommitted only within the statement or round trip that also
commits it, so the wait is short.

No "pending" row is ever written. A process killed with -9 mid-request closes its sockets;
PostgreSQL then ends the backend and rolls back what it had not committed, key row included,
so a retry finds the key free and nothing of the first attempt written. A request with a key
that is refused (a 4xx of the use case: "already enrolled" because the first attempt
succeeded) looks for a stored response before answering (the HTTP side), so a replay never
turns into another answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import AsyncIterator, Callable, Iterator
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

# The primary key of idempotency_keys: a unique violation of it is the key taken.
KEY_CONSTRAINT: Final = "idempotency_keys_pkey"

# The parameters of keyed_cte, in the order CarriedKey.arguments gives them.
KEY_PARAMETERS: Final = 7

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
    """The response stored, in one round trip with the COMMIT that follows it (the simple
    query protocol runs both; it takes no parameters, so the values are constants). If the
    store fails, PostgreSQL skips the COMMIT and the transaction stays aborted."""
    return (
        f"SELECT idempotency_store({_text(scope)}, {_text(key)}, {_bytes(fingerprint)}, "
        f"{int(status)}::smallint, {_text(headers)}::jsonb, {_bytes(body)}, "
        f"{_text(IN_FLIGHT_WAIT)})"
    )


def keyed_cte(first: int, source: str) -> str:
    """`keyed AS (...)`: the request's key and response stored ($first..$first+6, from
    CarriedKey.arguments) once per row of the CTE `source` (the written row: nothing written,
    no key stored). A query CTE: the statement's final SELECT must read it (`FROM written,
    keyed`), or it is not run."""
    n = [f"${i}" for i in range(first, first + KEY_PARAMETERS)]
    return (
        f"keyed AS (SELECT idempotency_store({n[0]}, {n[1]}, {n[2]}, {n[3]}::smallint, "
        f"{n[4]}::jsonb, {n[5]}, {n[6]}) FROM {source})"
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as a key stores it: its status, the headers kept, its body."""

    status: int
    headers: dict[str, str]
    body: bytes


# How the endpoint answers the result its use case wrote (a household, a record), rendered by
# the adapter before the write, so that the write's statement can store it with the key.
Render = Callable[[Any], Answer]


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


class KeyTakenError(Exception):
    """A write that carried the key found it stored by another request: nothing of the write
    was kept. The HTTP side answers with the stored response."""


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
    """A request's key, its response not stored yet: the connection its units of work share
    (taken when first used), and whether its transaction has begun."""

    store: IdempotencyStore
    scope: str
    key: str
    fingerprint: bytes
    render: Render | None = None
    conn: PoolConnectionProxy[Any] | None = None
    begun: bool = False
    # The answer stored, and committed, with the write that carried the key.
    carried: Answer | None = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    closed: bool = False

    def bind(self) -> None:
        """Units of work opened from now on in this task (and tasks it starts) on the store's
        pool run on the claim's connection, until `unbind` or the claim ends."""
        _CURRENT.set(self)

    def unbind(self) -> None:
        _CURRENT.set(None)

    async def connection(self) -> PoolConnectionProxy[Any]:
        if self.closed:
            raise RuntimeError("the request's idempotency claim has ended")
        if self.conn is None:
            self.conn = await self.store.pool.acquire()
        return self.conn

    async def begin(self) -> None:
        """The claim's transaction, if it has not begun: what is written from now on commits
        with the stored response (Claim.commit), or not at all."""
        if self.carried is not None:
            raise RuntimeError("the key was stored with a write already: write nothing after it")
        if self.begun:
            return
        conn = await self.connection()
        await conn.execute("BEGIN")
        self.begun = True

    def carry(self, result: Any) -> CarriedKey | None:
        """The key and its answer for a write of `result` in one statement, if it may carry
        them: nothing written yet in a transaction of the claim's, and the endpoint told how it
        answers. Renders the answer now, before the write."""
        if self.begun or self.carried is not None or self.render is None or self.closed:
            return None
        return CarriedKey(self, self.render(result))

    async def commit(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Store the response with whatever the request wrote in the claim's transaction, and
        commit (one round trip; without a transaction, the response alone); then what the
        units of work asked to run after their commit (the relay's nudge). Raises
        AlreadyStoredError when the key's response was stored already, InFlightError when
        another request stored one and has not committed it (everything rolled back)."""
        statement = _store_statement(
            self.scope,
            self.key,
            fingerprint=self.fingerprint,
            status=status,
            headers=json.dumps(headers),
            body=body,
        )
        try:
            conn = await self.connection()
            await conn.execute(f"{statement}; COMMIT" if self.begun else statement)
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
        self._committed()

    async def rollback(self) -> None:
        """Nothing of the request is kept but a write that carried the key (committed with
        it); without one, the key is free again."""
        if self.closed:
            return
        try:
            if self.begun and self.conn is not None:
                # The connection is released even if it broke (the pool discards it).
                with contextlib.suppress(Exception):
                    await self.conn.execute("ROLLBACK")
        finally:
            await self._close()

    async def end(self) -> None:
        """After a write that carried the key: the connection goes back to the pool (once)."""
        await self._close()

    def _committed(self) -> None:
        calls, self.after_commit = self.after_commit, []
        for call in calls:
            call()

    async def _close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.conn is not None:
                await self.store.pool.release(self.conn)


@dataclass(frozen=True, slots=True)
class CarriedKey:
    """The key of a request and its answer, to be stored by the statement of its write."""

    claim: Claim
    answer: Answer

    def arguments(self) -> tuple[str, str, bytes, int, str, bytes, str]:
        """The parameters of keyed_cte."""
        claim = self.claim
        return (
            claim.scope,
            claim.key,
            claim.fingerprint,
            self.answer.status,
            json.dumps(self.answer.headers),
            self.answer.body,
            IN_FLIGHT_WAIT,
        )

    def written(self) -> None:
        """The statement wrote and stored the key: committed, nothing may be written after."""
        self.claim.carried = self.answer
        self.claim._committed()


@contextlib.contextmanager
def key_errors(carried: CarriedKey | None) -> Iterator[None]:
    """Around a statement that carried the key: the key stored by another request
    (KeyTakenError), or stored and not committed within IN_FLIGHT_WAIT (InFlightError), told
    apart from the write's own conflicts. Nothing of the statement was kept either way."""
    if carried is None:
        yield
        return
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == KEY_CONSTRAINT:
            raise KeyTakenError("a response is stored for this key already") from None
        raise
    except asyncpg.LockNotAvailableError:
        raise InFlightError("a request with this key is in flight") from None


_CURRENT: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "gayari_idempotency_claim", default=None
)


def joined_claim(conn: Connection) -> Claim | None:
    """The claim of the request whose connection `conn` is, if a unit of work runs on it."""
    claim = _CURRENT.get()
    return claim if claim is not None and claim.conn is conn and not claim.closed else None


def carried_key(conn: Connection, result: Any) -> CarriedKey | None:
    """For an adapter about to write `result` in one statement on `conn`: the key its
    statement stores (keyed_cte), if the request has one that it may carry (Claim.carry), else
    None. Call CarriedKey.written once the statement wrote."""
    claim = joined_claim(conn)
    if claim is None or conn.is_in_transaction():
        return None
    return claim.carry(result)


def carried_answer() -> Answer | None:
    """The answer the current request's write stored with its key, if one did."""
    claim = _CURRENT.get()
    return None if claim is None else claim.carried


def answer_written(render: Render) -> None:
    """How the current request answers the result its use case writes, for a write that
    carries its key (nothing without a key)."""
    claim = _CURRENT.get()
    if claim is not None:
        claim.render = render


async def in_key_transaction(conn: Connection) -> None:
    """Before a write on `conn` that does not carry the request's key: on the claim's
    connection, its transaction begins, so that the write commits with the stored response or
    not at all. Elsewhere, nothing."""
    claim = joined_claim(conn)
    if claim is not None:
        await claim.begin()


@contextlib.asynccontextmanager
async def transaction(conn: Connection) -> AsyncIterator[None]:
    """A transaction on `conn`: on the claim's connection, the claim's (committed with the
    stored response), else one of its own."""
    claim = joined_claim(conn)
    if claim is not None:
        await claim.begin()
        yield
        return
    async with conn.transaction():
        yield


@contextlib.asynccontextmanager
async def joined_or_acquired(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """The connection of the claim bound to this request when it is on `pool`, else one of
    the pool's."""
    claim = _CURRENT.get()
    if claim is not None and claim.store.pool is pool and not claim.closed:
        yield await claim.connection()
        if claim.carried is not None:
            # Committed with the key: nothing more is written, and the connection goes back to
            # the pool when the unit ends, as it would without a key, not when the request does.
            await claim.end()
        return
    async with pool.acquire() as conn:
        yield conn


class IdempotencyStore:
    """The stored responses of one service's database."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self.pool = pool
        self.ttl_s = ttl_s

    def claim(self, scope: str, key: str, fingerprint: bytes) -> Claim:
        """The claim of a request with the key (not claimed yet: see the module's doc)."""
        return Claim(self, scope, key, fingerprint)

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
