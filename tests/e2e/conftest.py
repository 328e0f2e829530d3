"""Fixtures of the e2e suite: the three services as real processes, each run with databases,
topics and API keys of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.processes import Service, running_services

__all__ = ["Service", "stop_gracefully"]


@pytest.fixture
async def services(
    databases: DatabaseFactory, isolated_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[dict[str, Service]]:
    async for running in running_services(databases, isolated_settings, tmp_path):
        yield running


def stop_gracefully(service: Service) -> tuple[int, float]:
    return service.stop_gracefully()
