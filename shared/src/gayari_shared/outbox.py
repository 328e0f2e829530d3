"""Transactional outbox: the domain row and its event commit in one transaction; a relay
publishes committed events to Kafka afterwards, never before.

Delivery is at-least-once (a relay that dies after Kafka acked but before it marked the rows
sends them again); consumers deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Final, Protocol, TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from gayari_shared.audit.store import audited_cte
from gayari_shared.audit.trail import AuditRow
from gayari_shared.events.envelope import Envelope
from gayari_shared.idempotency import joined_claim, joined_or_acquired
from gayari_shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING
from gayari_shared.postgres import Connection
from gayari_shared.settings import RelayMode

log = structlog.get_logger(__name__)

# Rows are spread over lanes by Kafka key; a relay holds a lane's advisory lock while it
# publishes from it, so with several relays running one household's events (one key, one lane)
# still leave in commit order, and different lanes go out in parallel.
OUTBOX_LANES: Final = 16
_LANE_LOCK_CLASS: Final = 0x6A7961  # the first key of pg_try_advisory_xact_lock(int, int)
NOTIFY_CHANNEL: Final = "gayari_outbox"
HOUSEKEEPING_INTERVAL_S: Final = 5.0


def lane_of(key: bytes) -> int:
    return zlib.crc32(key) % OUTBOX_LANES


# An outbox row's columns, in the order `outbox_row` gives their values.
OUTBOX_COLUMNS: Final = "event_id, event_type, topic, key, value, headers, lane"
OutboxRow = tuple[uuid.UUID, str, str, bytes, bytes, str, int]


def outbox_row(envelope: Envelope, topic: str) -> OutboxRow:
    """The outbox row of an event, for a statement that stages it beside other writes (headers
    as JSON text: cast it to jsonb)."""
    record = envelope.to_kafka(topic)
    headers = {name: value.decode() for name, value in record.headers}
    return (
        envelope.id,
        envelope.type,
        topic,
        record.key,
        record.value,
        json.dumps(headers),
        lane_of(record.key),
    )


async def add_to_outbox(
    conn: Connection,
    envelope: Envelope,
    topic: str,
    *,
    notify: bool = True,
    audit: AuditRow | None = None,
) -> None:
    """Stage an event in the caller's transaction; it is published only if that commits.

    `notify`: the statement also notifies the relays' channel (delivered at commit only). A
    transaction that notifies holds PostgreSQL's one notification lock from its commit until
    that commit is flushed, so committing writers that notify queue one behind the other and
    lose group commit: a writer that tells its relay itself after the commit
    (OutboxRelay.nudge) passes False.

    `audit`: the write's row of the audit trail (audit.write_row), in the same statement."""
    parts = [
        f"""staged AS (
               INSERT INTO outbox ({OUTBOX_COLUMNS})
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING seq)"""
    ]
    args: list[object] = [*outbox_row(envelope, topic)]
    if audit is not None:
        parts.append(audited_cte(len(args) + 1, "staged"))
        args += audit
    # One statement, one round trip: the row, its audit row, and the notification that wakes
    # the relay.
    if notify:
        args.append(NOTIFY_CHANNEL)
        tail = f"SELECT pg_notify(${len(args)}, '') FROM staged"
    else:
        tail = "SELECT FROM staged"
    await conn.execute(f"WITH {', '.join(parts)} {tail}", *args)


class Staging(Protocol):
    """A unit of work that says whether it wrote an event to the outbox."""

    staged: bool


def _nothing() -> None:
    pass


@contextlib.asynccontextmanager
async def staging_work(
    conn: Connection,
    uow: Staging,
    *,
    atomic: bool = True,
    staged: Callable[[], None] = _nothing,
) -> AsyncIterator[None]:
    """One transaction, or with `atomic` False none: each statement commits on its own, for a
    use case whose writes are one statement (a BEGIN and a COMMIT fewer). `staged` is called
    once the events the unit wrote are committed (OutboxRelay.nudge: the relay wakes).

    On the connection of a request's idempotency claim (see gayari_shared.idempotency), an
    atomic unit begins the claim's transaction (or joins it) instead of one of its own, and
    `staged` runs once the claim commits; a unit of statements each atomic by itself runs them
    as it would without a key, its write carrying the key."""
    claim = joined_claim(conn)
    if claim is not None:
        if atomic:
            await claim.begin()
        yield
        if uow.staged:
            if claim.carried is not None:
                staged()
            elif claim.begun:
                claim.after_commit.append(staged)
            else:
                raise RuntimeError(
                    "an event was written on the connection of a request's key without it"
                )
        return
    if not atomic:
        try:
            yield
        finally:
            if uow.staged:
                staged()
        return
    async with conn.transaction():
        yield
    if uow.staged:
        staged()


W = TypeVar("W", bound=Staging)


@contextlib.asynccontextmanager
async def outbox_unit_of_work(
    unit: Callable[[Connection, str], W],
    pool: asyncpg.Pool,
    topic_prefix: str,
    *,
    atomic: bool = True,
    staged: Callable[[], None] = _nothing,
) -> AsyncIterator[W]:
    """A service's unit of work (`unit`, made from a connection and the topic prefix) under
    staging_work, on a connection of the pool, or in the transaction of the request's
    idempotency claim (gayari_shared.idempotency). Each service names its own with a partial."""
    async with joined_or_acquired(pool) as conn:
        uow = unit(conn, topic_prefix)
        async with staging_work(conn, uow, atomic=atomic, staged=staged):
            yield uow


class RelayNotifier:
    """Wakes the relays listening on the outbox's channel (those of other instances, or of a
    relay process of its own) once a writer committed rows: one notification, sent after the
    commit, outside the writers' transactions. Notifications coalesce: while one is being
    sent, any number of nudges make one more. One lost (the process dies first) delays
    publishing until a relay polls, nothing more."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._wanted = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def nudge(self) -> None:
        self._wanted = True
        if not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._notify(), name="outbox-notify")

    async def close(self) -> None:
        """Send nothing more; wait for the notification in flight."""
        self._closed = True
        if self._task is not None:
            await self._task

    async def _notify(self) -> None:
        while self._wanted and not self._closed:
            self._wanted = False
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            except Exception as exc:
                log.warning("outbox notification failed", error=f"{type(exc).__name__}: {exc}")
                return
            self.sent += 1


class OutboxRelay:
    """Publishes pending outbox rows in commit order, in batches, then marks them published."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer_factory: Callable[[], AIOKafkaProducer],
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        keep_published_s: float = 3600.0,
    ) -> None:
        self._pool = pool
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._keep_published_s = keep_published_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published_total = 0
        self._next_housekeeping = 0.0
        self._others = RelayNotifier(pool)

    async def run(self) -> None:
        listener = await self._pool.acquire()
        await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
        log.info("outbox relay started", lanes=OUTBOX_LANES, batch_size=self._batch_size)
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                try:
                    await self._housekeeping()
                    if self._producer is None:
                        self._producer = await self._start_producer()
                    sent = await self.publish_pending()
                    backoff = 0.5
                except Exception as exc:
                    # Kafka or PostgreSQL away: nothing is lost (rows stay pending), back off.
                    log.warning(
                        "outbox relay failed; retrying",
                        error=f"{type(exc).__name__}: {exc}",
                        backoff_s=backoff,
                    )
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if sent < self._batch_size:
                    await self._sleep(self._poll_interval_s)
        finally:
            await self._others.close()
            if self._producer is not None:
                await self._producer.stop()  # flushes what is in flight
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            await self._pool.release(listener)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def nudge(self) -> None:
        """This process committed outbox rows: wake this relay now, and the relays of other
        instances by a notification (see RelayNotifier)."""
        self._wake.set()
        if not self._stopping.is_set():
            self._others.nudge()

    @property
    def notifications_sent(self) -> int:
        return self._others.sent

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = self._producer_factory()
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def publish_pending(self) -> int:
        """Publish a batch from lanes no other relay holds, in one transaction; returns how
        many rows.

        The lanes with pending rows are taken in a random order until they hold a batch (so
        with several relays and a backlog each gets lanes of its own; with little pending, one
        relay takes every free lane in one go: one commit, not one per lane). The rows are
        read by a statement after the one that took the locks: it sees every row marked by a
        relay that held one of those lanes before (a lock is released after its commit is
        visible), so nothing is sent twice and each lane leaves in order."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("the relay's producer is not started")
        async with self._pool.acquire() as conn:
            counts = await conn.fetch(
                "SELECT lane, count(*) AS n FROM outbox WHERE published_at IS NULL GROUP BY lane"
            )
            if not counts:
                return 0
            lanes = self._choose_lanes({row["lane"]: row["n"] for row in counts})
            async with conn.transaction():
                locked = await conn.fetch(
                    """SELECT lane FROM unnest($2::int[]) AS lane
                       WHERE pg_try_advisory_xact_lock($1, lane)""",
                    _LANE_LOCK_CLASS,
                    lanes,
                )
                if not locked:
                    return 0  # other relays are publishing these lanes
                rows = await conn.fetch(
                    """SELECT seq, event_id, topic, key, value, headers FROM outbox
                       WHERE published_at IS NULL AND lane = ANY($1::smallint[])
                       ORDER BY seq LIMIT $2""",
                    [row["lane"] for row in locked],
                    self._batch_size,
                )
                if not rows:
                    return 0
                deliveries = []
                for row in rows:
                    headers = [(k, v.encode()) for k, v in json.loads(row["headers"]).items()]
                    deliveries.append(
                        await producer.send(
                            row["topic"], value=row["value"], key=row["key"], headers=headers
                        )
                    )
                # Every record acked by the broker before any row counts as published.
                await asyncio.gather(*deliveries)
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                    [row["seq"] for row in rows],
                )
        self.published_total += len(rows)
        for row in rows:
            EVENTS_PUBLISHED.labels(row["topic"]).inc()
        log.debug("outbox published", count=len(rows), lanes=len(locked))
        return len(rows)

    def _choose_lanes(self, pending: dict[int, int]) -> list[int]:
        """Lanes in a random order, as many as hold a batch of pending rows."""
        chosen: list[int] = []
        rows = 0
        for lane in random.sample(sorted(pending), len(pending)):
            chosen.append(lane)
            rows += pending[lane]
            if rows >= self._batch_size:
                break
        return chosen

    async def pending(self) -> int:
        async with self._pool.acquire() as conn:
            count = int(
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )
        OUTBOX_PENDING.set(count)
        return count

    async def _housekeeping(self) -> None:
        """Every few seconds, not per batch: the backlog gauge and removing old rows."""
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL_S
        await self.pending()
        await self._clean_published()

    async def _clean_published(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """DELETE FROM outbox WHERE published_at IS NOT NULL
                   AND published_at < now() - make_interval(secs => $1)""",
                self._keep_published_s,
            )

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()


@contextlib.asynccontextmanager
async def publishing(
    mode: RelayMode, pool: asyncpg.Pool, producer_factory: Callable[[], AIOKafkaProducer]
) -> AsyncIterator[Callable[[], None]]:
    """What a writer calls once its outbox rows are committed (the `staged` of staging_work),
    for as long as the block runs: with the relay in this process, it wakes that relay (and
    notifies the others); with the relay separate, it only notifies."""
    if mode == "separate":
        notifier = RelayNotifier(pool)
        try:
            yield notifier.nudge
        finally:
            await notifier.close()
        return
    relay = OutboxRelay(pool, producer_factory)
    task = asyncio.create_task(relay.run(), name="outbox-relay")
    try:
        yield relay.nudge
    finally:
        relay.stop()
        await task
