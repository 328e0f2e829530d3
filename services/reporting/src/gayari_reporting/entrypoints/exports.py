"""One route per export, `/exports/<view>.csv|.xlsx`, each declaring its view's parameters.

No `from __future__ import annotations` here: each route's query model is a variable, and
FastAPI reads a route's annotations at runtime, so they must be real types, not strings."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gayari_reporting.adapters.exports import to_csv, to_xlsx
from gayari_reporting.domain.filters import ParameterError
from gayari_reporting.domain.tables import households_of
from gayari_reporting.entrypoints import views
from gayari_reporting.entrypoints.parameters import QueryParameters
from gayari_reporting.entrypoints.views import EXPORTS, Context, Exporter
from gayari_shared.audit.http import AuditTrailDep

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Format = Literal["csv", "xlsx"]


def _export_route(
    router: APIRouter, view: str, model: type[QueryParameters], exporter: Exporter
) -> None:
    async def export(
        request: Request,
        fmt: Format,
        parameters: Annotated[model, Query()],  # type: ignore[valid-type]
        trail: AuditTrailDep,
    ) -> Response:
        ctx = Context.of(request)
        table = await exporter(ctx, ctx.filters(request, model.names()))
        # An export listing households (unserved, double-funding) is a read of them.
        await trail.read(f"read:export:{view}", households_of(table))
        headers = {"Content-Disposition": f'attachment; filename="gayari-{view}.{fmt}"'}
        if fmt == "csv":
            return Response(to_csv(table), media_type="text/csv; charset=utf-8", headers=headers)
        return Response(to_xlsx(table), media_type=XLSX, headers=headers)

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
    for view, (model, exporter) in EXPORTS.items():
        _export_route(router, view, model, exporter)

    @router.get("/exports/{view}.{fmt}", include_in_schema=False)
    async def unknown_export(view: str, fmt: str) -> Response:
        # Only reached by a view that has no route of its own.
        raise views.invalid(
            [ParameterError("view", f"unknown view (known: {', '.join(EXPORTS)})")], "path"
        )
