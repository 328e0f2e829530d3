"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from gayari_shared.postgres import create_pool
from tests.conftest import DatabaseFactory


@pytest.fixture
async def interventions_pool(databases: DatabaseFactory) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh interventions database, migrated."""
    url = await databases.create("interventions", migrated="interventions")
    pool = await create_pool(url, session_reset=False)
    try:
        yield pool
    finally:
        await pool.close()
