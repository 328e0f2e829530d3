"""The Idempotency-Key header's value, the fingerprint of a request and the answer stored with a
write (pure functions)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI, Response
from pydantic import BaseModel

from gayari_interventions.domain.grants import Grant, GrantItemRequest
from gayari_shared.http.idempotency import MAX_KEY_LENGTH, fingerprint, json_answer, parse_key
from gayari_shared.http.problems import ProblemError
from gayari_shared.idempotency import _store_statement


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"with space and \\"quotes\\" \\\\"', 'with space and "quotes" \\'),
        ("  padded  ", "padded"),
        ("a+b/c=d:e~f.g_h", "a+b/c=d:e~f.g_h"),
        ('"' + "k" * MAX_KEY_LENGTH + '"', "k" * MAX_KEY_LENGTH),
    ],
)
def test_keys_quoted_as_rfc_8941_strings_or_bare(header: str, key: str) -> None:
    assert parse_key(header) == key


@pytest.mark.parametrize(
    "header",
    [
        '""',
        "",
        '"unterminated',
        '"a"b"',
        '"bad \\n escape"',
        '"tab\tinside"',
        "two words",
        "semi;colon",
        '"k";param=1',
        '"' + "k" * (MAX_KEY_LENGTH + 1) + '"',
        "k" * (MAX_KEY_LENGTH + 1),
        '"caf\u00e9"',
    ],
)
def test_malformed_keys_are_a_400_naming_the_header(header: str) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_key(header)
    assert refused.value.problem.status == 400
    assert [e.field for e in refused.value.problem.errors] == ["Idempotency-Key"]


def test_the_fingerprint_is_of_method_path_and_canonical_body() -> None:
    body = {"household_id": "h", "amount_idr": 1, "items": [{"b": 1, "a": 2}]}
    compact = json.dumps(body, separators=(",", ":")).encode()
    spaced = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    same = fingerprint("POST", "/grants", compact)
    assert fingerprint("POST", "/grants", spaced) == same
    assert fingerprint("POST", "/mentoring-visits", compact) != same
    assert fingerprint("PATCH", "/grants", compact) != same
    assert fingerprint("POST", "/grants", json.dumps({**body, "amount_idr": 2}).encode()) != same
    # Order inside a list is the request's meaning: it counts.
    reordered = {**body, "items": [{"a": 2}, {"b": 1}]}
    assert fingerprint("POST", "/grants", json.dumps(reordered).encode()) != same
    # A body that is not JSON is compared byte for byte.
    assert fingerprint("POST", "/grants", b"\xff{") != fingerprint("POST", "/grants", b"\xff{ ")


def test_the_stored_response_is_sent_as_constants_read_verbatim() -> None:
    statement = _store_statement(
        "dinsos", "it's a \\ key", fingerprint=b"\x01\xff", status=201, headers="{}", body=b"{}"
    )
    assert statement.startswith("SELECT idempotency_store(E'dinsos', E'it''s a \\\\ key', ")
    assert "decode('01ff', 'hex')" in statement and statement.endswith("E'2s')")
    with pytest.raises(ValueError):
        _store_statement("dinsos", "k\x00", fingerprint=b"", status=201, headers="{}", body=b"")


class _Place(BaseModel):
    name: str
    share: float | None
    at: datetime


async def test_an_answer_stored_with_its_write_is_the_bytes_fastapi_would_send() -> None:
    """A write that carries its key stores `json_answer`'s rendering, and sends it: the same
    bytes, status and content type as the route's own rendering of the result."""
    grant = Grant(
        id=uuid.uuid4(),
        household_id=uuid.uuid4(),
        agency="distakan",
        kind="equipment",
        amount_idr=150_000,
        items=[
            GrantItemRequest(
                description="Bibit ikan nila", quantity=500, unit="ekor", unit_value_idr=300
            )
        ],
        purpose="Budidaya ikan — kolam terpal",
        fiscal_year=2026,
        budget_line=None,
        issued_at=datetime(2026, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=7))),
    )
    place = _Place(name="Nanga Bulik 🌿", share=0.1 + 0.2, at=datetime(2026, 1, 1, tzinfo=UTC))
    app = FastAPI()

    @app.post("/grants", status_code=201)
    async def post_grant() -> Grant:
        return grant

    @app.post("/places", status_code=200)
    async def post_place(response: Response) -> _Place:
        response.headers["ETag"] = '"3"'
        return place

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path, model, status in (("/grants", grant, 201), ("/places", place, 200)):
            sent = await client.post(path)
            headers = {"ETag": '"3"'} if path == "/places" else {}
            stored = json_answer(status, model, headers)
            assert (stored.status, stored.body) == (sent.status_code, sent.content)
            assert stored.headers["content-type"] == sent.headers["content-type"]
            assert stored.headers.get("etag") == sent.headers.get("etag")
