"""What every reporting route takes from its request: the use cases' dependencies (wired once,
in bootstrap.py), the filters it was given, and the 422 problem of a request naming nothing
valid."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import FastAPI, Request
from fastapi.responses import Response

from gayari_reporting.adapters.generations import UnknownGenerationError
from gayari_reporting.domain.filters import (
    SNAPSHOT,
    Filters,
    InvalidQueryError,
    ParameterError,
    parse_filters,
)
from gayari_reporting.service_layer.reports import ReportingDeps
from gayari_shared.http.problems import FieldError, ProblemError, problem_response


def deps_of(request: Request) -> ReportingDeps:
    deps: ReportingDeps = request.app.state.reporting
    return deps


def filters_of(request: Request, allowed: Collection[str]) -> Filters:
    """The request's query parameters as filters; only `allowed` ones may be given."""
    deps = deps_of(request)
    return parse_filters(
        list(request.query_params.multi_items()),
        allowed,
        agencies={a.code for a in deps.agencies},
        areas=deps.areas,
    )


def invalid(errors: list[ParameterError], place: str = "query") -> ProblemError:
    names = ", ".join(dict.fromkeys(e.parameter for e in errors))
    return ProblemError(
        422,
        "The request is not valid",
        f"Invalid or missing: {names}",
        kind="urn:gayari:problem:invalid-request",
        errors=[FieldError(field=f"{place}.{e.parameter}", message=e.message) for e in errors],
    )


async def _invalid_query(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidQueryError)
    return problem_response(invalid(exc.errors, exc.place).problem)


async def _unknown_snapshot(_: Request, exc: Exception) -> Response:
    # Only a `snapshot` parameter names a generation in a request; anything else is a bug.
    return problem_response(invalid([ParameterError(SNAPSHOT, str(exc))]).problem)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InvalidQueryError, _invalid_query)
    app.add_exception_handler(UnknownGenerationError, _unknown_snapshot)
