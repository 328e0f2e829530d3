"""Correlation ids: taken from the X-Correlation-ID request header or made up, bound to the
logging context, echoed in the response, and carried on every event the request causes."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-correlation-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current_correlation_id() -> str:
    """The id of the request (or consumed event) in hand; a new one outside any."""
    return _current.get() or str(uuid.uuid4())


def bind_correlation_id(value: str) -> None:
    _current.set(value)
    structlog.contextvars.bind_contextvars(correlation_id=value)


class CorrelationIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        correlation_id = given if _VALID.match(given) else str(uuid.uuid4())
        token = _current.set(correlation_id)
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((HEADER.encode(), correlation_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            _current.reset(token)
            structlog.contextvars.unbind_contextvars("correlation_id")
