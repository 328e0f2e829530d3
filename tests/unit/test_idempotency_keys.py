"""The Idempotency-Key header's value and the fingerprint of a request (pure functions)."""

from __future__ import annotations

import json

import pytest

from gayari_shared.http.idempotency import MAX_KEY_LENGTH, fingerprint, parse_key
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
    assert "decode('01ff', 'hex')" in statement and statement.endswith("; COMMIT")
    with pytest.raises(ValueError):
        _store_statement("dinsos", "k\x00", fingerprint=b"", status=201, headers="{}", body=b"")
