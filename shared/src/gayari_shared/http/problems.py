"""RFC 9457 problem details for every error a service returns; never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
INVALID_JSON: Final = "urn:gayari:problem:invalid-json"
# The description of the 400 every operation with a JSON body declares.
NOT_JSON: Final = (
    "The body is not valid JSON (the detail says where: line, column, position), not UTF-8, "
    "or not a JSON object"
)
_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = []


class ProblemError(Exception):
    """Raised by a handler for a domain rule the request breaks."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str = "about:blank",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.headers = headers
        self.problem = Problem(
            type=kind, title=title, status=status, detail=detail, errors=errors or []
        )


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json"),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    # FastAPI prefixes body fields with "body"; the client knows them by their own names.
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


# FastAPI's errors for a body that is JSON but not the object every operation takes.
_NOT_AN_OBJECT: Final = frozenset({"model_attributes_type", "dict_type", "model_type"})


def malformed_body(exc: RequestValidationError) -> Problem | None:
    """The 400 problem for a body that is not valid JSON (saying where) or not a JSON object;
    None for any other validation error (a 422 naming its fields)."""
    for error in exc.errors():
        if error["type"] == "json_invalid":
            return _invalid_json(exc.body, error)
        if tuple(error["loc"]) == ("body",) and error["type"] in _NOT_AN_OBJECT:
            return Problem(
                type=INVALID_JSON,
                title="The body is not a JSON object",
                status=400,
                detail=f"the body must be a JSON object {{...}}, not {_json_kind(error['input'])}",
                errors=[FieldError(field="body", message="must be a JSON object")],
            )
    return None


def _invalid_json(document: Any, error: Mapping[str, Any]) -> Problem:
    # FastAPI puts the character offset of the syntax error where a field's name would be.
    position = next((p for p in error["loc"] if isinstance(p, int)), 0)
    reason = str((error.get("ctx") or {}).get("error", "not JSON"))
    where = f"position {position}"
    if isinstance(document, str):
        line = document.count("\n", 0, position) + 1
        column = position - document.rfind("\n", 0, position)
        where = f"line {line}, column {column} (position {position})"
    message = f"{reason} at {where}"
    return Problem(
        type=INVALID_JSON,
        title="The body is not valid JSON",
        status=400,
        detail=f"The body is not valid JSON: {message}",
        errors=[FieldError(field="body", message=message)],
    )


def _json_kind(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
    return "something else"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        if (malformed := malformed_body(exc)) is not None:
            return problem_response(malformed)
        errors = [
            FieldError(field=_field_name(tuple(e["loc"])), message=str(e["msg"]))
            for e in exc.errors()
        ]
        fields = ", ".join(dict.fromkeys(e.field for e in errors))
        return problem_response(
            Problem(
                type="urn:gayari:problem:invalid-request",
                title="The request is not valid",
                status=422,
                detail=f"Invalid or missing: {fields}",
                errors=errors,
            )
        )

    @app.exception_handler(ProblemError)
    async def _domain(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.problem, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            Problem(title=str(exc.detail), status=exc.status_code),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, _UNAVAILABLE):
            # The database restarting is not the request's fault: tell the client to retry.
            log.warning("dependency unavailable", error=f"{type(exc).__name__}: {exc}")
            return problem_response(
                Problem(
                    title="Service unavailable",
                    status=503,
                    detail="A dependency is unavailable; retry shortly.",
                ),
                headers={"Retry-After": "2"},
            )
        log.exception("unhandled error", error_type=type(exc).__name__)
        return problem_response(
            Problem(title="Internal error", status=500, detail="The error has been logged.")
        )
