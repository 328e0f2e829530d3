"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from gayari_interventions.adapters.postgres import MIGRATIONS as INTERVENTIONS_MIGRATIONS
from gayari_shared.postgres import create_pool, migrate
from tests.conftest import DatabaseFactory


@pytest.fixture
async def interventions_pool(databases: DatabaseFactory) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh interventions database, migrated."""
    pool = await create_pool(await databases.create("interventions"), session_reset=False)
    await migrate(pool, "interventions", INTERVENTIONS_MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()
