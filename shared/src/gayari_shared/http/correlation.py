"""Correlation ids: taken from the X-Correlation-ID request header or made up, bound to the
logging context, echoed in the response, and carried on every event the request causes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from contextvars import ContextVar, Token

import structlog

HEADER = "x-correlation-id"
HEADER_NAME = HEADER.encode()
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current_correlation_id() -> str:
    """The id of the request (or consumed event) in hand; a new one outside any."""
    return _current.get() or str(uuid.uuid4())


def bind_correlation_id(value: str) -> Token[str | None]:
    """Bind the id for the logs and the events caused from here on; the token undoes it
    (`reset_correlation_id`)."""
    structlog.contextvars.bind_contextvars(correlation_id=value)
    return _current.set(value)


def correlation_id_of(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, Token[str | None]]:
    """The request's correlation id (its header if valid, else a new one), bound for the logs
    and the events the request causes; give the token to `reset_correlation_id` when the
    request ends."""
    given = b""
    for name, value in headers:
        if name == HEADER_NAME:
            given = value
            break
    text = given.decode("latin-1")
    correlation_id = text if _VALID.match(text) else str(uuid.uuid4())
    return correlation_id, bind_correlation_id(correlation_id)


def reset_correlation_id(token: Token[str | None]) -> None:
    _current.reset(token)
    structlog.contextvars.unbind_contextvars("correlation_id")
