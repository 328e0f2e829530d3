"""Schema migrations: numbered SQL files, applied in order by a command, each recorded with its
checksum.

Each service keeps its files in the `migrations` folder of its package (`NNNN_name.sql`,
numbered from 0001 without gaps) and applies them with its migrate command
(`gayari-<service>-migrate up`) before its processes start: on Kubernetes an init container of
each pod, in compose a one-shot service, locally the runner and the test fixtures. A file's
migration runs in one transaction; the ledger `schema_migrations` records its version,
filename, SHA-256 and time. An applied file whose text changed is refused: a migration is
history, a change is a new file. Runners of one component are serialised by an advisory lock.

The ledger is the table the earlier in-process migrations kept (component, version,
applied_at); the files reproduce their statements in the same order, so the rows they wrote are
taken as applied and get their filename and checksum on the first run ("baselined").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Final, Literal

import structlog

from gayari_shared.postgres import Connection, quote_ident

log = structlog.get_logger(__name__)

FILE_NAME: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# A migration may rebuild derived tables over everything already stored (hours on a national
# database), not the seconds of a request's command timeout.
MIGRATION_TIMEOUT_S: Final = 6 * 3600.0

LEDGER: Final = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        component  text NOT NULL,
        version    int NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (component, version));
    ALTER TABLE schema_migrations
        ADD COLUMN IF NOT EXISTS filename text,
        ADD COLUMN IF NOT EXISTS checksum text;
"""

State = Literal["applied", "pending", "changed", "baselined", "unknown"]


class MigrationError(RuntimeError):
    """The files or the ledger are not in a state to migrate from."""


class ChangedMigrationError(MigrationError):
    """An applied migration's file no longer holds what was applied."""


class SchemaBehindError(MigrationError):
    """The database lacks migrations this release needs."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @classmethod
    def of(cls, filename: str, sql: str) -> Migration:
        match = FILE_NAME.match(filename)
        if match is None:
            raise MigrationError(f"{filename}: a migration is named NNNN_lowercase_name.sql")
        return cls(int(match.group(1)), filename, sql)


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """The migrations of one component: the name its ledger rows carry, its files in order."""

    component: str
    migrations: tuple[Migration, ...]

    @classmethod
    def of(cls, component: str, migrations: Iterable[Migration]) -> MigrationSet:
        ordered = tuple(sorted(migrations, key=lambda m: m.version))
        versions = [m.version for m in ordered]
        if versions != list(range(1, len(ordered) + 1)):
            names = ", ".join(m.filename for m in ordered)
            raise MigrationError(f"{component}: migrations numbered 0001 on, no gap: {names}")
        return cls(component, ordered)

    @classmethod
    def from_package(cls, component: str, package: str, folder: str = "migrations") -> MigrationSet:
        """The `*.sql` files of a folder inside an installed package."""
        root = resources.files(package).joinpath(*folder.split("/"))
        files = [f for f in root.iterdir() if f.name.endswith(".sql")]
        if not files:
            raise MigrationError(f"{component}: no migrations in {package}/{folder}")
        return cls.of(component, (Migration.of(f.name, f.read_text("utf-8")) for f in files))


@dataclass(frozen=True, slots=True)
class Recorded:
    """A ledger row. filename and checksum are NULL in the rows of the in-process migrations."""

    version: int
    filename: str | None
    checksum: str | None
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class FileState:
    component: str
    schema: str | None
    version: int
    filename: str
    state: State
    applied_at: datetime | None = None

    def line(self) -> str:
        where = self.component if self.schema is None else f"{self.component}@{self.schema}"
        at = "" if self.applied_at is None else self.applied_at.isoformat(timespec="seconds")
        return f"{where:<40} {self.filename:<44} {self.state:<9} {at}".rstrip()


def compare(
    migrations: MigrationSet, recorded: Sequence[Recorded], schema: str | None = None
) -> list[FileState]:
    """Each file's state against the ledger, then the recorded versions no file has
    (applied by a newer release)."""
    by_version = {r.version: r for r in recorded}
    states = []
    for m in migrations.migrations:
        row = by_version.pop(m.version, None)
        if row is None:
            state: State = "pending"
        elif row.checksum is None:
            state = "baselined"
        elif row.checksum == m.checksum:
            state = "applied"
        else:
            state = "changed"
        at = None if row is None else row.applied_at
        states.append(FileState(migrations.component, schema, m.version, m.filename, state, at))
    for row in sorted(by_version.values(), key=lambda r: r.version):
        name = row.filename or f"{row.version:04d} (no file)"
        states.append(
            FileState(migrations.component, schema, row.version, name, "unknown", row.applied_at)
        )
    return states


def refuse_changed(states: Sequence[FileState]) -> None:
    changed = [s.filename for s in states if s.state == "changed"]
    if changed:
        raise ChangedMigrationError(
            f"{states[0].component}: applied migration(s) changed since they were applied: "
            f"{', '.join(changed)}. An applied migration is never edited: restore the file and "
            "put the change in a new one."
        )


def require_current(states: Sequence[FileState]) -> None:
    """Raises unless every file is applied unchanged (a process's start, its readiness)."""
    refuse_changed(states)
    behind = [s for s in states if s.state == "pending"]
    if behind:
        service = behind[0].component.split("-")[0]
        raise SchemaBehindError(
            f"{behind[0].component}: the database lacks migration(s) "
            f"{', '.join(s.filename for s in behind)}: run `gayari-{service}-migrate up`"
        )


async def status(
    conn: Connection, migrations: MigrationSet, schema: str | None = None
) -> list[FileState]:
    """Every file's state; reads only (a database never migrated has every file pending)."""
    return compare(migrations, await _recorded(conn, migrations.component, schema), schema)


async def apply(
    conn: Connection, migrations: MigrationSet, schema: str | None = None
) -> list[Migration]:
    """Apply the pending files in order, each in its own transaction; returns them. With
    `schema`, the files and their ledger live in that schema. Waits for any other runner of the
    component; refuses (before applying anything) when an applied file changed."""
    # The key the in-process migrations locked too: an old pod starting meanwhile waits.
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", migrations.component)
    try:
        if schema is not None:
            await conn.execute(f"SET search_path TO {quote_ident(schema)}")
        await conn.execute(LEDGER)
        states = compare(migrations, await _recorded(conn, migrations.component), schema)
        refuse_changed(states)
        await _baseline(conn, migrations, states)
        pending = {s.version for s in states if s.state == "pending"}
        applied = []
        for m in migrations.migrations:
            if m.version not in pending:
                continue
            async with conn.transaction():
                await conn.execute(m.sql, timeout=MIGRATION_TIMEOUT_S)
                await conn.execute(
                    """INSERT INTO schema_migrations (component, version, filename, checksum)
                       VALUES ($1, $2, $3, $4)""",
                    migrations.component,
                    m.version,
                    m.filename,
                    m.checksum,
                )
            log.info("migration applied", component=migrations.component, file=m.filename)
            applied.append(m)
        unknown = [s.filename for s in states if s.state == "unknown"]
        if unknown:
            log.warning(
                "migrations of a newer release", component=migrations.component, files=unknown
            )
        return applied
    finally:
        if schema is not None:
            await conn.execute("RESET search_path")
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", migrations.component)


async def _baseline(
    conn: Connection, migrations: MigrationSet, states: Sequence[FileState]
) -> None:
    """Give the rows of the in-process migrations their file's name and checksum."""
    files = {m.version: m for m in migrations.migrations}
    for s in states:
        if s.state == "baselined":
            m = files[s.version]
            await conn.execute(
                """UPDATE schema_migrations SET filename = $3, checksum = $4
                   WHERE component = $1 AND version = $2""",
                migrations.component,
                m.version,
                m.filename,
                m.checksum,
            )
            log.info("migration baselined", component=migrations.component, file=m.filename)


async def _recorded(conn: Connection, component: str, schema: str | None = None) -> list[Recorded]:
    ledger = "schema_migrations" if schema is None else f"{quote_ident(schema)}.schema_migrations"
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", ledger)
    if not exists:
        return []
    columns = await conn.fetchval(
        """SELECT count(*) FROM pg_attribute
           WHERE attrelid = to_regclass($1) AND attname IN ('filename', 'checksum')
             AND NOT attisdropped""",
        ledger,
    )
    names = "filename, checksum" if columns == 2 else "NULL::text, NULL::text"
    rows = await conn.fetch(
        f"SELECT version, {names}, applied_at FROM {ledger} WHERE component = $1",
        component,
    )
    return [Recorded(*row) for row in rows]
