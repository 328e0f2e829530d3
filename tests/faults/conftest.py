"""The fault suite: real processes, real Kafka and PostgreSQL, faults injected on purpose.

Each case writes one line of figures to artifacts/faults.jsonl (fault, events sent, lost,
counted twice) for the reliability report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory
from tests.processes import Service, running_services

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
async def services(
    databases: DatabaseFactory, isolated_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[dict[str, Service]]:
    async for running in running_services(databases, isolated_settings, tmp_path):
        yield running


@pytest.fixture
async def services_with_separate_relays(
    databases: DatabaseFactory, isolated_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[dict[str, Service]]:
    """The services, registry and interventions each publishing through a relay process of its
    own ("registry-relay", "interventions-relay")."""
    relays = ("registry", "interventions")
    async for running in running_services(
        databases, isolated_settings, tmp_path, separate_relays=relays
    ):
        yield running


def record_figures(fault: str, **figures: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "faults.jsonl").open("a") as out:
        out.write(json.dumps({"fault": fault, **figures}) + "\n")
