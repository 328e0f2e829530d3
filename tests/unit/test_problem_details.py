"""Unexpected errors are problem details without internals; an unavailable dependency is a 503
the client may retry, not a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gayari_shared.http.problems import install_problem_handlers


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


async def call(app: FastAPI) -> httpx.Response:
    # Starlette re-raises after answering; the answer is what a client sees.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/boom")


async def test_database_away_is_a_503_with_retry_after() -> None:
    reply = await call(app_raising(ConnectionRefusedError(111, "Connect call failed")))
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "2"
    assert reply.headers["content-type"] == "application/problem+json"
    assert "Connect call failed" not in reply.text


async def test_a_bug_is_a_500_without_internals() -> None:
    reply = await call(app_raising(KeyError("secret_column")))
    assert reply.status_code == 500
    assert reply.json()["title"] == "Internal error"
    assert "secret_column" not in reply.text and "Traceback" not in reply.text
