"""One route per export, `/exports/<view>.csv|.xlsx`, each declaring its view's parameters.

No `from __future__ import annotations` here: each route's query model is a variable, and
FastAPI reads a route's annotations at runtime, so they must be real types, not strings."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field, create_model

from gayari_reporting.adapters.spreadsheets import CsvDialect, csv_chunks, xlsx_chunks
from gayari_reporting.domain.filters import ParameterError
from gayari_reporting.domain.tables import households_of
from gayari_reporting.entrypoints.parameters import (
    AreaExportParameters,
    DoubleFundingExportParameters,
    NoParameters,
    OutcomeParameters,
    QueryParameters,
    UnservedExportParameters,
    ViewParameters,
)
from gayari_reporting.entrypoints.requests import deps_of, filters_of, invalid
from gayari_reporting.service_layer.exports import TABLES, Exporter
from gayari_shared.audit.http import AuditTrailDep

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Format = Literal["csv", "xlsx"]

# Each export takes the parameters its JSON endpoint takes (a list's page parameters aside: an
# export has every row).
PARAMETERS: dict[str, type[QueryParameters]] = {
    "summary": ViewParameters,
    "agencies": ViewParameters,
    "areas": AreaExportParameters,
    "timeseries": ViewParameters,
    "convergence": ViewParameters,
    "unserved": UnservedExportParameters,
    "double-funding": DoubleFundingExportParameters,
    "outcomes": OutcomeParameters,
    "data-quality": NoParameters,
}


DIALECT_DOC = (
    "CSV only: plain (',' between fields, '.' for decimals, for programs) or id, the "
    "Indonesian spreadsheet dialect (';' between fields, ',' for decimals, with a byte-order "
    "mark), which a spreadsheet set to Indonesian opens as columns"
)


class DialectParameter(QueryParameters):
    dialect: CsvDialect = Field(default="plain", description=DIALECT_DOC)


def _with_dialect(model: type[QueryParameters]) -> type[QueryParameters]:
    """The view's parameters and the CSV dialect (extra parameters forbidden, as the view's)."""
    return create_model(f"{model.__name__}Export", __base__=(model, DialectParameter))


def _export_route(
    router: APIRouter, view: str, view_model: type[QueryParameters], exporter: Exporter
) -> None:
    model = _with_dialect(view_model)

    async def export(
        request: Request,
        fmt: Format,
        parameters: Annotated[model, Query()],  # type: ignore[valid-type]
        trail: AuditTrailDep,
    ) -> Response:
        table = await exporter(deps_of(request), filters_of(request, model.names()))
        # An export listing households (unserved, double-funding) is a read of them.
        await trail.read(f"read:export:{view}", households_of(table))
        headers = {"Content-Disposition": f'attachment; filename="gayari-{view}.{fmt}"'}
        # Made a chunk at a time in a worker thread (StreamingResponse iterates a plain
        # iterator there), so a large export neither holds the file in memory nor the loop.
        if fmt == "csv":
            given: object = parameters
            assert isinstance(given, DialectParameter)
            return StreamingResponse(
                csv_chunks(table, given.dialect),
                media_type="text/csv; charset=utf-8",
                headers=headers,
            )
        return StreamingResponse(xlsx_chunks(table), media_type=XLSX, headers=headers)

    router.add_api_route(
        f"/exports/{view}.{{fmt}}",
        export,
        methods=["GET"],
        name=f"export_{view.replace('-', '_')}",
        operation_id="export" + "".join(word.capitalize() for word in view.split("-")),
        description=f"The {view} view as CSV or XLSX (Rupiah and counts in Indonesian number "
        "formats), with the parameters of its JSON endpoint (a list's page parameters aside: "
        "an export has every row).",
        responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
    )


def export_routes(router: APIRouter) -> None:
    for view, exporter in TABLES.items():
        _export_route(router, view, PARAMETERS[view], exporter)

    @router.get("/exports/{view}.{fmt}", include_in_schema=False)
    async def unknown_export(view: str, fmt: str) -> Response:
        # Only reached by a view that has no route of its own.
        raise invalid(
            [ParameterError("view", f"unknown view (known: {', '.join(TABLES)})")], "path"
        )
