"""Strict inputs wherever a value enters over HTTP, against the real services (uvicorn, the real
PostgreSQL and Kafka): no silent coercion (a boolean is not a number, a string is not a number,
a number is not a string), no control characters in text (tab and newline only in free text),
a 422 problem naming the field, never a 500, and the keep-alive connection still usable after.
Malformed JSON is a 400 problem saying where. The CSV import and the intake have their own
tests (test_registry_import.py, test_intake_strict.py).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from gayari_interventions.bootstrap import create_app as interventions_app
from gayari_interventions.settings import InterventionsSettings
from gayari_registry.bootstrap import create_app as registry_app
from gayari_registry.settings import RegistrySettings
from gayari_reporting.bootstrap import create_app as reporting_app
from gayari_reporting.settings import ReportingSettings
from gayari_shared.auth.keys import KeyFile, Role, issue_key
from gayari_shared.events.interventions import JAKARTA
from gayari_shared.settings import CommonSettings
from tests.conftest import DatabaseFactory, KeySet
from tests.fuzz.fuzzing import served
from tests.integration.test_http_contract import household

pytestmark = pytest.mark.stack
PROBLEM_JSON = "application/problem+json"
TODAY = datetime.now(JAKARTA).date().isoformat()  # Lamandau's today
HID = str(uuid.uuid4())
WHO = {"session_id": HID, "household_id": HID, "member_id": HID}

# A valid body of every JSON write operation: (service, method, path, body).
VALID: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "grant": (
        "interventions",
        "POST",
        "/grants",
        {
            "household_id": HID,
            "kind": "capital",
            "amount_idr": 1_500_000,
            "purpose": "Modal usaha warung sembako",
            "fiscal_year": 2026,
            "budget_line": "5.1.05.05.01.0001",
        },
    ),
    "equipment": (
        "interventions",
        "POST",
        "/grants",
        {
            "household_id": HID,
            "kind": "equipment",
            "items": [
                {
                    "description": "Bibit ikan nila",
                    "quantity": 1000,
                    "unit": "ekor",
                    "unit_value_idr": 500,
                }
            ],
            "purpose": "Budidaya ikan nila",
        },
    ),
    "session": (
        "interventions",
        "POST",
        "/training-sessions",
        {
            "topic": "Pengelolaan homestay",
            "starts_on": TODAY,
            "ends_on": TODAY,
            "hours": 24,
            "place": "Balai Desa Bukit Raya",
        },
    ),
    "participant": ("interventions", "POST", "/training-participants", dict(WHO)),
    "attendance": ("interventions", "POST", "/training-attendance", {**WHO, "attended_on": TODAY}),
    "completion": (
        "interventions",
        "POST",
        "/training-completions",
        {**WHO, "completed_on": TODAY},
    ),
    "visit": (
        "interventions",
        "POST",
        "/mentoring-visits",
        {
            "household_id": HID,
            "visited_on": TODAY,
            "business_status": "running",
            "notes": "Usaha berjalan",
        },
    ),
    "survey": (
        "interventions",
        "POST",
        "/business-surveys",
        {"household_id": HID, "surveyed_on": TODAY, "monthly_income_idr": 2_000_000, "workers": 2},
    ),
    "budget": (
        "interventions",
        "POST",
        "/budget-allocations",
        {"fiscal_year": 2026, "amount_idr": 5_000_000_000, "budget_line": "5.1.05"},
    ),
    "void": (
        "interventions",
        "POST",
        "/voids",
        {
            "intervention_type": "grant",
            "intervention_id": HID,
            "reason": "other",
            "explanation": "Salah input",
        },
    ),
    "household": ("registry", "POST", "/households", household()),
    "change": (
        "registry",
        "PATCH",
        f"/households/{HID}",
        {
            "head_name": "Yohanes Riwut",
            "welfare_decile": 3,
            "address": {"rt": "003", "rw": "001", "street": "Jl. Sungai"},
        },
    ),
    "enrolment": ("registry", "POST", f"/households/{HID}/enrolment", {"cohort_year": 2026}),
    "exit": ("registry", "POST", f"/households/{HID}/exit", {"reason": "moved"}),
}

# (operation, path to the value in the body, the wrong value, the field the problem names)
WRONG: list[tuple[str, tuple[str | int, ...], Any]] = [
    # A boolean is not a number, nor is a string of digits, nor a number with a fraction.
    ("grant", ("amount_idr",), True),
    ("grant", ("amount_idr",), "1500000"),
    ("grant", ("amount_idr",), 1_500_000.0),
    ("grant", ("fiscal_year",), True),
    ("equipment", ("items", 0, "quantity"), True),
    ("equipment", ("items", 0, "unit_value_idr"), "500"),
    ("session", ("hours",), False),
    ("survey", ("monthly_income_idr",), "2000000"),
    ("survey", ("workers",), True),
    ("budget", ("amount_idr",), True),
    ("budget", ("fiscal_year",), "2026"),
    ("household", ("welfare_decile",), True),
    ("household", ("welfare_decile",), "2"),
    ("change", ("welfare_decile",), False),
    ("enrolment", ("cohort_year",), "2026"),
    ("enrolment", ("cohort_year",), True),
    # A number is not a string, nor is a boolean.
    ("grant", ("purpose",), 12345),
    ("grant", ("budget_line",), 5105),
    ("equipment", ("items", 0, "unit"), 1),
    ("session", ("topic",), True),
    ("session", ("place",), 7),
    ("visit", ("notes",), 42),
    ("void", ("explanation",), False),
    ("household", ("head_name",), 1),
    ("household", ("members", 0, "name"), True),
    ("household", ("kk",), 6209030000000001),
    ("change", ("address", "street"), 12),
    # A day is YYYY-MM-DD, not a number.
    ("household", ("members", 0, "birth_date"), 0),
    ("household", ("members", 0, "birth_date"), "19800312"),
]

# Control characters in text: NUL, a bell, escape, DEL, a C1 control, a lone surrogate; and
# tab and newline where the field is one line of text.
CONTROLS = ["a\x00b", "a\x07b", "a\x1bb", "a\x7fb", "a\x85b", "a\ud800b", "a\tb", "a\nb"]
TEXT_FIELDS: list[tuple[str, tuple[str | int, ...]]] = [
    ("grant", ("purpose",)),
    ("grant", ("budget_line",)),
    ("equipment", ("items", 0, "description")),
    ("equipment", ("items", 0, "unit")),
    ("session", ("topic",)),
    ("session", ("place",)),
    ("void", ("explanation",)),
    ("budget", ("budget_line",)),
    ("household", ("head_name",)),
    ("household", ("members", 0, "name")),
    ("change", ("head_name",)),
]


def field_name(path: tuple[str | int, ...]) -> str:
    return ".".join(map(str, path))


def with_value(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@dataclass
class Services:
    http: dict[str, httpx.AsyncClient]
    urls: dict[str, str]


@pytest.fixture
async def services(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> AsyncIterator[Services]:
    registry = registry_app(
        isolated_settings,
        RegistrySettings(database_url=await databases.create("strict", migrated="registry")),
    )
    interventions = interventions_app(
        isolated_settings,
        InterventionsSettings(
            database_url=await databases.create("strict", migrated="interventions")
        ),
    )
    async with (
        served(registry) as r,
        served(interventions) as i,
        httpx.AsyncClient(base_url=r, headers=api_keys.bearer(api_keys.agencies["dinsos"])) as rc,
        httpx.AsyncClient(base_url=i, headers=api_keys.bearer(api_keys.agencies["dispar"])) as ic,
    ):
        yield Services({"registry": rc, "interventions": ic}, {"registry": r, "interventions": i})


async def send(services: Services, operation: str, body: Any) -> httpx.Response:
    service, method, path, _ = VALID[operation]
    content = json.dumps(body, ensure_ascii=True)  # \ud800 travels escaped, as JSON allows
    return await services.http[service].request(
        method, path, content=content, headers={"content-type": "application/json"}
    )


def assert_names(reply: httpx.Response, field: str) -> None:
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == PROBLEM_JSON
    problem = reply.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]], problem
    assert field in problem["detail"]


def assert_unknown_household(reply: httpx.Response) -> None:
    """Past validation: the only objection is the made-up household (not known yet: 409)."""
    assert reply.status_code == 409, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == ["household_id"]


async def test_wrong_types_are_422_naming_the_field(services: Services) -> None:
    for operation, path, value in WRONG:
        body = with_value(VALID[operation][3], path, value)
        reply = await send(services, operation, body)
        assert_names(reply, field_name(path))


async def test_control_characters_in_text_are_422_naming_the_field(services: Services) -> None:
    for operation, path in TEXT_FIELDS:
        for text in CONTROLS:
            reply = await send(services, operation, with_value(VALID[operation][3], path, text))
            assert_names(reply, field_name(path))
            # pydantic itself refuses a lone surrogate: it is not a unicode string.
            assert "control character" in reply.text or "unicode" in reply.text, reply.text


async def test_free_text_takes_tab_and_newline_but_no_other_control(services: Services) -> None:
    visit = VALID["visit"][3]
    change = VALID["change"][3]
    for text in ["a\x00b", "a\x0bb", "a\x1bb", "a\x85b", "a\ud800b"]:
        assert_names(await send(services, "visit", {**visit, "notes": text}), "notes")
        street = with_value(change, ("address", "street"), text)
        assert_names(await send(services, "change", street), "address.street")
    # An address on two lines is no reason to refuse the change: the household is unknown.
    street = with_value(change, ("address", "street"), "Jl. Sungai\n\tDusun Bukit")
    reply = await send(services, "change", street)
    assert reply.status_code == 404, reply.text
    # Not refused for its text: the household is unknown, so the answer is about the household.
    reply = await send(services, "visit", {**visit, "notes": "Baris satu\n\tBaris dua\r\n"})
    assert_unknown_household(reply)


async def test_right_values_still_pass_validation(services: Services) -> None:
    """Every valid body gets past validation: the only objections left are about records that
    do not exist (the bodies name made-up ids), never about a value's type or text."""
    for operation, (_, _, _, body) in VALID.items():
        reply = await send(services, operation, body)
        assert reply.status_code in (201, 200, 404, 409, 422), (operation, reply.text)
        if reply.status_code in (409, 422):
            fields = {e["field"] for e in reply.json()["errors"]}
            assert fields <= {"household_id", "session_id"}, (operation, reply.text)


async def raw_exchange(url: str, requests: list[bytes]) -> list[tuple[int, dict[str, str], bytes]]:
    """Send the requests one after the other on ONE connection; their responses."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answers = []
    try:
        for request in requests:
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (line.split(":", 1) for line in lines if ":" in line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            answers.append((int(status_line.split()[1]), headers, body))
    finally:
        writer.close()
    return answers


def raw_post(path: str, body: bytes, key: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_nul_is_a_422_and_the_connection_stays_usable(
    services: Services, api_keys: KeySet
) -> None:
    key = api_keys.agencies["dinsos"]
    named = "Yohanes\u0000Riwut"
    nul_household = household(head_name=named)
    nul_household["members"][0]["name"] = named
    nul = json.dumps(nul_household).encode()
    answers = await raw_exchange(
        services.urls["registry"],
        [
            raw_post("/households", nul, key),
            raw_post("/households", json.dumps(household()).encode(), key),
        ],
    )
    (first, headers, body), (second, _, created) = answers
    assert first == 422, body
    assert headers.get("connection", "") != "close"
    assert "head_name" in json.loads(body)["detail"]
    assert second == 201, created

    # And the same with a client that keeps its connection: two requests, both answered.
    async with httpx.AsyncClient(
        base_url=services.urls["interventions"],
        headers=api_keys.bearer(api_keys.agencies["dispar"]),
        limits=httpx.Limits(max_connections=1),
    ) as client:
        grant = with_value(VALID["grant"][3], ("purpose",), "Modal\x00")
        first_reply = await client.post("/grants", json=grant)
        second_reply = await client.post("/grants", json=VALID["grant"][3])
    assert_names(first_reply, "purpose")
    assert_unknown_household(second_reply)


async def test_nul_in_a_path_query_or_header_is_no_500(
    services: Services, api_keys: KeySet
) -> None:
    registry = services.http["registry"]
    reply = await registry.get("/households/%00")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "path.household_id"
    for limit in ["%00", "true", "1.0", "1e2", "%D9%A3", "+5", "", "9" * 30]:
        reply = await registry.get(f"/households/review/near-duplicates?limit={limit}")
        assert reply.status_code == 422, (limit, reply.text)
        assert reply.headers["content-type"] == PROBLEM_JSON
        assert reply.json()["errors"][0]["field"] == "query.limit", reply.text
    assert (await registry.get("/households/review/near-duplicates?limit=5")).status_code == 200
    reply = await registry.post(
        "/households/import?first_row=abc", content=b"kk\n", headers={"content-type": "text/csv"}
    )
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "query.first_row"
    # A NUL in a header is refused by the HTTP parser itself, before the application: a 400.
    key = api_keys.agencies["dinsos"]
    request = (
        f"GET /households/review/near-duplicates HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {key}\r\nX-Correlation-ID: a\x00b\r\n\r\n"
    ).encode()
    [(status, _, _)] = await raw_exchange(services.urls["registry"], [request])
    assert status == 400


MALFORMED = [
    (b'{"kk": ', 1, 8),
    (b'{"kk": "1",\n "head_name": }', 2, 15),
    (b"{'kk': 1}", 1, 2),
    (b'{"kk": "a\x00b"}', 1, 10),  # a raw control character inside a JSON string
    (b'{"kk": 1} trailing', 1, 11),
    (b"NaN-ish", 1, 4),
]


@pytest.mark.parametrize(("operation"), ["household", "grant", "enrolment", "void", "change"])
async def test_malformed_json_is_a_400_problem_saying_where(
    services: Services, operation: str
) -> None:
    service, method, path, _ = VALID[operation]
    for content, line, column in MALFORMED:
        reply = await services.http[service].request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 400, (content, reply.text)
        assert reply.headers["content-type"] == PROBLEM_JSON
        problem = reply.json()
        assert problem["type"] == "urn:gayari:problem:invalid-json"
        assert "not valid JSON" in problem["title"]
        assert f"line {line}, column {column}" in problem["detail"], problem
        assert problem["errors"][0]["field"] == "body"
    for content in [b"[1, 2]", b'"a string"', b"42", b"true", b"null"]:
        reply = await services.http[service].request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 400, (content, reply.text)
        assert reply.headers["content-type"] == PROBLEM_JSON
        assert reply.json()["type"] == "urn:gayari:problem:invalid-json"
        assert "not a JSON object" in reply.json()["title"]


async def test_reporting_answers_bad_query_values_with_422(
    databases: DatabaseFactory, isolated_settings: CommonSettings, api_keys: KeySet
) -> None:
    settings = ReportingSettings(
        database_url=await databases.create("strictrep", migrated="reporting"),
        consumer_group=f"strict-{uuid.uuid4().hex[:8]}",
    )
    key, record = issue_key("strict reader", {r for r in Role if r.startswith("reporting")})
    KeyFile(api_keys.path).add(record)
    app = reporting_app(isolated_settings, settings)
    bad = [
        "/summary?fiscal_year=true",
        "/summary?fiscal_year=%00",
        "/summary?fiscal_year=2026.0",
        "/summary?agency=%00",
        "/summary?village=62.09.01.2001%00",
        "/timeseries?month=%00",
        "/timeseries?month=0000-09",  # a year before any calendar (was a 500)
        "/summary?month=9999-12",  # its month's end beyond any calendar (was a 500)
        "/summary?fiscal_year=%D9%A2%D9%A0%D9%A2%D9%A6",  # 2026 in Arabic-Indic digits
        "/unserved?as_of=0001-01-01",  # its cut-off before any calendar (was a 500)
        "/unserved?as_of=9999-12-31",
        "/unserved?days=1.5",
        "/unserved?as_of=%00",
        "/unserved?limit=true",
        "/unserved?after=%00",
        "/double-funding?fiscal_year=%00%00",
        "/areas/62.09%00",
        "/households/%00/case",
        "/exports/unserved.csv?days=%00",
        "/public/summary?area=%00",
    ]
    async with (
        served(app) as url,
        httpx.AsyncClient(base_url=url, headers=api_keys.bearer(key)) as client,
    ):
        for query in bad:
            reply = await client.get(query)
            assert reply.status_code == 422, (query, reply.status_code, reply.text)
            assert reply.headers["content-type"].startswith(PROBLEM_JSON), query
        # The connection survived all of them: one more, well-formed, is answered.
        assert (await client.get("/summary?fiscal_year=2026")).status_code == 200
