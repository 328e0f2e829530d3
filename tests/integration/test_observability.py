"""Metrics are scraped from a running service over HTTP, after real work on the real stack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet

pytestmark = pytest.mark.stack


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
async def registry(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[httpx.AsyncClient]:
    url = await databases.create("registry", migrated="registry")
    app = registry_app(isolated_settings, RegistrySettings(database_url=url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers=api_keys.bearer(api_keys.agencies["dinsos"]),
        ) as client:
            yield client


async def test_metrics_endpoint_counts_requests_and_published_events(
    registry: httpx.AsyncClient, isolated_settings: CommonSettings
) -> None:
    topic = isolated_settings.topic("households")
    before = samples((await registry.get("/metrics")).text)
    published_before = before.get(("gayari_events_published_total", (("topic", topic),)), 0.0)

    for i in range(3):
        reply = await registry.post(
            "/households",
            json={
                "kk": f"620901{uuid.uuid4().int % 10**10:010d}",
                "head_name": "Rina Lestari",
                "village_code": "62.09.01.2001",
                "welfare_decile": 2,
                "members": [
                    {
                        "name": "Rina Lestari",
                        "nik": f"620901410190{i:04d}",
                        "sex": "F",
                        "birth_date": "1990-01-01",
                        "relationship": "head",
                    }
                ],
            },
        )
        assert reply.status_code == 201, reply.text

    key = ("gayari_events_published_total", (("topic", topic),))
    async with asyncio.timeout(20):
        while True:
            scraped = await registry.get("/metrics")
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
            after = samples(scraped.text)
            if after.get(key, 0.0) - published_before >= 3:
                break
            await asyncio.sleep(0.2)
    assert after[key] - published_before == 3
    count = (
        "gayari_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "/households"), ("status", "201")),
    )
    assert after[count] - before.get(count, 0.0) == 3
