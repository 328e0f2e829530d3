"""What HTTP fuzzing (tests/fuzz) found in the registry and interventions: answers that were
right but undocumented, so a client generated from the OpenAPI document could not expect them.

- a JSON body that is not UTF-8 is a 400 problem (FastAPI cannot even decode it);
- a malformed household id in GET /households/{id} is a 422 *problem*, not FastAPI's default
  `HTTPValidationError` as application/json;
- interventions refuse a request without a valid key with a 401 problem;
- problem responses were declared as application/problem+json *without a schema*, so nothing
  could check their shape: the Problem schema is now declared for them;
- interventions took a day written as a number ("0", 0, "20260102") as Unix time: a training
  session "starting on 0" was recorded as held on 1970-01-01. Days are YYYY-MM-DD only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet

pytestmark = pytest.mark.stack

NOT_UTF8 = b'{"kk": "\xff\xfe"}'
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
async def apps(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    registry = registry_app(
        isolated_settings,
        RegistrySettings(database_url=await databases.create("regress", migrated="registry")),
    )
    interventions = interventions_app(
        isolated_settings,
        InterventionsSettings(
            database_url=await databases.create("regress", migrated="interventions")
        ),
    )
    async with (
        registry.router.lifespan_context(registry),
        interventions.router.lifespan_context(interventions),
        _client(registry, api_keys.agencies["dinsos"]) as r,
        _client(interventions, api_keys.agencies["dispar"]) as i,
    ):
        yield {"registry": r, "interventions": i}


def _client(app: FastAPI, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )


def _declared(document: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not declare {status}"
    declared: dict[str, Any] = responses[str(status)]
    return declared


HID = str(uuid.uuid4())
JSON_BODIES = [
    ("registry", "post", "/households", "/households"),
    ("registry", "patch", f"/households/{HID}", "/households/{household_id}"),
    ("registry", "post", f"/households/{HID}/enrolment", "/households/{household_id}/enrolment"),
    ("registry", "post", f"/households/{HID}/exit", "/households/{household_id}/exit"),
    ("interventions", "post", "/grants", "/grants"),
    ("interventions", "post", "/training-sessions", "/training-sessions"),
    ("interventions", "post", "/voids", "/voids"),
]


@pytest.mark.parametrize(("service", "method", "url", "path"), JSON_BODIES)
async def test_a_body_that_is_not_utf8_is_a_documented_400_problem(
    apps: dict[str, httpx.AsyncClient], service: str, method: str, url: str, path: str
) -> None:
    client = apps[service]
    reply = await client.request(
        method.upper(), url, content=NOT_UTF8, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert reply.json()["status"] == 400
    assert "Traceback" not in reply.text
    document = (await client.get("/openapi.json")).json()
    problem = {"$ref": "#/components/schemas/Problem"}
    assert _declared(document, method, path, 400)["content"][PROBLEM_JSON]["schema"] == problem


async def test_a_malformed_household_id_is_a_documented_422_problem(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    registry = apps["registry"]
    reply = await registry.get("/households/%01not-a-uuid")
    assert reply.status_code == 422
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert reply.json()["errors"][0]["field"] == "path.household_id"
    document = (await registry.get("/openapi.json")).json()
    declared = _declared(document, "get", "/households/{household_id}", 422)
    problem = {"$ref": "#/components/schemas/Problem"}
    assert all(c["schema"] == problem for c in declared["content"].values())


@pytest.mark.parametrize("authorization", [None, "Bearer gyr_unknown_0000"])
async def test_interventions_without_a_valid_key_is_a_documented_401_problem(
    apps: dict[str, httpx.AsyncClient], authorization: str | None
) -> None:
    client = apps["interventions"]
    headers = {"Authorization": authorization} if authorization else {}
    request = client.build_request("POST", "/grants", json={"kind": "capital"})
    request.headers.pop("Authorization")
    request.headers.update(headers)
    reply = await client.send(request)
    assert reply.status_code == 401
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert reply.headers["www-authenticate"] == "Bearer"
    document = (await client.get("/openapi.json")).json()
    for path in ("/grants", "/training-sessions", "/voids"):
        assert PROBLEM_JSON in _declared(document, "post", path, 401)["content"]


TODAY = date.today().isoformat()
SESSION = {"topic": "Pengelolaan homestay", "hours": 24, "place": "Balai Desa Bukit Raya"}
WHO = {"session_id": HID, "household_id": HID, "member_id": HID}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/training-sessions", {**SESSION, "starts_on": "0", "ends_on": TODAY}, "starts_on"),
        ("/training-sessions", {**SESSION, "starts_on": TODAY, "ends_on": 0}, "ends_on"),
        ("/training-attendance", {**WHO, "attended_on": "20260102"}, "attended_on"),
        ("/training-completions", {**WHO, "completed_on": 1.7e9}, "completed_on"),
        (
            "/mentoring-visits",
            {"household_id": HID, "visited_on": f"{TODAY}T00:00:00", "business_status": "stable"},
            "visited_on",
        ),
        (
            "/business-surveys",
            {"household_id": HID, "surveyed_on": "0", "monthly_income_idr": 1, "workers": 1},
            "surveyed_on",
        ),
    ],
)
async def test_a_day_that_is_not_yyyy_mm_dd_is_refused(
    apps: dict[str, httpx.AsyncClient], path: str, body: dict[str, Any], field: str
) -> None:
    reply = await apps["interventions"].post(path, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert field in [e["field"] for e in reply.json()["errors"]]
    assert "YYYY-MM-DD" in reply.text


async def test_a_day_written_yyyy_mm_dd_is_still_taken(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    reply = await apps["interventions"].post(
        "/training-sessions", json={**SESSION, "starts_on": TODAY, "ends_on": TODAY}
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["starts_on"] == TODAY
