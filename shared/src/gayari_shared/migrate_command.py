"""A service's migrate command, `gayari-<service>-migrate up|status|check`, and what its
processes run at start (apply when asked to, otherwise refuse a schema that lacks migrations).

`up` applies what is pending and prints the status; `status` prints each file's state;
`check` exits 1 unless every file is applied unchanged. An applied file that changed makes
`up` and `check` fail with exit status 1 and says which file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from gayari_shared.logging import configure_logging
from gayari_shared.migrations import (
    FileState,
    Migration,
    MigrationError,
    MigrationSet,
    apply,
    require_current,
    status,
)
from gayari_shared.postgres import Connection, Database, connect
from gayari_shared.settings import ConfigurationError, DatabaseSettings, load_settings


class Target(Protocol):
    """What one service's command migrates: one migration set, or (reporting) several."""

    async def up(self, conn: Connection) -> list[Migration]: ...

    async def status(self, conn: Connection) -> list[FileState]: ...


@dataclass(frozen=True)
class OneSet:
    migrations: MigrationSet

    async def up(self, conn: Connection) -> list[Migration]:
        return await apply(conn, self.migrations)

    async def status(self, conn: Connection) -> list[FileState]:
        return await status(conn, self.migrations)


async def at_start(pool: asyncpg.Pool, target: Target, *, apply: bool) -> None:
    """A service process's start: apply the migrations (`apply`: the setting
    GAYARI_<SERVICE>_MIGRATE_ON_START) or refuse a schema that lacks them, naming the command."""
    async with pool.acquire() as conn:
        if apply:
            await target.up(conn)
        else:
            require_current(await target.status(conn))


async def current(pool: asyncpg.Pool, target: Target) -> bool:
    """The readiness check: every migration of this release applied, none changed."""
    try:
        async with pool.acquire() as conn:
            require_current(await target.status(conn))
    except (MigrationError, OSError, asyncpg.PostgresError):
        return False
    return True


async def up(database: Database, target: Target) -> list[FileState]:
    """What `up` does: apply the pending migrations on a connection of its own (no pool's
    command timeout); returns the status after."""
    return await _on_own_connection("up", database, target)


async def _on_own_connection(command: str, database: Database, target: Target) -> list[FileState]:
    conn = await connect(database)
    try:
        if command == "up":
            await target.up(conn)
        return await target.status(conn)
    finally:
        await conn.close()


async def run(command: str, database: Database, target: Target) -> int:
    states = await _on_own_connection(command, database, target)
    for state in states:
        print(state.line())
    if command == "check":
        require_current(states)
    return 0


def main(
    service: str,
    settings_class: type[DatabaseSettings],
    target: Callable[[], Target],
    argv: Sequence[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(
        prog=f"gayari-{service}-migrate",
        description=f"The {service} service's schema migrations (gayari_shared.migrations).",
    )
    parser.add_argument(
        "command",
        choices=("up", "status", "check"),
        help="up: apply the pending migrations; status: each file's state; "
        "check: exit 1 unless all are applied unchanged",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(settings_class)
        database = settings.database()
    except ConfigurationError as exc:
        print(f"gayari-{service}-migrate: invalid configuration:", *exc.problems, sep="\n  ",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    # JSON log lines (what was applied, baselined) as the services write them, then the table.
    configure_logging(f"{service}-migrate")
    try:
        sys.exit(asyncio.run(run(args.command, database, target())))
    except MigrationError as exc:
        print(f"gayari-{service}-migrate: {exc}", file=sys.stderr)
        sys.exit(1)
