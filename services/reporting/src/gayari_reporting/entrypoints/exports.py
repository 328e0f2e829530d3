"""One route per export, `/exports/<view>.csv|.xlsx`, each declaring its view's parameters.

No `from __future__ import annotations` here: each route's query model is a variable, and
FastAPI reads a route's annotations at runtime, so they must be real types, not strings."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field, create_model
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from gayari_reporting.adapters.spreadsheets import CHUNK_BYTES, CsvDialect, CsvRows, XlsxBook
from gayari_reporting.domain.filters import ParameterError
from gayari_reporting.domain.tables import Column, Table, households_of
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
from gayari_reporting.service_layer.exports import (
    PAGED,
    PAGED_COLUMNS,
    TABLES,
    Exporter,
    PagedExporter,
)
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


AuditPage = Callable[[Table], Awaitable[None]]


async def _csv_body(
    pages: AsyncIterator[Table], columns: list[Column], dialect: CsvDialect, audit: AuditPage
) -> AsyncIterator[bytes]:
    rows = CsvRows(columns, dialect)
    async for page in pages:
        await audit(page)
        for row in page.rows:
            rows.add(row)
            if rows.pending >= CHUNK_BYTES:
                yield rows.take()
    yield rows.take()


async def _xlsx_body(
    pages: AsyncIterator[Table], title: str, columns: list[Column], audit: AuditPage
) -> AsyncIterator[bytes]:
    # openpyxl's work in a worker thread, a page at a time, so the loop keeps serving.
    book = XlsxBook(title, columns)
    async for page in pages:
        await audit(page)
        await run_in_threadpool(book.add, page.rows)
    async for chunk in iterate_in_threadpool(book.chunks()):
        yield chunk


async def _pages_of(table: Table) -> AsyncIterator[Table]:
    yield table


async def _first_page_read(pages: AsyncIterator[Table]) -> AsyncIterator[Table]:
    """`pages` with its first page already read: an unknown snapshot or a refused filter is
    raised here, while the answer can still be a problem, not once the response has started."""
    try:
        first = await anext(pages)
    except StopAsyncIteration:
        return _no_pages()

    async def chained() -> AsyncIterator[Table]:
        yield first
        async for page in pages:
            yield page

    return chained()


async def _no_pages() -> AsyncIterator[Table]:
    return
    yield


def _export_route(
    router: APIRouter,
    view: str,
    view_model: type[QueryParameters],
    exporter: Exporter | None,
    paged: PagedExporter | None = None,
) -> None:
    model = _with_dialect(view_model)

    async def export(
        request: Request,
        fmt: Format,
        parameters: Annotated[model, Query()],  # type: ignore[valid-type]
        trail: AuditTrailDep,
    ) -> Response:
        deps, filters = deps_of(request), filters_of(request, model.names())
        if paged is not None:
            # A long list comes a page at a time, each page sent as soon as it is read.
            pages = await _first_page_read(paged(deps, filters))
            title, columns = view, PAGED_COLUMNS[view]
        else:
            assert exporter is not None
            table = await exporter(deps, filters)
            pages, title, columns = _pages_of(table), table.title, table.columns

        async def audit(page: Table) -> None:
            # An export listing households (unserved, double-funding) is a read of them,
            # recorded before they leave.
            await trail.read(f"read:export:{view}", households_of(page))

        headers = {"Content-Disposition": f'attachment; filename="gayari-{view}.{fmt}"'}
        if fmt == "csv":
            given: object = parameters
            assert isinstance(given, DialectParameter)
            return StreamingResponse(
                _csv_body(pages, columns, given.dialect, audit),
                media_type="text/csv; charset=utf-8",
                headers=headers,
            )
        body = _xlsx_body(pages, title, columns, audit)
        return StreamingResponse(body, media_type=XLSX, headers=headers)

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
    for view, paged in PAGED.items():
        _export_route(router, view, PARAMETERS[view], None, paged)

    @router.get("/exports/{view}.{fmt}", include_in_schema=False)
    async def unknown_export(view: str, fmt: str) -> Response:
        # Only reached by a view that has no route of its own.
        raise invalid(
            [ParameterError("view", f"unknown view (known: {', '.join([*TABLES, *PAGED])})")],
            "path",
        )
