"""Fixtures shared by the suites. Tests marked `stack` talk to the real local stack (Kafka and
PostgreSQL, `make stack-start`); they fail, never skip, when it is not there."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gayari_shared.kafka.clients import kafka_reachable
from gayari_shared.settings import CommonSettings

PG_PORT = int(os.environ.get("GAYARI_PG_PORT", "15432"))
ADMIN_URL = os.environ.get(
    "GAYARI_TEST_DATABASE_URL",
    f"postgresql://gayari_test:gayari_test@127.0.0.1:{PG_PORT}/gayari_test",
)


@pytest.fixture(scope="session")
def common_settings() -> CommonSettings:
    return CommonSettings()


@pytest.fixture(scope="session")
async def stack(common_settings: CommonSettings) -> CommonSettings:
    if not await kafka_reachable(common_settings.kafka_bootstrap_servers, timeout_s=10):
        pytest.fail(
            f"Kafka is not reachable at {common_settings.kafka_bootstrap_servers}: "
            "start the local stack with `make stack-start`"
        )
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}; run `make stack-start`")
    await conn.close()
    return common_settings


class DatabaseFactory:
    """Creates throw-away databases owned by the test role; drops them at the end."""

    def __init__(self) -> None:
        self.created: list[str] = []

    async def create(self, label: str = "it") -> str:
        name = f"{label}_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def databases(stack: CommonSettings) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory()
    yield factory
    await factory.drop_all()


@pytest.fixture
def isolated_settings(stack: CommonSettings) -> CommonSettings:
    """Common settings with a topic prefix of this test's own: its topics start empty."""
    return stack.model_copy(update={"topic_prefix": f"test-{uuid.uuid4().hex[:10]}"})
