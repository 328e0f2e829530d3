"""What keeps a service's OpenAPI document true: the query parameters an operation accepts are
exactly those it declares, operation ids are readable, and the headers every operation shares
are documented.

A route of `DeclaredQueryRoute` refuses a query parameter it does not declare with a 422
problem naming it: a misspelt filter silently ignored returns an answer to another question.
The check is a set lookup before the route's own handler, and nothing at all without a query
string (most writes), so it costs no dependency in FastAPI's solver.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from gayari_shared.http.problems import FieldError, ProblemError

CORRELATION_HEADER: Final = "X-Correlation-ID"
_CORRELATION_PARAMETER: Final[dict[str, Any]] = {
    "name": CORRELATION_HEADER,
    "in": "header",
    "required": False,
    "description": "Ties the request to the log lines and the events it causes (CloudEvents "
    "`ce_correlationid`); echoed in the response. Any value is taken: one that is not 1-128 "
    "of `A-Za-z0-9._:-` is replaced by a new id, as is a missing one.",
    "schema": {"type": "string"},
}
_CORRELATION_RESPONSE_HEADER: Final[dict[str, Any]] = {
    "description": "The request's correlation id (the one sent, or the one made up)",
    "schema": {"type": "string"},
}


def declared_query(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route and its dependencies declare, a query model's fields too."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names.update(f.alias or name for name, f in model.model_fields.items())
            else:
                names.add(field.alias)
        pending.extend(current.dependencies)
    return frozenset(names)


def undeclared(names: list[str], declared: frozenset[str]) -> ProblemError:
    takes = ", ".join(sorted(declared)) or "none"
    message = f"unknown parameter (this operation takes: {takes})"
    return ProblemError(
        422,
        "The request is not valid",
        f"Invalid or missing: {', '.join(dict.fromkeys(names))}",
        kind="urn:gayari:problem:invalid-request",
        errors=[FieldError(field=f"query.{name}", message=message) for name in names],
    )


class DeclaredQueryRoute(APIRoute):
    """An APIRoute that answers a query parameter it does not declare with a 422 problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        declared = declared_query(self.dependant)

        async def handle_declared(request: Request) -> Response:
            if request.scope["query_string"]:
                unknown = [name for name in request.query_params if name not in declared]
                if unknown:
                    raise undeclared(unknown, declared)
            return await handle(request)

        return handle_declared


def operation_id(route: APIRoute) -> str:
    """The operation id of a route that does not name one: its function's name in camelCase
    (`get_summary` -> `getSummary`), stable while the function keeps its name."""
    head, *rest = route.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


OPERATION_ID: Final = re.compile(r"^[a-z][A-Za-z0-9]*$")


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, with the correlation header on every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            components = document.setdefault("components", {})
            components.setdefault("parameters", {})["CorrelationId"] = _CORRELATION_PARAMETER
            components.setdefault("headers", {})["CorrelationId"] = _CORRELATION_RESPONSE_HEADER
            for path_item in document.get("paths", {}).values():
                for operation in path_item.values():
                    _with_correlation(operation)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _with_correlation(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    parameters.append({"$ref": "#/components/parameters/CorrelationId"})
    for response in operation.get("responses", {}).values():
        headers = response.setdefault("headers", {})
        headers[CORRELATION_HEADER] = {"$ref": "#/components/headers/CorrelationId"}
