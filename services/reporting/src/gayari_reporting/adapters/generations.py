"""Generations of the read models: each a PostgreSQL schema holding every read-model table and
the offsets it was projected to; exactly one is active and serves the reports.

A replay builds a new generation beside the active one and switches by updating one row, so
readers see the old figures or the new ones, never a mix: every read and every projected batch
looks the active generation up inside its own transaction, and the projector holds that row
FOR SHARE while it writes, so a switch waits for the batch in hand and the projector's next
batch sees the switch. "As of" generations are built the same way, up to a timestamp, and are
never switched to: they stay as frozen period reports, read by name.

The deployments made before generations existed keep their read models in `public`; it is the
first generation there and, once replaced, its tables are dropped by name.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import asyncpg
import structlog

from gayari_shared.migrations import Migration, MigrationSet, apply
from gayari_shared.postgres import Connection, quote_ident

log = structlog.get_logger(__name__)

COMPONENT: Final = "reporting"
LEGACY: Final = "public"
NAME: Final = re.compile(r"^(public|rm_[a-z0-9_]{1,40})$")

# The control table of the generations and the audit trail, in `public`: no generation holds
# them, so no replay rebuilds or drops them.
CONTROL: Final = MigrationSet.from_package(
    "reporting-generations", "gayari_reporting", "migrations/control"
)
# Every read-model table, applied in each generation's schema (the ledger beside them).
READ_MODELS: Final = MigrationSet.from_package(
    COMPONENT, "gayari_reporting", "migrations/read_models"
)
# Qualified: a connection may have a generation's schema on its search path.
AUDIT_TABLE: Final = "public.audit_log"

# The read-model objects a legacy `public` generation holds (READ_MODELS), dropped when a
# replay replaces it; `public` itself stays, it holds the control table.
_LEGACY_OBJECTS: Final = (
    "VIEW live_interventions",
    "VIEW live_surveys",
    "VIEW live_budgets",
    "TABLE households",
    "TABLE household_state",
    "TABLE grants",
    "TABLE training_completions",
    "TABLE mentoring_visits",
    "TABLE business_surveys",
    "TABLE budget_allocations",
    "TABLE voids",
    "TABLE rejected_events",
    "TABLE projection_offsets",
    "TABLE tally_records",
    "TABLE tally_households",
    "TABLE tally_reach",
    "TABLE tally_deltas",
    "TABLE tally_agencies",
    "TABLE double_funding",
    "TABLE waiting_records",
    "TABLE contacts",
    "TABLE tally_contacts",
    "TABLE income_pairs",
    "TABLE tally_incomes",
)


class UnknownGenerationError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Generation:
    schema: str
    kind: str
    state: str
    as_of: datetime | None
    events: int
    created_at: datetime
    finished_at: datetime | None


def quoted(schema: str) -> str:
    if not NAME.match(schema):
        raise UnknownGenerationError(f"not a read-model generation: {schema!r}")
    return quote_ident(schema)


async def use_active(conn: Connection, *, hold: bool = False) -> str | None:
    """Point this transaction at the active generation; None if there is none. With `hold`, the
    generation cannot be switched until the transaction ends (None if a switch just won)."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT schema_name, set_config('search_path', quote_ident(schema_name), true) "
        "FROM public.read_model_generations WHERE state = 'active'" + (" FOR SHARE" if hold else "")
    )


async def use_snapshot(conn: Connection, schema: str) -> bool:
    """Point this transaction at a finished as-of generation; False if there is none so named."""
    return bool(
        await conn.fetchval(
            """SELECT set_config('search_path', quote_ident(schema_name), true)
               FROM public.read_model_generations
               WHERE schema_name = $1 AND state = 'ready' AND kind = 'as-of'""",
            schema,
        )
    )


async def use_schema(conn: Connection, schema: str) -> None:
    """Point this transaction at one generation by name."""
    await conn.execute(f"SET LOCAL search_path TO {quoted(schema)}")


class Generations:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def prepare(self) -> str:
        """The control table, an active generation, and that generation's migrations applied;
        returns the active generation. Safe when several instances start at once."""
        async with self._pool.acquire() as conn:
            active, _ = await prepare(conn)
        return active

    async def active(self) -> str:
        async with self._pool.acquire() as conn:
            active = await _active(conn)
        if active is None:
            raise UnknownGenerationError("no active read-model generation: start reporting once")
        return active

    async def all(self) -> list[Generation]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT schema_name, kind, state, as_of, events, created_at, finished_at
                   FROM public.read_model_generations ORDER BY created_at"""
            )
        return [Generation(*row) for row in rows]

    async def create(self, *, as_of: datetime | None = None) -> str:
        """A new, empty generation in the building state, with every read-model table."""
        now = datetime.now(UTC)
        unique = secrets.token_hex(3)  # two in one second must not collide
        schema = (
            f"rm_{_stamp(now)}_{unique}" if as_of is None else f"rm_asof_{_stamp(as_of)}_{unique}"
        )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"CREATE SCHEMA {quoted(schema)}")
            await conn.execute(
                """INSERT INTO public.read_model_generations (schema_name, kind, state, as_of)
                   VALUES ($1, $2, 'building', $3)""",
                schema,
                "live" if as_of is None else "as-of",
                as_of,
            )
        async with self._pool.acquire() as conn:
            await apply(conn, READ_MODELS, schema=schema)
        return schema

    async def switch(self, schema: str, events: int) -> str:
        """Make a built generation the active one; returns the one it replaced. Waits for any
        batch being projected into the old one, and that projector's next batch follows."""
        async with self._pool.acquire() as conn, conn.transaction():
            old = await conn.fetchval(
                """SELECT schema_name FROM public.read_model_generations
                   WHERE state = 'active' FOR UPDATE"""
            )
            building = await conn.fetchval(
                """SELECT 1 FROM public.read_model_generations
                   WHERE schema_name = $1 AND state = 'building' AND kind = 'live'""",
                schema,
            )
            if not building:
                raise UnknownGenerationError(f"{schema} is not a live generation being built")
            await conn.execute(
                """UPDATE public.read_model_generations SET state = 'retired', finished_at = now()
                   WHERE schema_name = $1""",
                old,
            )
            await conn.execute(
                """UPDATE public.read_model_generations
                   SET state = 'active', events = $2, finished_at = now()
                   WHERE schema_name = $1""",
                schema,
                events,
            )
        log.info("read models switched", active=schema, replaced=old, events=events)
        return str(old)

    async def finish_snapshot(self, schema: str, events: int) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """UPDATE public.read_model_generations
                   SET state = 'ready', events = $2, finished_at = now()
                   WHERE schema_name = $1 AND state = 'building' AND kind = 'as-of'""",
                schema,
                events,
            )

    async def drop(self, schema: str) -> None:
        """Drop a generation that is not active; its readers finish first (DROP waits)."""
        async with self._pool.acquire() as conn, conn.transaction():
            state = await conn.fetchval(
                "SELECT state FROM public.read_model_generations WHERE schema_name = $1 FOR UPDATE",
                schema,
            )
            if state is None:
                raise UnknownGenerationError(f"no read-model generation is called {schema!r}")
            if state == "active":
                raise UnknownGenerationError(f"{schema} is active: replace it before dropping it")
            if schema == LEGACY:
                for obj in _LEGACY_OBJECTS:
                    kind, name = obj.split()
                    await conn.execute(f"DROP {kind} IF EXISTS {name} CASCADE")
                await conn.execute(
                    "DELETE FROM public.schema_migrations WHERE component = $1", COMPONENT
                )
            else:
                await conn.execute(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")
            await conn.execute(
                "DELETE FROM public.read_model_generations WHERE schema_name = $1", schema
            )
        log.info("read-model generation dropped", generation=schema)

    async def abandoned(self) -> list[str]:
        """Generations left in the building state by a replay that did not finish."""
        return [g.schema for g in await self.all() if g.state == "building"]


async def prepare(conn: Connection) -> tuple[str, list[Migration]]:
    """What `gayari-reporting-migrate up` does to the generations: the control table, an active
    generation (`public` for a deployment from before generations), and the read-model
    migrations in it and in every finished as-of report (`snapshots`). Returns the active
    generation and the migrations applied."""
    applied = await apply(conn, CONTROL)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('reporting-generations'))")
        active = await _active(conn)
        if active is None:
            legacy = await conn.fetchval(
                "SELECT 1 FROM public.schema_migrations WHERE component = $1 LIMIT 1",
                COMPONENT,
            )
            active = LEGACY if legacy else f"rm_{_stamp(datetime.now(UTC))}_{secrets.token_hex(3)}"
            await conn.execute(
                """INSERT INTO public.read_model_generations (schema_name, kind, state)
                   VALUES ($1, 'live', 'active')""",
                active,
            )
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(active)}")
    applied += await apply(conn, READ_MODELS, schema=active)
    for schema in await snapshots(conn):
        applied += await apply(conn, READ_MODELS, schema=schema)
    return active, applied


async def snapshots(conn: Connection) -> list[str]:
    """The finished as-of reports. They are read with this release's queries as the active
    generation is, so they follow the same read-model files: a migration that counts the
    tallies again (e.g. 0012, the households' zones) counts a frozen report again from its own
    facts, its figures as of the same moment."""
    if not await conn.fetchval("SELECT to_regclass('public.read_model_generations') IS NOT NULL"):
        return []
    return [
        row["schema_name"]
        for row in await conn.fetch(
            """SELECT schema_name FROM public.read_model_generations
               WHERE kind = 'as-of' AND state = 'ready' ORDER BY created_at"""
        )
    ]


async def active_if_any(conn: Connection) -> str | None:
    """The active generation; None before the first migration made the control table."""
    if not await conn.fetchval("SELECT to_regclass('public.read_model_generations') IS NOT NULL"):
        return None
    return await _active(conn)


async def _active(conn: Connection) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT schema_name FROM public.read_model_generations WHERE state = 'active'"
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d_%H%M%S")
