"""HTTP fuzzing of each service's OpenAPI document with schemathesis, in-process against the
real PostgreSQL and Kafka: no 5xx, no stack trace, responses as documented, and requests without
a valid key refused with a 401 problem."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response
from schemathesis.openapi.checks import JsonSchemaError, UndefinedContentType, UndefinedStatusCode

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_reporting.bootstrap import create_app as reporting_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.fuzz.fuzzing import PROBLEM_JSON, PUBLIC, FuzzReport, fuzz, served
from tests.integration.test_http_contract import household
from tests.integration.test_interventions_api import days_ago, life, publish

pytestmark = [
    pytest.mark.stack,
    # Schemathesis' own strategies use `random`; Hypothesis warns about it, nothing to act on.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


def _assert_clean(report: FuzzReport) -> None:
    assert not report.failures, f"{report.summary()}\n\n{report.details()}"


async def test_fuzz_registry(
    databases: DatabaseFactory,
    isolated_settings: CommonSettings,
    api_keys: KeySet,
    fuzz_reports: list[FuzzReport],
) -> None:
    app = registry_app(
        isolated_settings,
        RegistrySettings(database_url=await databases.create("fuzzreg", migrated="registry")),
    )
    key = api_keys.agencies["dinsos"]
    async with served(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=api_keys.bearer(key)) as http:
            registered = await http.post("/households", json=household())
            enrolled = await http.post(
                "/households",
                json=household(
                    head_name="Maria Ngantung",
                    members=[
                        {
                            "name": "Maria Ngantung",
                            "nik": "6209035507850002",
                            "sex": "F",
                            "birth_date": "1985-07-15",
                            "relationship": "head",
                        }
                    ],
                ),
            )
            assert (registered.status_code, enrolled.status_code) == (201, 201), enrolled.text
            reply = await http.post(
                f"/households/{enrolled.json()['id']}/enrolment", json={"cohort_year": 2026}
            )
            assert reply.status_code == 201
        ids = [registered.json()["id"], enrolled.json()["id"]]
        report = await asyncio.to_thread(
            fuzz, "registry", base_url, key, path_values={"household_id": ids}
        )
    fuzz_reports.append(report)
    _assert_clean(report)


async def test_fuzz_interventions(
    databases: DatabaseFactory,
    isolated_settings: CommonSettings,
    api_keys: KeySet,
    fuzz_reports: list[FuzzReport],
) -> None:
    url = await databases.create("fuzzint", migrated="interventions")
    # A generated Gayari-Household-Version is mostly one the household never reaches: each such
    # case would wait the whole 2 s before its 503.
    app = interventions_app(
        isolated_settings, InterventionsSettings(database_url=url, household_wait_s=0.05)
    )
    key = api_keys.agencies["dispar"]
    async with served(app) as base_url:
        # An enrolled household the service knows (from the registry's events) and a training
        # session of the caller's: half of the positive cases name them, to get past the 404s.
        members = [uuid.uuid4(), uuid.uuid4()]
        household_id = await known_household(isolated_settings, url, members)
        async with httpx.AsyncClient(base_url=base_url, headers=api_keys.bearer(key)) as http:
            session = await http.post(
                "/training-sessions",
                json={
                    "topic": "Pengelolaan homestay",
                    "starts_on": days_ago(10),
                    "ends_on": days_ago(8),
                    "hours": 24,
                    "place": "Balai Desa Bukit Raya",
                },
            )
            assert session.status_code == 201, session.text
        known = {
            "household_id": [str(household_id)],
            "member_id": [str(m) for m in members],
            "session_id": [session.json()["id"]],
            "intervention_id": [session.json()["id"]],
        }
        report = await asyncio.to_thread(
            fuzz,
            "interventions",
            base_url,
            key,
            body_values=known,
            tolerate=household_not_current,
            # The import templates hold no data: served without a key, by design.
            public=(*PUBLIC, "/imports/templates/"),
        )
    fuzz_reports.append(report)
    _assert_clean(report)


async def known_household(
    settings: CommonSettings, database_url: str, members: list[uuid.UUID]
) -> uuid.UUID:
    """Publish an enrolled household's registry events; wait until the service applied them."""
    events = life(uuid.uuid4(), members)
    ids = await publish(settings, events, "/gayari/registry")
    household_id = uuid.UUID(events[0].subject)
    conn = await asyncpg.connect(database_url)
    try:
        async with asyncio.timeout(30):
            query = "SELECT event_id FROM known_households WHERE household_id = $1"
            while await conn.fetchval(query, household_id) != ids[-1]:
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return household_id


async def test_fuzz_reporting(
    databases: DatabaseFactory,
    isolated_settings: CommonSettings,
    api_keys: KeySet,
    fuzz_reports: list[FuzzReport],
) -> None:
    settings = ReportingSettings(
        database_url=await databases.create("fuzzrep", migrated="reporting"),
        consumer_group=f"fuzz-{uuid.uuid4().hex[:8]}",
    )
    app = reporting_app(isolated_settings, settings)
    # The reporting reader, with every reporting role there is, so that no endpoint stops at 403.
    key, record = issue_key("fuzz reporting reader", {r for r in Role if r.startswith("reporting")})
    KeyFile(api_keys.path).add(record)
    async with served(app) as base_url:
        report = await asyncio.to_thread(
            fuzz,
            "reporting",
            base_url,
            key,
            tolerate=undocumented_problem,
            public=(*PUBLIC, "/public/"),
        )
    fuzz_reports.append(report)
    _assert_clean(report)


def household_not_current(response: Response, failure: Failure) -> bool:
    """The designed answer to a generated Gayari-Household-Version that the household never
    reaches here: 503 household-not-current with Retry-After (documented in the OpenAPI
    document). Reported apart, as every tolerated answer is; any other 5xx still fails."""
    content_type = response.headers.get("content-type", [""])[0]
    return (
        response.status_code == 503
        and content_type.startswith(PROBLEM_JSON)
        and "retry-after" in {name.lower() for name in response.headers}
        and response.json().get("type") == "urn:gayari:problem:household-not-current"
    )


def undocumented_problem(response: Response, failure: Failure) -> bool:
    """Known, reported to reporting's owner (who is rewriting it; not changed here): its OpenAPI
    document declares no problem responses (401, 403, 404, and 422 as application/json), so its
    right 4xx problem answers are undocumented. Never a 5xx, never a stack trace."""
    content_type = response.headers.get("content-type", [""])[0]
    return (
        400 <= response.status_code < 500
        and content_type.startswith(PROBLEM_JSON)
        and isinstance(failure, UndefinedStatusCode | UndefinedContentType | JsonSchemaError)
    )
