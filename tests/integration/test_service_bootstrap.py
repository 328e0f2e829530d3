"""What every service's start opens (gayari_shared.bootstrap), on the real stack: the readiness
checks it installs, a service's own among them, and the pool closed when the schema step
refuses the start."""

from __future__ import annotations

import asyncpg
import pytest
from fastapi import FastAPI

from gayari_shared.bootstrap import opened
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.stack


async def test_readiness_checks_include_the_services_own(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    app = FastAPI()
    seen: list[asyncpg.Pool] = []

    async def no_schema(pool: asyncpg.Pool) -> None:
        seen.append(pool)

    async def schema_current(pool: asyncpg.Pool) -> bool:
        return bool(await pool.fetchval("SELECT 1"))

    async with opened(
        app,
        isolated_settings,
        kafka=isolated_settings.kafka_connection(),
        database=await databases.create("bootstrap"),
        schema=no_schema,
        checks={"schema": schema_current},
    ) as pool:
        assert seen == [pool]
        assert list(app.state.checks) == ["database", "schema", "kafka"]
        assert {name: await check() for name, check in app.state.checks.items()} == {
            "database": True,
            "schema": True,
            "kafka": True,
        }
        assert app.state.keys is not None
    assert pool.is_closing()


async def test_a_refused_schema_stops_the_start_and_closes_the_pool(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    app = FastAPI()
    pools: list[asyncpg.Pool] = []

    async def refuse(pool: asyncpg.Pool) -> None:
        pools.append(pool)
        raise RuntimeError("the schema lacks migrations")

    with pytest.raises(RuntimeError, match="lacks migrations"):
        async with opened(
            app,
            isolated_settings,
            kafka=isolated_settings.kafka_connection(),
            database=await databases.create("bootstrap"),
            schema=refuse,
        ):
            pytest.fail("started without its schema")
    (pool,) = pools
    assert pool.is_closing()
    assert not hasattr(app.state, "checks")
