"""Each service's served OpenAPI document against the service itself, on the real database and
Kafka: the document is valid (openapi-spec-validator), and for every operation in it
- the bearer scheme is declared exactly where a request without a key is refused (401);
- a query parameter it does not declare is refused with a 422 problem naming it, and each one
  it declares, sent with its documented example, is not refused as unknown;
- each request body example passes the service's own validation of the request.
Generic: an operation added later is checked as soon as it is in the document."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_reporting.bootstrap import create_app as reporting_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.openapi_tools import (
    body_examples,
    external_examples,
    operations,
    parameter_examples,
)

pytestmark = pytest.mark.stack

PROBLEM_JSON = "application/problem+json"
UNDECLARED = "zz_undeclared"
# Every role but administrator, for Social Affairs: no operation stops at 403.
ROLES: set[Role] = {r for r in Role if r is not Role.ADMIN}


@pytest.fixture(params=["registry", "interventions", "reporting"])
async def service(
    request: pytest.FixtureRequest,
    databases: DatabaseFactory,
    isolated_settings: CommonSettings,
    api_keys: KeySet,
) -> AsyncIterator[httpx.AsyncClient]:
    name: str = request.param
    database = await databases.create(f"doc{name[:3]}", migrated=name)
    app: FastAPI
    if name == "registry":
        app = registry_app(isolated_settings, RegistrySettings(database_url=database))
    elif name == "interventions":
        app = interventions_app(isolated_settings, InterventionsSettings(database_url=database))
    else:
        settings = ReportingSettings(
            database_url=database, consumer_group=f"docs-{uuid.uuid4().hex[:8]}"
        )
        app = reporting_app(isolated_settings, settings)
    key, record = issue_key("every role", ROLES, agency="dinsos")
    KeyFile(api_keys.path).add(record)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers=api_keys.bearer(key),
        ) as client,
    ):
        yield client


def url_of(path: str, operation: dict[str, Any]) -> str:
    """The path with each path parameter set to its example (any uuid for a uuid)."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            examples = parameter_examples(parameter)
            value = examples[0] if examples else str(uuid.uuid4())
            path = path.replace("{" + parameter["name"] + "}", str(value))
    return path


def refusals(reply: httpx.Response, name: str) -> list[str]:
    """What a 422 problem says of the query parameter `name`."""
    if reply.status_code != 422:
        return []
    assert reply.headers["content-type"] == PROBLEM_JSON, reply.text
    return [e["message"] for e in reply.json()["errors"] if e["field"] == f"query.{name}"]


async def test_the_document_says_what_the_service_does(service: httpx.AsyncClient) -> None:
    document = (await service.get("/openapi.json")).json()
    validate(document)
    checked = 0
    for method, path, operation in operations(document):
        url = url_of(path, operation)
        where = f"{method.upper()} {path}"

        anonymous = service.build_request(method.upper(), url)
        del anonymous.headers["Authorization"]
        reply = await service.send(anonymous)
        if operation.get("security"):
            assert reply.status_code == 401, (where, reply.status_code, reply.text)
            assert reply.headers["content-type"] == PROBLEM_JSON
        else:
            assert reply.status_code != 401, where

        reply = await service.request(method.upper(), url, params={UNDECLARED: "1"})
        assert reply.status_code == 422, (where, reply.status_code, reply.text)
        assert refusals(reply, UNDECLARED), (where, reply.text)

        for parameter in operation.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            name = parameter["name"]
            value = parameter_examples(parameter)[0]
            reply = await service.request(method.upper(), url, params={name: str(value)})
            assert reply.status_code < 500, (where, name, reply.text)
            refused = refusals(reply, name)
            assert not any("unknown" in m or "Extra" in m for m in refused), (where, name)
        checked += 1
    assert checked >= 5


async def test_each_body_example_passes_the_services_validation(
    service: httpx.AsyncClient,
) -> None:
    document = (await service.get("/openapi.json")).json()
    for method, path, operation in operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        for media_type, body in content.items():
            served = []
            for url in external_examples(body):  # a file the service serves, e.g. a template
                reply = await service.get(url)
                assert reply.status_code == 200, (url, reply.text)
                served.append(reply.content)
            for example in [*body_examples(body), *served]:
                kwargs: dict[str, Any] = (
                    {"json": example}
                    if media_type == "application/json"
                    else {"content": example, "headers": {"content-type": media_type}}
                )
                reply = await service.request(method.upper(), url_of(path, operation), **kwargs)
                # A rule the placeholder ids break (no such household) is fine; a malformed
                # request is not.
                assert reply.status_code < 500, (method, path, reply.text)
                if reply.status_code in (400, 422):
                    problem = reply.json()
                    assert problem["type"] != "urn:gayari:problem:invalid-request", (
                        method,
                        path,
                        problem,
                    )
