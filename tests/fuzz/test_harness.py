"""The fuzz harness itself: it must see a 5xx, a leaked stack trace and a request without a key
that is not refused (an app that does all three, no stack needed)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from tests.fuzz.fuzzing import STACK_TRACE, fuzz, served

LEAK = 'Traceback (most recent call last):\n  File "app.py", line 3, in boom\nKeyError: 1\n'


def broken_app() -> FastAPI:
    app = FastAPI()

    @app.get("/boom/{n}")
    async def boom(n: int) -> PlainTextResponse:
        if n % 2:
            return PlainTextResponse(LEAK, status_code=500)
        return PlainTextResponse(LEAK, status_code=200)

    return app


async def test_the_harness_reports_5xx_stack_traces_and_open_endpoints() -> None:
    async with served(broken_app()) as base_url:
        report = await asyncio.to_thread(fuzz, "broken", base_url, "no-key", max_examples=10)
    found = {(label, kind, title) for label, kind, title in report.failures}
    boom = "GET /boom/{n}"
    assert (boom, "ServerError", "Server error") in found, list(found)
    assert (boom, "CustomFailure", "Custom check failed: `no_stack_trace`") in found, list(found)
    refused = (boom, "CustomFailure", "Custom check failed: `unauthenticated_is_a_401_problem`")
    assert refused in found, list(found)
    assert "expected a 401 application/problem+json" in report.failures[refused]
    assert report.operations == 1 and report.failing_cases > 0


def test_what_counts_as_a_stack_trace() -> None:
    leaks = [
        LEAK,
        "asyncpg.exceptions.DataError: invalid input",
        "ValueError: bad",
        "pydantic_core._pydantic_core.ValidationError: 1 validation error",
        "/usr/lib/python3/site-packages/fastapi/routing.py",
    ]
    clean = [
        '{"type":"urn:gayari:problem:invalid-request","detail":"Invalid or missing: kk"}',
        '{"errors":[{"field":"kk","message":"Value error, kk must be 16 digits"}]}',
        '{"title":"The household breaks a registry rule"}',
    ]
    assert all(STACK_TRACE.search(text) for text in leaks)
    assert not any(STACK_TRACE.search(text) for text in clean)
