"""The services' OpenAPI and AsyncAPI documents, as generated, checked by real validators and
against what the code really sends: readable unique operation ids, an example that fits its
schema on every request body and parameter, the bearer scheme, /docs without internet, and
AsyncAPI messages whose headers and correlation id are those on the wire.

What the running services accept (declared parameters, 401s) is checked against the real
stack in tests/integration/test_api_documents.py."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft7Validator
from openapi_spec_validator import validate

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_reporting.bootstrap import create_app as reporting_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.auth.http import SCHEME
from gayari_shared.auth.keys import Role
from gayari_shared.events.envelope import Envelope
from gayari_shared.http.openapi import OPERATION_ID
from gayari_shared.kafka.deadletter import Rejection, dead_letter_headers
from gayari_shared.settings import CommonSettings
from tests.openapi_tools import (
    body_examples,
    external_examples,
    operations,
    parameter_examples,
    validator,
)

SERVICES = ("registry", "interventions", "reporting")
ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"
UNUSED_DATABASE = "postgresql://nobody@127.0.0.1:1/none"  # the apps are built, never started


@cache
def app(service: str) -> FastAPI:
    # Built, never started: no broker to log in to.
    common = CommonSettings(
        _env_file=None, hash_secret="0123456789abcdef-unit", kafka_security_protocol="PLAINTEXT"
    )
    if service == "registry":
        return registry_app(common, RegistrySettings(database_url=UNUSED_DATABASE))
    if service == "interventions":
        return interventions_app(common, InterventionsSettings(database_url=UNUSED_DATABASE))
    return reporting_app(common, ReportingSettings(database_url=UNUSED_DATABASE))


@pytest.mark.parametrize("service", SERVICES)
def test_document_is_valid_openapi(service: str) -> None:
    document = app(service).openapi()
    validate(document)  # raises OpenAPIValidationError, naming the fault
    assert document["openapi"].startswith("3.1")


@pytest.mark.parametrize("service", SERVICES)
def test_operation_ids_are_readable_and_unique(service: str) -> None:
    ids = [op.get("operationId", "") for _, _, op in operations(app(service).openapi())]
    assert ids and all(OPERATION_ID.match(i) for i in ids), ids
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_body_has_examples_that_fit_its_schema(service: str) -> None:
    document = app(service).openapi()
    bodies = 0
    for method, path, operation in operations(document):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            bodies += 1
            examples = body_examples(content)
            # A binary body's example is a file the service serves (checked against the
            # service in tests/integration/test_api_documents.py).
            served = external_examples(content)
            assert examples or served, f"{method.upper()} {path} ({media_type}) has no example"
            assert all(url.startswith("/") for url in served), served
            check = validator(document, content["schema"])
            for example in examples:
                errors = [e.message for e in check.iter_errors(example)]
                assert not errors, f"{method.upper()} {path}: {errors}"
    assert bodies > 0 or service == "reporting"


@pytest.mark.parametrize("service", SERVICES)
def test_every_parameter_has_an_example_that_fits_its_schema(service: str) -> None:
    document = app(service).openapi()
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if "$ref" in parameter:
                continue
            schema = parameter["schema"]
            examples = parameter_examples(parameter)
            if not examples and schema.get("format") == "uuid":
                continue  # any uuid is one
            assert examples, f"{method.upper()} {path}: {parameter['name']} has no example"
            for example in examples:
                errors = [e.message for e in validator(document, schema).iter_errors(example)]
                assert not errors, f"{method.upper()} {path} {parameter['name']}: {errors}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_bearer_scheme_is_declared_with_each_operations_role(service: str) -> None:
    document = app(service).openapi()
    assert document["components"]["securitySchemes"] == {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "gyr_<key id>_<secret>",
            "description": document["components"]["securitySchemes"][SCHEME]["description"],
        }
    }
    roles = {r.value for r in Role}
    secured = 0
    for method, path, operation in operations(document):
        requirements = operation.get("security", [])
        for requirement in requirements:
            assert set(requirement) == {SCHEME}, (method, path)
            assert set(requirement[SCHEME]) <= roles and requirement[SCHEME], (method, path)
            assert "401" in operation["responses"], (method, path)
        secured += bool(requirements)
    assert secured > 0


def test_the_correlation_header_is_documented_on_every_operation() -> None:
    for service in SERVICES:
        document = app(service).openapi()
        assert document["components"]["parameters"]["CorrelationId"]["in"] == "header"
        for method, path, operation in operations(document):
            refs = [p.get("$ref") for p in operation["parameters"]]
            assert "#/components/parameters/CorrelationId" in refs, (method, path)
            for status, response in operation["responses"].items():
                assert "X-Correlation-ID" in response["headers"], (method, path, status)


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_documentation_pages_load_without_internet(page: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app("reporting")), base_url="http://test"
    ) as client:
        html = await client.get(page)
        assert html.status_code == 200
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html.text, re.I), html.text
        parser = _Assets()
        parser.feed(html.text)
        scripts = [u for u in parser.urls if u.endswith(".js")]
        assert scripts, html.text
        for url in parser.urls:
            asset = await client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
        document = await client.get("/openapi.json")
        assert document.status_code == 200 and document.json()["paths"]


# --- AsyncAPI -------------------------------------------------------------------------------


def kept(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ASYNCAPI / f"{service}.json").read_text())
    return document


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def wire_headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {name: value.decode() for name, value in headers}


def an_event() -> dict[str, str]:
    envelope = Envelope(
        source="/gayari/registry",
        type="gayari.households.registered.v1",
        subject=str(uuid.uuid4()),
        correlationid="c-42",
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        tracestate="gayari=1",
        data={},
    )
    return wire_headers(envelope.to_kafka("gayari.households").headers)


def a_dead_letter() -> dict[str, str]:
    event = an_event()
    rejection = Rejection(
        "gayari.intake.dinsos", 2, 41, b"k", b"{}", [(k, v.encode()) for k, v in event.items()], "x"
    )
    return wire_headers(dead_letter_headers(rejection, "gayari-interventions-intake"))


@pytest.mark.parametrize("service", SERVICES)
def test_asyncapi_messages_declare_the_headers_really_sent(service: str) -> None:
    document = kept(service)
    messages = document["components"]["messages"]
    assert messages
    for name, message in messages.items():
        # FastStream's default would be $message.header#/correlation_id, never sent.
        assert message["correlationId"]["location"] == "$message.header#/ce_correlationid"
        headers = resolve(document, message["headers"]["$ref"])
        Draft7Validator.check_schema(headers)
        sent = a_dead_letter() if name.startswith(("gayari.deadletter:",)) else an_event()
        assert "ce_correlationid" in sent
        errors = [e.message for e in Draft7Validator(headers).iter_errors(sent)]
        assert not errors, (name, errors)
        if "dlq-reason" not in headers["properties"]:
            # Every header an event carries is declared, and what is required is sent.
            assert set(sent) == set(headers["properties"]), name
            assert set(headers["required"]) <= set(sent)
            assert {h for h in headers["properties"] if h.startswith("ce_")} == {
                h for h in sent if h.startswith("ce_")
            }


def test_a_record_without_a_required_header_does_not_fit_the_declared_headers() -> None:
    headers = kept("registry")["components"]["schemas"]["CloudEventsHeaders"]
    event = an_event()
    del event["ce_correlationid"]
    assert not Draft7Validator(headers).is_valid(event)
    dead = kept("interventions")["components"]["schemas"]["DeadLetterHeaders"]
    letter = a_dead_letter()
    assert Draft7Validator(dead).is_valid(letter)
    del letter["dlq-reason"]
    assert not Draft7Validator(dead).is_valid(letter)
    assert datetime.fromisoformat(a_dead_letter()["dlq-time"]).tzinfo == UTC
