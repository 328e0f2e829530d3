"""Fixtures shared by the suites. Tests marked `stack` talk to the real local stack (Kafka and
PostgreSQL, `make stack-start`); they fail, never skip, when it is not there."""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from deploy.local.principals import ADMIN_USER, Credentials
from gayari_shared import migrate_command
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.kafka.clients import kafka_reachable
from gayari_shared.postgres import Database, connect
from gayari_shared.settings import CommonSettings, ConfigurationError
from tests.kafka_tools import delete_topics_with_prefix

# The registry will not start without the key of its keyed hashes; tests get one of their own.
if not os.environ.get("GAYARI_HASH_SECRET_FILE"):
    os.environ.setdefault("GAYARI_HASH_SECRET", secrets.token_hex(16))

REPO_ROOT = Path(__file__).resolve().parents[1]
# What the local stack (deploy/local/stack.py) wrote for its principals and roles.
CREDENTIALS = Credentials(
    Path(os.environ.get("GAYARI_CACHE_DIR") or REPO_ROOT / ".cache") / "credentials"
)
# The tests' own clients: Kafka as the stack's administrator (fixtures create and delete the
# topics of their own prefixes; services started in-process run as it too), PostgreSQL as the
# test role, which owns the throw-away databases. Services started as processes run as their
# own principals (tests/processes.py). The environment wins.
for _name, _value in {
    **CREDENTIALS.kafka_env(ADMIN_USER),
    **CREDENTIALS.postgres_env("gayari_test"),
}.items():
    os.environ.setdefault(_name, _value)

PG_PORT = int(os.environ.get("GAYARI_PG_PORT", "15432"))
ADMIN_URL = os.environ.get(
    "GAYARI_TEST_DATABASE_URL", f"postgresql://gayari_test@127.0.0.1:{PG_PORT}/gayari_test"
)


@pytest.fixture(scope="session")
def common_settings() -> CommonSettings:
    return CommonSettings()


@pytest.fixture(scope="session")
async def stack(common_settings: CommonSettings) -> CommonSettings:
    try:
        kafka = common_settings.kafka_connection()
    except ConfigurationError as exc:
        pytest.fail(f"{exc}: start the local stack (`make stack-start`), it writes them")
    if not await kafka_reachable(kafka, timeout_s=10):
        pytest.fail(
            f"Kafka is not reachable at {kafka.describe()}: "
            "start the local stack with `make stack-start`"
        )
    try:
        conn = await connect(ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}; run `make stack-start`")
    await conn.close()
    return common_settings


async def migrate_up(service: str, url: str) -> None:
    """`gayari-<service>-migrate up` on a database, in this process."""
    module = importlib.import_module(f"gayari_{service}.entrypoints.migrate")
    await migrate_command.up(Database(url), module.target())


def database_url(name: str) -> str:
    """ADMIN_URL naming another database; its query (e.g. `?host=/run/dir` for a Unix socket)
    kept."""
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class DatabaseFactory:
    """Creates throw-away databases owned by the test role; drops them at the end."""

    def __init__(self) -> None:
        self.created: list[str] = []

    async def create(self, label: str = "it", *, migrated: str | None = None) -> str:
        """A new database; with `migrated`, that service's migrations applied by what its
        migrate command runs (`gayari-<service>-migrate up`), as a deployment does first."""
        name = f"{label}_{uuid.uuid4().hex[:12]}"
        conn = await connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        url = database_url(name)
        if migrated is not None:
            await migrate_up(migrated, url)
        return url

    async def drop_all(self) -> None:
        conn = await connect(ADMIN_URL)
        try:
            for name in self.created:
                await self.drop(conn, name)
        finally:
            await conn.close()

    @staticmethod
    async def drop(conn: asyncpg.Connection[Any], name: str) -> None:
        # FORCE may meet a backend the test role cannot end (autovacuum working on the fresh
        # database): wait for it a little; a database left behind is only clutter.
        for attempt in range(10):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
                await asyncio.sleep(0.2 * (attempt + 1))
        warnings.warn(f"test database {name} could not be dropped", stacklevel=1)


@pytest.fixture
async def databases(stack: CommonSettings) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory()
    yield factory
    await factory.drop_all()


@dataclass(frozen=True)
class KeySet:
    """API keys of a test: their file, and the plaintext of each."""

    path: Path
    admin: str
    reporting: str
    agencies: dict[str, str]

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def api_keys(tmp_path: Path) -> KeySet:
    keys = KeyFile(tmp_path / "api-keys.json")
    admin, record = issue_key("test admin", {Role.ADMIN})
    keys.add(record)
    reporting, record = issue_key("test reader", {Role.REPORTING_READ})
    keys.add(record)
    agencies: dict[str, str] = {}
    for code in ("dinsos", "dispar", "distakan", "dkukmpp"):
        roles = {Role.INTERVENTIONS_WRITE, Role.REGISTRY_READ, Role.REPORTING_READ}
        if code == "dinsos":
            roles.add(Role.REGISTRY_WRITE)
        agencies[code], record = issue_key(f"test {code}", roles, agency=code)
        keys.add(record)
    return KeySet(keys.path, admin, reporting, agencies)


@pytest.fixture
async def isolated_settings(
    stack: CommonSettings, api_keys: KeySet
) -> AsyncIterator[CommonSettings]:
    """Common settings with a topic prefix of this test's own (its topics start empty) and the
    test's API keys. The test's topics are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield stack.model_copy(update={"topic_prefix": prefix, "api_keys_file": api_keys.path})
    await delete_topics_with_prefix(stack.kafka_connection(), prefix + ".")
