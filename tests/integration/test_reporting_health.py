"""Reporting is ready only while its projector runs: a dead projector would leave the figures
frozen while the service still answered as if they were fresh."""

from __future__ import annotations

import asyncio

import pytest

from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.integration.test_reporting_replay import reporting

pytestmark = pytest.mark.stack


async def test_readiness_fails_when_the_projector_stops(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    async with reporting(databases, isolated_settings, api_keys) as r:
        ready = await r.http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["projector"] == "up"

        (projector,) = [t for t in asyncio.all_tasks() if t.get_name() == "projector"]
        projector.cancel()
        with pytest.raises(asyncio.CancelledError):
            await projector

        ready = await r.http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["projector"] == "down"
