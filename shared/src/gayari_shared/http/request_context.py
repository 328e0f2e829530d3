"""What every HTTP request gets, in one ASGI layer: its server span (when tracing is on), its
correlation id (bound for the logs and the events it causes, echoed in the response), its
latency under its route template, and one log line naming the API key's id once
authentication knew it (`KEY_ID_STATE`; never the key).

One layer, not three: each pure ASGI middleware costs a coroutine call and a wrapper of `send`
on every request, paid again for each layer on the path every write takes."""

from __future__ import annotations

import time
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gayari_shared.audit.trail import NOBODY, act_as, reset_actor
from gayari_shared.http.correlation import HEADER_NAME, correlation_id_of, reset_correlation_id
from gayari_shared.metrics import observe_request
from gayari_shared.tracing import server_span, tracing_enabled

# Where authentication leaves the caller's key id in the request's state (scope["state"]).
KEY_ID_STATE: Final = "gayari_key_id"

log = structlog.get_logger("gayari.http")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Without a provider the span would go nowhere, and making it (headers, context,
        # attributes) is work on every request for nothing.
        if tracing_enabled():
            with server_span(scope):
                await self._handle(scope, receive, send)
        else:
            await self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        correlation_id, token = correlation_id_of(scope["headers"])
        # Nobody acts until authentication says who; whoever it was is forgotten afterwards.
        actor = act_as(NOBODY)
        state = scope.setdefault("state", {})
        echoed = (HEADER_NAME, correlation_id.encode())
        status = 500

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"].append(echoed)
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            elapsed = time.perf_counter() - started
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                key_id=state.get(KEY_ID_STATE),
            )
            reset_actor(actor)
            reset_correlation_id(token)
            structlog.contextvars.unbind_contextvars("key_id")
            observe_request(scope, status, elapsed)
