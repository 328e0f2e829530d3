"""PostgreSQL plumbing: how a process reaches its database, and a connection pool. (Schema
migrations: gayari_shared.migrations.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

Pool = asyncpg.Pool
# A connection borrowed from a pool or opened on its own; the queries are the same.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


# libpq's modes, less `allow` and `prefer`: those fall back to plaintext without a word.
SslMode = Literal["disable", "require", "verify-ca", "verify-full"]


@dataclass(frozen=True)
class Database:
    """How a process reaches its database: the URL, the password kept out of it, and TLS.

    `sslmode` None takes the URL's `sslmode`, else verify-full; `sslrootcert` None the URL's.
    Picklable (the replay's worker processes get one)."""

    url: str
    password: str | None = field(default=None, repr=False)
    sslmode: SslMode | None = None
    sslrootcert: Path | None = None

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of asyncpg.connect and asyncpg.create_pool."""
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        if self.sslmode is not None:
            query["sslmode"] = self.sslmode
        query.setdefault("sslmode", "verify-full")
        if query["sslmode"] in ("allow", "prefer"):
            raise ValueError(f"sslmode={query['sslmode']} may fall back to plaintext: not used")
        if self.sslrootcert is not None:
            query["sslrootcert"] = str(self.sslrootcert)
        options: dict[str, Any] = {"dsn": urlunsplit(parts._replace(query=urlencode(query)))}
        if self.password is not None:
            options["password"] = self.password
        return options


def as_database(database: Database | str) -> Database:
    return Database(database) if isinstance(database, str) else database


async def connect(database: Database | str, **kwargs: Any) -> asyncpg.Connection[Any]:
    """One connection outside a pool, with the same TLS and credentials as the pools."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(
        **as_database(database).connect_options(), **kwargs
    )
    return conn


# How long a connection keeps a prepared statement (and so its generic plan) before preparing
# it again: a round trip per statement and connection that often, against a plan made on
# tables that have grown since (see create_pool).
GENERIC_PLAN_LIFETIME_S: Final = 20


async def _keep_session(_: asyncpg.Connection[Any]) -> None:
    """A release that sends nothing: asyncpg still rolls back a transaction left open."""


async def create_pool(
    database: Database | str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    session_reset: bool = True,
    generic_plans: bool = False,
) -> asyncpg.Pool:
    """A pool (a bare URL: TLS verify-full unless its `sslmode` says otherwise).

    By default a connection going back is reset (a round trip: advisory locks,
    cursors, LISTEN, settings). `session_reset=False` skips it, for a service whose
    connections only run transactions and change no session state (transaction-level advisory
    locks, no SET, no cursors outside a transaction): one round trip less per request.

    `generic_plans`: every prepared statement is planned once, not on every execution. For a
    service whose statements look rows up by key, whatever the values. Left to PostgreSQL
    (plan_cache_mode auto), a statement of several CTEs (the registry's registration) is
    planned afresh on every execution or not depending on its first executions on each
    connection, so its cost differs from connection to connection; planned once, it is the
    same on all of them, and the planning is not paid again.

    Such a plan is made with the tables' sizes of its first execution, and kept until an
    ANALYZE of a table it reads invalidates it. A service started on a new database plans on
    empty tables (a sequential scan is then the cheapest way to look a NIK up) and autovacuum
    may not analyze them for minutes while they grow: each connection prepares its statements
    again after GENERIC_PLAN_LIFETIME_S, so such a plan serves that long at most."""
    pool = await asyncpg.create_pool(
        **as_database(database).connect_options(),
        min_size=min_size,
        max_size=max_size,
        command_timeout=30,
        reset=None if session_reset else _keep_session,
        server_settings={"plan_cache_mode": "force_generic_plan"} if generic_plans else None,
        max_cached_statement_lifetime=GENERIC_PLAN_LIFETIME_S if generic_plans else 300,
    )
    if pool is None:  # asyncpg's typing allows it; it never happens with a fresh pool
        raise RuntimeError("could not create a PostgreSQL pool")
    return pool


def in_uuid_order(ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The ids sorted as PostgreSQL sorts uuid (by value: what `sorted` gives too), compared as
    ints in C: UUID's own `<` is Python code, called for every comparison of every batch."""
    return sorted(ids, key=_UUID_VALUE)


_UUID_VALUE: Final = attrgetter("int")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def database_reachable(pool: asyncpg.Pool, timeout_s: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout_s), pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))
    except Exception:
        return False
