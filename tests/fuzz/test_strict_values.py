"""Property tests of strict inputs against the running services (uvicorn, the real PostgreSQL and
Kafka), bounded in count: for every JSON write operation of the registry and interventions, and
every value of its body, wrong values drawn by Hypothesis (a boolean, a string or a fraction for
a whole number; a number or a boolean for a text; a control character inside a text) are a 422
problem naming that field, never anything else; a whole-number query parameter not written in
digits is a 422 naming it. For every intake type, records with such values are dead-lettered
with a reason naming the field, and the partition keeps moving: valid records behind them on
the same partition are taken."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.domain.intake import INTAKE_TYPES
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.fuzz.fuzzing import PROBLEM_JSON, served
from tests.fuzz.strict_values import (
    CONTROLS,
    Leaf,
    leaves,
    not_written_digits,
    resolve,
    with_a_control,
    with_value,
    wrong_for,
)
from tests.integration.test_intake_console import ce_headers
from tests.integration.test_intake_strict import enrolled_household, lamandau_today
from tests.integration.test_strict_inputs import HID, VALID
from tests.kafka_tools import read_topic

pytestmark = [
    pytest.mark.stack,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]
HTTP_EXAMPLES = 6  # wrong values per field of a body
QUERY_EXAMPLES = 15  # per whole-number query parameter
INTAKE_EXAMPLES = 3  # records per field of an intake type
JSON = {"content-type": "application/json"}


def bounded(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def template(path: str) -> str:
    return path.replace(HID, "{household_id}")


def json_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) of every operation taking a JSON body: its body's schema."""
    return {
        (method.upper(), path): operation["requestBody"]["content"]["application/json"]["schema"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    }


def assert_refused(reply: httpx.Response, field: str, sent: Any) -> None:
    assert reply.status_code == 422, (field, sent, reply.status_code, reply.text)
    assert reply.headers["content-type"] == PROBLEM_JSON, (field, reply.headers)
    assert field in [e["field"] for e in reply.json()["errors"]], (field, sent, reply.text)


def refuse_wrong_body_values(
    client: httpx.Client, method: str, path: str, body: dict[str, Any], leaf: Leaf
) -> int:
    """Wrong values for one field of a valid body: each a 422 naming it. Requests sent."""
    sent = 0

    @bounded(HTTP_EXAMPLES)
    @given(value=wrong_for(leaf))
    def refused(value: Any) -> None:
        nonlocal sent
        wrong = with_value(body, leaf.path, value)
        reply = client.request(method, path, content=json.dumps(wrong), headers=JSON)
        sent += 1
        assert_refused(reply, leaf.field, wrong)

    refused()
    return sent


def refuse_wrong_query_values(client: httpx.Client, method: str, url: str, name: str) -> int:
    """Text that is not a whole number in digits 0-9: each a 422 naming the parameter."""
    sent = 0

    @bounded(QUERY_EXAMPLES)
    @given(text=not_written_digits())
    def refused(text: str) -> None:
        nonlocal sent
        reply = client.request(method, url, params={name: text})
        sent += 1
        assert_refused(reply, f"query.{name}", text)

    refused()
    return sent


def check_service(base_url: str, key: str, service: str) -> dict[str, int]:
    """Every field of every JSON write operation, and every whole-number query parameter, of
    one service; blocking (run it in a thread). Returns the requests sent per operation."""
    sent: dict[str, int] = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as client:
        document = client.get("/openapi.json").json()
        definitions = document["components"]["schemas"]
        operations = json_operations(document)
        bodies = {
            name: (method, path, body)
            for name, (owner, method, path, body) in VALID.items()
            if owner == service
        }
        covered = {(method, template(path)) for method, path, _ in bodies.values()}
        assert covered == set(operations), "a JSON operation without a valid body to vary"
        for name, (method, path, body) in bodies.items():
            found = leaves(operations[(method, template(path))], definitions, body)
            assert found, name
            sent[name] = sum(
                refuse_wrong_body_values(client, method, path, body, leaf) for leaf in found
            )
        for path, item in document["paths"].items():
            for method, operation in item.items():
                for declared in operation.get("parameters", []):
                    parameter = resolve(declared, document["components"].get("parameters", {}))
                    if parameter["in"] == "query" and parameter["schema"].get("type") == "integer":
                        url = re.sub(r"\{[^}]+\}", HID, path)
                        sent[f"{method.upper()} {path}?{parameter['name']}"] = (
                            refuse_wrong_query_values(
                                client, method.upper(), url, parameter["name"]
                            )
                        )
    return sent


async def test_wrong_values_over_http_are_422_naming_the_field(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    registry = registry_app(
        isolated_settings,
        RegistrySettings(database_url=await databases.create("propreg", migrated="registry")),
    )
    interventions = interventions_app(
        isolated_settings,
        InterventionsSettings(
            database_url=await databases.create("propint", migrated="interventions")
        ),
    )
    # An agency's key with every role (administration too), so that no operation stops at a
    # 403 before its parameters are read.
    key, record = issue_key("strict values", set(Role), agency="dinsos")
    KeyFile(api_keys.path).add(record)
    async with served(registry) as registry_url, served(interventions) as interventions_url:
        registry_sent = await asyncio.to_thread(check_service, registry_url, key, "registry")
        interventions_sent = await asyncio.to_thread(
            check_service, interventions_url, key, "interventions"
        )
    # Every operation was exercised (Hypothesis ran, and did not stop at its first example).
    assert set(registry_sent) >= {"household", "change", "enrolment", "exit"}
    assert set(interventions_sent) >= {n for n, v in VALID.items() if v[0] == "interventions"}
    assert min([*registry_sent.values(), *interventions_sent.values()]) >= 3


def drawn(strategy: st.SearchStrategy[Any], examples: int) -> list[Any]:
    """What Hypothesis draws from the strategy in `examples` runs (reproducibly)."""
    values: list[Any] = []

    @bounded(examples)
    @given(value=strategy)
    def draw(value: Any) -> None:
        values.append(value)

    draw()
    return values


def intake_bodies(household: str) -> dict[str, list[dict[str, Any]]]:
    """Valid data of every intake type (a grant both of a capital and of equipment)."""
    today = lamandau_today()
    common = {"household_id": household, "agency": "distakan"}
    return {
        "gayari.intake.grant.v1": [
            {
                **common,
                "kind": "capital",
                "amount_idr": 1_500_000,
                "purpose": "Modal usaha",
                "fiscal_year": date.today().year,
                "budget_line": "5.1.05",
            },
            {
                **common,
                "kind": "equipment",
                "purpose": "Budidaya ikan nila",
                "items": [
                    {
                        "description": "Jaring",
                        "quantity": 2,
                        "unit": "buah",
                        "unit_value_idr": 325_000,
                    }
                ],
            },
        ],
        "gayari.intake.mentoring-visit.v1": [
            {**common, "visited_on": today, "business_status": "running", "notes": "Baik"}
        ],
        "gayari.intake.business-survey.v1": [
            {**common, "surveyed_on": today, "monthly_income_idr": 2_000_000, "workers": 2}
        ],
        # Valid, but it voids no record: varied only, not sent as it is.
        "gayari.intake.void.v1": [
            {
                **common,
                "intervention_type": "grant",
                "intervention_id": str(uuid.uuid4()),
                "reason": "other",
                "explanation": "Salah input",
            }
        ],
    }


async def test_wrong_values_on_the_intake_are_dead_lettered_and_the_partition_moves(
    databases: DatabaseFactory, isolated_settings: CommonSettings
) -> None:
    settings_ = isolated_settings
    url = await databases.create("propintake", migrated="interventions")
    app = interventions_app(settings_, InterventionsSettings(database_url=url))
    async with app.router.lifespan_context(app):
        household = str(await enrolled_household(settings_, url))
        bodies = intake_bodies(household)
        assert set(bodies) == set(INTAKE_TYPES), "an intake type without a valid record to vary"
        # (type, data, headers changed, the field the reason must name)
        bad: list[tuple[str, dict[str, Any], dict[str, str], str]] = []
        for event_type, valid_bodies in bodies.items():
            schema = INTAKE_TYPES[event_type].model_json_schema()
            for body in valid_bodies:
                for leaf in leaves(schema, schema.get("$defs", {}), body):
                    bad += [
                        (event_type, with_value(body, leaf.path, value), {}, leaf.field)
                        for value in drawn(wrong_for(leaf), INTAKE_EXAMPLES)
                    ]
        grant = bodies["gayari.intake.grant.v1"][0]
        bad += [
            ("gayari.intake.grant.v1", grant, {"ce_correlationid": text}, "ce_correlationid")
            for text in drawn(with_a_control(CONTROLS), INTAKE_EXAMPLES * 2)
        ]
        valid = [(t, b[0]) for t, b in bodies.items() if t != "gayari.intake.void.v1"]
        producer = AIOKafkaProducer(**settings_.kafka_connection().client_options(), acks="all")
        expected: dict[bytes, tuple[str, dict[str, Any], str]] = {}
        await producer.start()
        try:
            # One key, so one partition, in this order: the valid records come last.
            records = [*bad, *[(t, b, {}, "") for t, b in valid]]
            for event_type, data, overrides, field in records:
                event_id = str(uuid.uuid4())
                source = "/gayari/agencies/distakan"
                headers = {**ce_headers(event_id, event_type, source, household), **overrides}
                if field:
                    code = "invalid-cloudevent" if overrides else "invalid-data"
                    expected[event_id.encode()] = (code, data, field)
                await producer.send(
                    settings_.intake_topic("distakan"),
                    json.dumps(data).encode(),
                    key=household.encode(),
                    headers=[(k, v.encode("utf-8", "surrogatepass")) for k, v in headers.items()],
                )
            await producer.flush()
        finally:
            await producer.stop()

        every_dead = await read_topic(
            settings_.kafka_connection(),
            settings_.deadletter_topic,
            expect=len(bad) + 1,
            timeout_s=120,
        )
        every_headers = [{name: bytes(value) for name, value in r.headers} for r in every_dead]
        dead = [h for h in every_headers if h["dlq-consumer"] == b"interventions-intake"]
        # Sets: a record read again after a rebalance may be dead-lettered twice (at least once).
        assert {h["ce_id"] for h in dead} == set(expected)
        for letter in dead:
            code, data, field = expected[letter["ce_id"]]
            reason = letter["dlq-reason"].decode()
            assert reason.startswith(f"{code}: "), (data, reason)
            assert field in reason, (field, data, reason)

        canonical = await read_topic(
            settings_.kafka_connection(), settings_.topic("interventions"), expect=len(valid)
        )
        assert sorted(dict(r.headers)["ce_type"].decode() for r in canonical) == [
            "gayari.business.surveyed.v1",
            "gayari.grant.issued.v2",
            "gayari.mentoring.visited.v1",
        ]
        conn = await asyncpg.connect(url)
        try:
            rejected = await conn.fetchval("SELECT count(*) FROM intake_rejections")
        finally:
            await conn.close()
        assert rejected == len(bad)
