"""The migrate command and the migrator on the real PostgreSQL: a database migrated by the
earlier in-process migrations is recognised, a changed applied file is refused, two runners do
not race, and a service does not start on a schema that lacks migrations."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from gayari_registry.adapters.postgres import MIGRATIONS as REGISTRY
from gayari_registry.bootstrap import create_app
from gayari_registry.settings import RegistrySettings
from gayari_reporting.adapters.generations import CONTROL, READ_MODELS
from gayari_reporting.adapters.refusals import REFUSALS
from gayari_reporting.entrypoints.migrate import ReportingSchema
from gayari_shared import migrate_command
from gayari_shared.migrations import (
    ChangedMigrationError,
    MigrationSet,
    SchemaBehindError,
    apply,
    status,
)
from gayari_shared.postgres import Database, connect
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.stack
BIN = Path(sys.executable).parent


async def migrate_as_before(
    url: str, migrations: MigrationSet, count: int, schema: str | None = None
) -> None:
    """What the in-process migrations did (gayari_shared.postgres.migrate before the files):
    the scripts in order, a ledger row (component, version) for each, in `schema` if given."""
    conn = await connect(url)
    try:
        if schema is not None:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}")
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   component text NOT NULL, version int NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        for m in migrations.migrations[:count]:
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                    migrations.component,
                    m.version,
                )
    finally:
        await conn.close()


async def states(url: str, migrations: MigrationSet) -> list[tuple[str, str]]:
    conn = await connect(url)
    try:
        return [(s.filename, s.state) for s in await status(conn, migrations)]
    finally:
        await conn.close()


async def test_a_database_of_the_in_process_migrations_is_baselined_not_migrated_again(
    databases: DatabaseFactory,
) -> None:
    url = await databases.create("legacy")
    await migrate_as_before(url, REGISTRY, count=7)
    conn = await connect(url)
    try:
        await conn.execute(
            """INSERT INTO households (id, kk, head_name, village_code, welfare_decile,
                                       registered_at, updated_at)
               VALUES (gen_random_uuid(), '6209010000000001', 'Siti', '62.09.01.2001', 2,
                       now(), now())"""
        )
    finally:
        await conn.close()
    newer = len(REGISTRY.migrations) - 7
    assert [state for _, state in await states(url, REGISTRY)] == ["baselined"] * 7 + [
        "pending"
    ] * newer

    after = await migrate_command.up(Database(url), migrate_command.OneSet(REGISTRY))

    assert [(s.filename, s.state) for s in after] == [
        (m.filename, "applied") for m in REGISTRY.migrations
    ]
    conn = await connect(url)
    try:
        # Only the files after the seventh ran (0001 again would have failed: its table exists).
        assert await conn.fetchval("SELECT version FROM households") == 0
        rows = await conn.fetch(
            "SELECT version, filename, checksum FROM schema_migrations ORDER BY version"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        (m.version, m.filename, m.checksum) for m in REGISTRY.migrations
    ]


async def test_a_changed_applied_file_is_refused_and_nothing_is_applied(
    databases: DatabaseFactory,
) -> None:
    url = await databases.create("changed")
    first = MigrationSet.of("registry", REGISTRY.migrations[:3])
    await migrate_command.up(Database(url), migrate_command.OneSet(first))
    edited = list(REGISTRY.migrations)
    edited[1] = replace(edited[1], sql=edited[1].sql + "\nCREATE INDEX later ON households (kk);")

    conn = await connect(url)
    try:
        with pytest.raises(ChangedMigrationError, match=r"0002_households\.sql"):
            await apply(conn, MigrationSet.of("registry", edited))
        assert await conn.fetchval("SELECT to_regclass('outbox_pending_lane')") is None
        # The advisory lock was given back: the unchanged files still migrate.
        assert len(await apply(conn, REGISTRY)) == len(REGISTRY.migrations) - 3
    finally:
        await conn.close()


async def test_two_runners_at_once_apply_each_file_once(databases: DatabaseFactory) -> None:
    url = await databases.create("race")
    conns = [await connect(url) for _ in range(2)]
    try:
        applied = await asyncio.gather(*(apply(conn, REGISTRY) for conn in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(len(a) for a in applied) == [0, len(REGISTRY.migrations)]
    assert {state for _, state in await states(url, REGISTRY)} == {"applied"}


async def test_a_service_refuses_a_schema_that_lacks_migrations(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    url = await databases.create("behind")
    await migrate_as_before(url, REGISTRY, count=7)
    app = create_app(isolated_settings, RegistrySettings(database_url=url))
    with pytest.raises(SchemaBehindError, match=r"0008_household_version\.sql.*registry-migrate"):
        async with app.router.lifespan_context(app):
            pass
    settings = RegistrySettings(database_url=url, migrate_on_start=True)
    app = create_app(isolated_settings, settings)
    async with app.router.lifespan_context(app):
        assert await app.state.checks["schema"]()
    assert {state for _, state in await states(url, REGISTRY)} == {"applied"}


def command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gayari-registry-migrate"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_the_command_reports_applies_and_checks(databases: DatabaseFactory) -> None:
    url = await databases.create("command")
    env = {**os.environ, "GAYARI_REGISTRY_DATABASE_URL": url}

    before = command("status", env=env)
    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()
    assert [line.split()[1:] for line in lines] == [
        [m.filename, "pending"] for m in REGISTRY.migrations
    ]
    behind = command("check", env=env)
    assert behind.returncode == 1 and "gayari-registry-migrate up" in behind.stderr

    up = command("up", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    after = command("status", env=env)
    assert [line.split()[:3] for line in after.stdout.splitlines()] == [
        ["registry", m.filename, "applied"] for m in REGISTRY.migrations
    ]
    assert command("check", env=env).returncode == 0

    conn: asyncpg.Connection = await connect(url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 3")
    finally:
        await conn.close()
    refused = command("up", env=env)
    assert refused.returncode == 1
    assert "0003_members_enrolments.sql" in refused.stderr
    assert "never edited" in refused.stderr


async def test_a_reporting_database_of_the_in_process_migrations_is_baselined(
    databases: DatabaseFactory,
) -> None:
    """Control and refusals in `public`, the read models in the active generation's schema,
    each with the ledger rows the in-process migrations wrote: recognised, nothing re-applied,
    no new generation."""
    url = await databases.create("legacyrep")
    await migrate_as_before(url, CONTROL, count=2)
    await migrate_as_before(url, REFUSALS, count=1)
    conn = await connect(url)
    try:
        await conn.execute(
            """INSERT INTO read_model_generations (schema_name, kind, state)
               VALUES ('rm_20260101_000000_abcdef', 'live', 'active')"""
        )
    finally:
        await conn.close()
    await migrate_as_before(url, READ_MODELS, count=11, schema="rm_20260101_000000_abcdef")
    target = ReportingSchema()
    conn = await connect(url)
    try:
        before = await target.status(conn)
        # Every file of those releases is recognised; the later ones are applied.
        assert [s.state for s in before].count("baselined") == 14
        later = [s.filename for s in before if s.state == "pending"]
        assert len(before) == 14 + len(later) and later[0] == "0012_household_zones.sql"
        assert [m.filename for m in await target.up(conn)] == later
        after = await target.status(conn)
        generations = await conn.fetchval("SELECT count(*) FROM read_model_generations")
    finally:
        await conn.close()
    assert [(s.component, s.schema, s.filename, s.state) for s in after] == [
        (s.component, s.schema, s.filename, "applied") for s in before
    ]
    assert {s.schema for s in after if s.component == "reporting"} == {"rm_20260101_000000_abcdef"}
    assert generations == 1


async def test_reporting_migrates_a_fresh_database_into_a_new_generation(
    databases: DatabaseFactory,
) -> None:
    url = await databases.create("freshrep")
    target = ReportingSchema()
    conn = await connect(url)
    try:
        pending = await target.status(conn)
        assert {s.state for s in pending} == {"pending"} and len(pending) == 15
        assert len(await target.up(conn)) == 15
        after = await target.status(conn)
        active = await conn.fetchval(
            "SELECT schema_name FROM read_model_generations WHERE state = 'active'"
        )
    finally:
        await conn.close()
    assert {s.state for s in after} == {"applied"}
    assert {s.schema for s in after if s.component == "reporting"} == {active}
